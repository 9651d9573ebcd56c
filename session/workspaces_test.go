package session

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// TestWorkspaceByPath: a global route's path picks its workspace
// sandbox: a host folder under the roots its own (shared by the paths in
// it), anything else the default one; a symbolic link out of the roots
// is refused.
func TestWorkspaceByPath(t *testing.T) {
	be := sandboxtest.New(t)
	root, outside := t.TempDir(), t.TempDir()
	root, _ = filepath.EvalSymlinks(root)
	os.Symlink(outside, filepath.Join(root, "out"))
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be, HostRoots: []string{root}})

	def, err := m.Workspace("/etc", true)
	if err != nil || def.Root() != DefaultWorkingDir || !strings.HasSuffix(def.Owner(), ":default") {
		t.Fatalf("Workspace(/etc) = %+v, %v; want the default workspace", def, err)
	}
	if none, _ := m.Workspace("", true); none != def {
		t.Errorf("no path: not the default workspace")
	}
	proj := filepath.Join(root, "proj")
	ws, err := m.Workspace(proj, true)
	if err != nil || ws.Root() != proj || ws == def || !strings.HasPrefix(ws.Owner(), WorkspaceOwnerPrefix) {
		t.Fatalf("Workspace(%s) = %+v, %v", proj, ws, err)
	}
	if st, err := os.Stat(proj); err != nil || !st.IsDir() {
		t.Fatalf("the host folder was not made: %v", err)
	}
	for _, p := range []string{proj + "/new.txt", proj + "/sub/x", proj} {
		if got, err := m.Workspace(p, false); got != ws || err != nil {
			t.Errorf("Workspace(%s) = %v, %v; want the folder's", p, got, err)
		}
	}
	if _, err := m.Workspace(root+"/out/x", true); !isKind(err, KindRejected) {
		t.Errorf("a symbolic link out of the roots: err = %v, want KindRejected", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Errorf("a folder was made outside the roots")
	}

	ctx := testCtx(t)
	res, err := ws.Bash(ctx, BashRequest{Command: "echo hi > hello.txt; pwd"})
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != proj {
		t.Fatalf("Bash: %+v, %v", res, err)
	}
	if b, err := os.ReadFile(filepath.Join(proj, "hello.txt")); err != nil || string(b) != "hi\n" {
		t.Errorf("hello.txt on the host: %q, %v", b, err)
	}
	sb := be.Engine().Lookup(ws.Owner())
	if sb == nil || sb.Status() != sandbox.StatusRunning {
		t.Fatalf("no running sandbox for %s", ws.Owner())
	}
	if n := m.WorkspaceSandboxes(); n != 1 {
		t.Errorf("WorkspaceSandboxes = %d, want 1", n)
	}
}

func isKind(err error, k Kind) bool {
	var se *Error
	return errors.As(err, &se) && se.Kind == k
}

