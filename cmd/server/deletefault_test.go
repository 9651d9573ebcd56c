package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/storage"
)

// TestFaultDeleteKilled kills gohands with SIGKILL right after a delete
// was answered, before its sandbox is surely removed (the removal runs in
// the background). The delete is stored, and so is the removal: whenever
// the container is still there, a pending removal names it. The next
// gohands on the same state removes the container and clears the record.
func TestFaultDeleteKilled(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	bin := buildServer(t, dir)
	state := filepath.Join(dir, "state", "state.db")
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": state,
		"GOHANDS_AGENT_BINARY": agent, "SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
	}
	g := startChild(t, []string{bin}, env)
	serverID := g.serverID
	t.Cleanup(func() { removeOwnedBy(engine, serverID) })
	id := g.create(`{"initial_message":{"role":"user","content":[{"type":"text","text":"hi"}],"run":false}}`)
	if st, _, body := g.bash(id, "true"); st != http.StatusOK {
		t.Fatalf("bash: %d %s", st, body)
	}
	owned := filters.NewArgs(filters.Arg("label", "gohands.server="+serverID), filters.Arg("label", "gohands.conversation="+id))
	list, err := engine.ContainerList(context.Background(), container.ListOptions{All: true, Filters: owned})
	if err != nil || len(list) != 1 {
		t.Fatalf("the conversation's containers: %v %v, want one", list, err)
	}
	ctr := list[0].ID

	if st, body := g.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
		t.Fatalf("delete: %d %s", st, body)
	}
	g.kill()

	store, err := storage.Open(state, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Conversation(id); err == nil {
		t.Error("the conversation is stored after its delete was answered")
	}
	pending, err := store.Removals()
	if err != nil {
		t.Fatal(err)
	}
	_, inspectErr := engine.ContainerInspect(context.Background(), ctr)
	named := slices.ContainsFunc(pending, func(r storage.Removal) bool { return r.ContainerID == ctr })
	t.Logf("at the kill: container there %v, pending removals %+v", inspectErr == nil, pending)
	if inspectErr == nil && !named {
		t.Errorf("the container %s outlived the kill and no pending removal names it: %+v", ctr, pending)
	}
	store.Close()

	g = startChild(t, []string{bin}, env)
	waitRemoved(t, engine, ctr, "the sandbox of the conversation deleted before the kill")
	if st, body := g.call("GET", "/api/conversations/"+id, "", nil); st != http.StatusNotFound {
		t.Errorf("the deleted conversation after the restart: %d %s, want 404", st, body)
	}
	g.stop()
	store, err = storage.Open(state, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if rs, err := store.Removals(); err != nil || len(rs) != 0 {
		t.Errorf("pending removals after the restart: %+v %v, want none", rs, err)
	}
}
