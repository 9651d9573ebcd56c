package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	sbdocker "github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/session"
)

// readopt re-adopts the sandboxes recorded in the env's store, as
// cmd/server does on start, and returns those its sandbox manager holds.
func (e *env) readopt(ctx context.Context) []*sbdocker.Sandbox {
	e.t.Helper()
	if err := e.convs.Restore(ctx); err != nil {
		e.t.Fatalf("restore: %v", err)
	}
	return e.sbx.Sandboxes()
}

func TestRestart(t *testing.T) {
	t.Parallel()
	needDocker(t)
	// A server id of its own: the second manager's Reconcile removes the
	// containers of its server id that no conversation owns.
	serverID := ownServerID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first, err := docker.newManager(serverID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close(context.Background()) })
	clk := newClock()
	path := filepath.Join(t.TempDir(), "state.db")
	e1 := newEnv(t, options{sandboxes: true, manager: first, statePath: path, clock: clk, keep: true})
	c := e1.create(map[string]any{"title": "before", "initial_message": message("remember this", false)})
	if res := e1.bash(c.ID, map[string]any{"command": "echo $((6*7)) > answer && cat answer"}); strings.TrimSpace(res.Stdout) != "42" {
		t.Fatalf("bash before the restart: %+v", res)
	}
	e1.call(http.MethodPatch, "/api/conversations/"+c.ID, map[string]any{"title": "kept"}, http.StatusOK, nil)
	var before session.Info
	e1.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, &before)
	eventsBefore := e1.events(c.ID, nil)

	// Stop the server: the conversation manager, the sandbox manager and
	// the store close; the sandbox keeps running.
	e1.close()
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	list := containers(t, serverID)
	if len(list) != 1 || list[0].ID != before.Sandbox.ID || list[0].State != "running" {
		t.Fatalf("containers after the stop: %+v, want the sandbox %s running", list, before.Sandbox.ID)
	}

	// Start again on the same state file.
	second, err := docker.newManager(serverID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close(context.Background()) })
	e2 := newEnv(t, options{sandboxes: true, manager: second, statePath: path, clock: clk})
	adopted := e2.readopt(ctx)
	if len(adopted) != 1 || adopted[0].Owner() != c.ID || adopted[0].ID() != before.Sandbox.ID {
		t.Fatalf("adopted %v, want the sandbox %s of %s", adopted, before.Sandbox.ID, c.ID)
	}

	var after session.Info
	e2.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, &after)
	if after.Title != "kept" || after.Sandbox.ID != before.Sandbox.ID || after.Sandbox.Status != "running" {
		t.Errorf("after the restart: title %q, sandbox %+v; want kept and %s running", after.Title, after.Sandbox, before.Sandbox.ID)
	}
	if diff := cmp.Diff(after, before, ignoreSandbox); diff != "" {
		t.Errorf("conversation after the restart (-got +want):\n%s", diff)
	}
	eventsAfter := e2.events(c.ID, nil)
	if len(eventsAfter) < len(eventsBefore) {
		t.Fatalf("%d events after the restart, %d before", len(eventsAfter), len(eventsBefore))
	}
	if diff := cmp.Diff(eventsAfter[:len(eventsBefore)], eventsBefore); diff != "" {
		t.Errorf("events after the restart (-got +want):\n%s", diff)
	}
	msgs := e2.events(c.ID, map[string][]string{"kind": {"MessageEvent"}})
	if len(msgs) != 1 || msgs[0].text() != "remember this" {
		t.Errorf("messages after the restart: %+v", msgs)
	}

	// The same sandbox answers, with the workspace as it was.
	if res := e2.bash(c.ID, map[string]any{"command": "cat answer"}); strings.TrimSpace(res.Stdout) != "42" {
		t.Errorf("bash after the restart: %+v", res)
	}
	// New events follow the old ones.
	e2.call(http.MethodPost, "/api/conversations/"+c.ID+"/events", message("after the restart", false), http.StatusOK, nil)
	all := e2.events(c.ID, nil)
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d after the restart", i, ev.Seq)
		}
	}

	// Deleting removes the adopted container too, in the background.
	e2.call(http.MethodDelete, "/api/conversations/"+c.ID, nil, http.StatusOK, nil)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		list := containers(t, serverID)
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("containers a minute after deleting the conversation: %+v", list)
			break
		}
	}
}

// ignoreSandbox leaves out what a restart may change of a conversation's
// info: nothing but how its sandbox is reported.
var ignoreSandbox = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Sandbox.Error" }, cmp.Ignore())