// TestWorkspaceBashEvents: the workspaces' bash events take the reference
// server's filters, ids and paging; a started command ends in events.
func TestWorkspaceBashEvents(t *testing.T) {
	be := sandboxtest.New(t)
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be, HostRoots: []string{t.TempDir()}})
	ws, err := m.Workspace("", true)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	first, err := ws.Bash(ctx, BashRequest{Command: "echo one", Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := ws.StartBash(BashRequest{Command: "echo two", Cwd: "/"})
	if err != nil || cmd.Kind != "BashCommand" || cmd.ID == "" {
		t.Fatalf("StartBash: %+v, %v", cmd, err)
	}
	evs := m.WorkspaceBash()
	var last bashOutputOf
	stdout := ""
	waitUntil(t, "the started command's end", func() bool {
		items, _, err := evs.Search(BashQuery{Kind: "BashOutput", CommandID: cmd.ID, Limit: 100})
		if err != nil || len(items) == 0 {
			return false
		}
		stdout = ""
		for _, it := range items {
			json.Unmarshal(it, &last)
			stdout += last.Stdout
		}
		return last.ExitCode != nil
	})
	if *last.ExitCode != 0 || !strings.Contains(stdout, "two") {
		t.Errorf("output of the started command: %q, exit %d", stdout, *last.ExitCode)
	}

	all, next, err := evs.Search(BashQuery{Limit: 100})
	if err != nil || next != "" || len(all) < 4 {
		t.Fatalf("all events: %d, next %q, %v", len(all), next, err)
	}
	cmds, _, _ := evs.Search(BashQuery{Kind: "BashCommand", Limit: 100})
	if len(cmds) != 2 {
		t.Errorf("kind__eq=BashCommand: %d events, want 2", len(cmds))
	}
	desc, _, _ := evs.Search(BashQuery{Kind: "BashCommand", Desc: true, Limit: 100})
	if len(desc) != 2 || string(desc[0]) != string(cmds[1]) {
		t.Errorf("TIMESTAMP_DESC does not put the newest first")
	}
	mine, _, _ := evs.Search(BashQuery{CommandID: first.CommandID, Limit: 100})
	zero := 0
	after, _, _ := evs.Search(BashQuery{CommandID: first.CommandID, OrderGT: &zero, Limit: 100})
	if len(mine) == 0 || len(after) != len(mine)-1 {
		t.Errorf("order__gt=0: %d events of %d", len(after), len(mine))
	}
	future := time.Now().Add(time.Hour)
	if got, _, _ := evs.Search(BashQuery{TimestampGTE: &future, Limit: 100}); len(got) != 0 {
		t.Errorf("timestamp__gte in the future: %d events", len(got))
	}
	if got, _, _ := evs.Search(BashQuery{TimestampLT: &future, Limit: 100}); len(got) != len(all) {
		t.Errorf("timestamp__lt in the future: %d events of %d", len(got), len(all))
	}

	// Paging walks every event once, both ways.
	for _, desc := range []bool{false, true} {
		var seen []string
		q := BashQuery{Limit: 3, Desc: desc}
		for {
			items, next, err := evs.Search(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				seen = append(seen, string(it))
			}
			if next == "" {
				break
			}
			q.PageID = next
		}
		if len(seen) != len(all) {
			t.Errorf("paging (desc %v) saw %d events of %d", desc, len(seen), len(all))
		}
	}

	var f bashFields
	json.Unmarshal(all[1], &f)
	if got, err := evs.Get(f.ID); err != nil || string(got) != string(all[1]) {
		t.Errorf("Get(%s): %s, %v", f.ID, got, err)
	}
	if _, err := evs.Get("nope"); !isKind(err, KindNotFound) {
		t.Errorf("Get of an unknown id: %v", err)
	}
	batch := evs.Batch([]string{f.ID, "nope"})
	if len(batch) != 2 || batch[0] == nil || batch[1] != nil {
		t.Errorf("Batch: %q", batch)
	}
	if n := evs.Clear(); n != len(all) {
		t.Errorf("Clear = %d, want %d", n, len(all))
	}
	if got, _, _ := evs.Search(BashQuery{Limit: 100}); len(got) != 0 {
		t.Errorf("after Clear: %d events", len(got))
	}
	if _, _, err := evs.Search(BashQuery{Limit: 0}); !isKind(err, KindInvalid) {
		t.Errorf("limit 0: %v", err)
	}
}

type bashOutputOf struct {
	ExitCode *int   `json:"exit_code"`
	Stdout   string `json:"stdout"`
}

// TestWorkspaceSandboxLifecycle: a workspace sandbox stops when idle and
// starts again on use; the manager's Close removes it; one a crashed
// server left is reaped by the next server's Restore.
func TestWorkspaceSandboxLifecycle(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m, err := New(Options{Store: store, Sandboxes: be, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := m.Workspace("", true)
	if _, err := ws.Bash(testCtx(t), BashRequest{Command: "true", Cwd: "/"}); err != nil {
		t.Fatal(err)
	}
	sb := be.Engine().Lookup(ws.Owner())
	waitUntil(t, "the idle stop", func() bool { return sb.Status() == sandbox.StatusStopped })
	if _, err := ws.Bash(testCtx(t), BashRequest{Command: "true", Cwd: "/"}); err != nil {
		t.Fatal(err)
	}
	if sb.Status() != sandbox.StatusRunning || be.Engine().Starts() != 1 {
		t.Errorf("after the stop: %s, %d starts; want the same sandbox running", sb.Status(), be.Engine().Starts())
	}
	if err := m.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := be.Engine().Lookup(ws.Owner()); got != nil {
		t.Errorf("the workspace sandbox outlived Close: %s", got.Status())
	}

	left := be.Engine().Leave(WorkspaceOwnerPrefix + "crashed:default")
	m2 := newManagerOn(t, store, Options{Sandboxes: be.Reopen()})
	if err := m2.Restore(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if left.Status() != sandbox.StatusRemoved {
		t.Errorf("a workspace sandbox left by a crash is %s after Restore, want removed", left.Status())
	}
}
