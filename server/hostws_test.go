package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gohands/gohands/session"
)

// hostRoot makes a workspace root in the temp folder, its symbolic links
// resolved (as the server sees it).
func hostRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox user (the server's) must reach it.
	os.Chmod(root, 0o755)
	return root
}

// ownedByMe checks that the host file p exists and belongs to the user
// running the test (the server's).
func ownedByMe(t *testing.T, p string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatalf("%s on the host: %v", p, err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Errorf("%s belongs to uid %d, want the server's %d", p, uid, os.Getuid())
	}
}

// TestHostFolderConversation: a conversation whose working_dir is a new
// folder under a workspace root works in that folder of the host: made at
// create, mounted at the same path, the terminal starting there, and
// what the agent writes there is the server user's. A working_dir under
// a root that cannot serve is refused at create, with nothing stored.
func TestHostFolderConversation(t *testing.T) {
	t.Parallel()
	root := hostRoot(t)
	outside := t.TempDir()
	e := newEnv(t, options{sandboxes: true, hostRoots: []string{root}})

	dir := filepath.Join(root, "new", "todo-list")
	c := e.create(map[string]any{"workspace": map[string]any{"working_dir": dir}})
	if c.Workspace.WorkingDir != dir {
		t.Errorf("working_dir = %q, want %q", c.Workspace.WorkingDir, dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("the host folder was not made at create: %v", err)
	}
	out := e.sh(c.ID, `printf '#!/bin/sh\necho hello\n' > hello.sh && chmod +x hello.sh && ./hello.sh && pwd`)
	if want := "hello\n" + dir; strings.TrimSpace(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
	ownedByMe(t, filepath.Join(dir, "hello.sh"))
	if b, _ := os.ReadFile(filepath.Join(dir, "hello.sh")); !strings.Contains(string(b), "echo hello") {
		t.Errorf("hello.sh on the host: %q", b)
	}
	// The host's change is seen in the sandbox: one folder, not a copy.
	os.WriteFile(filepath.Join(dir, "from-host.txt"), []byte("host\n"), 0o644)
	if out := e.sh(c.ID, "cat from-host.txt"); strings.TrimSpace(out) != "host" {
		t.Errorf("a host file read in the sandbox: %q", out)
	}

	// A second conversation on the same folder shares it.
	c2 := e.create(map[string]any{"workspace": map[string]any{"working_dir": dir}})
	if out := e.sh(c2.ID, "./hello.sh"); strings.TrimSpace(out) != "hello" {
		t.Errorf("the second conversation: %q", out)
	}

	// The folder removed while mounted: a clear error, and the server
	// goes on.
	os.RemoveAll(dir)
	if d := e.detail(http.MethodPost, "/api/conversations/"+c.ID+"/bash/execute_bash_command",
		map[string]any{"command": "true"}, http.StatusBadRequest); !strings.Contains(d, dir) {
		t.Errorf("a removed folder: %q, want it named", d)
	}
	e.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, nil)
	// A restart makes it again and mounts it anew.
	e.call(http.MethodPost, "/api/conversations/"+c.ID+"/restart", nil, http.StatusOK, nil)
	e.sh(c.ID, "touch again")
	ownedByMe(t, filepath.Join(dir, "again"))

	os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "out"))
	before := e.count()
	for name, wd := range map[string]string{
		"a file in the way":          filepath.Join(root, "file"),
		"under a file":               filepath.Join(root, "file", "x"),
		"a symbolic link out":        filepath.Join(root, "out", "x"),
		"a symbolic link to /etc":    linkTo(t, root, "/etc"),
		"dot-dot to a symbolic link": filepath.Join(root, "new", "..", "out"),
	} {
		if d := e.detail(http.MethodPost, "/api/conversations", map[string]any{"workspace": map[string]any{"working_dir": wd}}, http.StatusBadRequest); d == "" {
			t.Errorf("%s: no detail", name)
		}
	}
	if got := e.count(); got != before {
		t.Errorf("%d conversations after the refused creates, want %d", got, before)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was made outside the roots: %v", ents)
	}
	// A path under no root is the sandbox's, as before.
	c3 := e.create(map[string]any{"workspace": map[string]any{"working_dir": "/workspace/inside"}})
	e.bash(c3.ID, map[string]any{"command": "mkdir -p /workspace/inside", "cwd": "/"})
	if out := e.sh(c3.ID, "pwd"); strings.TrimSpace(out) != "/workspace/inside" {
		t.Errorf("a sandbox working_dir: %q", out)
	}
	if _, err := os.Stat("/workspace/inside"); err == nil {
		t.Errorf("a sandbox working_dir was made on the host")
	}
}

func linkTo(t *testing.T, root, target string) string {
	t.Helper()
	l := filepath.Join(root, "link-"+strings.ReplaceAll(target, "/", "_"))
	if err := os.Symlink(target, l); err != nil {
		t.Fatal(err)
	}
	return l
}

// count returns how many conversations there are.
func (e *env) count() int {
	e.t.Helper()
	var n int
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, &n)
	return n
}

type bashPage struct {
	Items []struct {
		Kind      string `json:"kind"`
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Command   string `json:"command"`
		Cwd       string `json:"cwd"`
		CommandID string `json:"command_id"`
		Order     int    `json:"order"`
		ExitCode  *int   `json:"exit_code"`
		Stdout    string `json:"stdout"`
	} `json:"items"`
	NextPageID *string `json:"next_page_id"`
}

// TestGlobalWorkspaceRoutes is the TypeScript client's flow
// (Workspace({host, workingDir, apiKey}), executeCommand, fileUpload,
// fileDownload, bash.searchEvents, git changes) as HTTP calls without a
// conversation: they act on the workspace sandbox of the host folder they
// name. Paths under no root go to the default workspace sandbox, never
// to the host; a symbolic link out of the roots is refused.
func TestGlobalWorkspaceRoutes(t *testing.T) {
	t.Parallel()
	top := hostRoot(t)
	root := filepath.Join(top, "root")
	os.Mkdir(root, 0o755)
	outside := t.TempDir()
	e := newEnv(t, options{sandboxes: true, hostRoots: []string{root}})
	dir := filepath.Join(root, "todo-list")
	q := url.QueryEscape

	// executeCommand
	var res session.BashResult
	e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "echo hi > a.txt; pwd", "cwd": dir}, http.StatusOK, &res)
	if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != dir {
		t.Fatalf("execute_bash_command in %s: %+v", dir, res)
	}
	ownedByMe(t, filepath.Join(dir, "a.txt"))

	// fileUpload, fileDownload
	if st, body := e.upload("/api/file/upload?path="+q(dir+"/up.txt"), "up.txt", []byte("uploaded\n")); st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "up.txt")); err != nil || string(b) != "uploaded\n" {
		t.Errorf("the upload on the host: %q, %v", b, err)
	}
	if resp, body := e.get("/api/file/download?path=" + q(dir+"/a.txt")); resp.StatusCode != http.StatusOK || string(body) != "hi\n" {
		t.Errorf("download: %d %q", resp.StatusCode, body)
	}

	// bash.searchEvents
	var p bashPage
	e.call(http.MethodGet, "/api/bash/bash_events/search?kind__eq=BashCommand", nil, http.StatusOK, &p)
	if len(p.Items) != 1 || p.Items[0].Cwd != dir || p.Items[0].ID != res.CommandID {
		t.Errorf("BashCommand events: %+v", p.Items)
	}
	e.call(http.MethodGet, "/api/bash/bash_events/search?command_id__eq="+res.CommandID, nil, http.StatusOK, &p)
	if n := len(p.Items); n == 0 || p.Items[n-1].Kind != "BashOutput" || p.Items[n-1].ExitCode == nil || *p.Items[n-1].ExitCode != 0 {
		t.Errorf("the command's output events: %+v", p.Items)
	}
	e.detail(http.MethodGet, "/api/bash/bash_events/search?kind__eq=Nope", nil, http.StatusUnprocessableEntity)
	e.detail(http.MethodGet, "/api/bash/bash_events/search?sort_order=UP", nil, http.StatusUnprocessableEntity)

	// git changes
	e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"cwd": dir, "command": "git init -q && git add a.txt && " +
		"git -c user.email=t@example.com -c user.name=t commit -qm one && echo changed > a.txt"}, http.StatusOK, &res)
	if res.ExitCode != 0 {
		t.Fatalf("git setup: %+v", res)
	}
	var changes []session.GitChange
	e.call(http.MethodGet, "/api/git/changes?path="+q(dir), nil, http.StatusOK, &changes)
	if !slices.Contains(changes, session.GitChange{Status: "UPDATED", Path: "a.txt"}) {
		t.Errorf("git changes: %+v", changes)
	}

	// start_bash_command: at once, the output as events.
	var cmd session.BashCommand
	e.call(http.MethodPost, "/api/bash/start_bash_command", map[string]any{"command": "sleep 0.2; echo later", "cwd": dir}, http.StatusOK, &cmd)
	if cmd.Kind != "BashCommand" || cmd.ID == "" || cmd.Cwd != dir {
		t.Fatalf("start_bash_command: %+v", cmd)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.call(http.MethodGet, "/api/bash/bash_events/search?kind__eq=BashOutput&command_id__eq="+cmd.ID, nil, http.StatusOK, &p)
		if n := len(p.Items); n > 0 && p.Items[n-1].ExitCode != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the started command never ended: %+v", p.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var one map[string]any
	e.call(http.MethodGet, "/api/bash/bash_events/"+cmd.ID, nil, http.StatusOK, &one)
	if one["kind"] != "BashCommand" || one["command"] != "sleep 0.2; echo later" {
		t.Errorf("bash_events/{id}: %v", one)
	}
	e.detail(http.MethodGet, "/api/bash/bash_events/nope", nil, http.StatusNotFound)
	var batch []json.RawMessage
	e.call(http.MethodGet, "/api/bash/bash_events?event_ids="+cmd.ID+"&event_ids=nope", nil, http.StatusOK, &batch)
	if len(batch) != 2 || string(batch[1]) != "null" || !strings.Contains(string(batch[0]), cmd.ID) {
		t.Errorf("batch: %s", batch)
	}
	e.call(http.MethodGet, "/api/bash/bash_events/?event_ids="+cmd.ID, nil, http.StatusOK, &batch)
	if len(batch) != 1 || !strings.Contains(string(batch[0]), cmd.ID) {
		t.Errorf("batch at bash_events/: %s", batch)
	}

	// Bad input. A cwd under no root runs in the default workspace
	// sandbox, not on the host.
	e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "cat /etc/hostname", "cwd": "/etc"}, http.StatusOK, &res)
	if host, _ := os.Hostname(); res.ExitCode != 0 || strings.TrimSpace(res.Stdout) == host {
		t.Errorf("a cwd under no root: %+v, want the sandbox's hostname, not the host's %q", res, host)
	}
	// ".." out of the root: the default sandbox's file, not the host's.
	escape := dir + "/../../escaped.txt"
	if st, body := e.upload("/api/file/upload?path="+q(escape), "escaped.txt", []byte("x")); st != http.StatusOK {
		t.Errorf("upload to %s: %d %s", escape, st, body)
	}
	if _, err := os.Stat(filepath.Join(top, "escaped.txt")); err == nil {
		t.Errorf("an upload through .. reached the host")
	}
	// (The folder does not exist in the default sandbox: a 400.)
	e.detail(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "touch escaped2", "cwd": dir + "/../.."}, http.StatusBadRequest)
	if _, err := os.Stat(filepath.Join(top, "escaped2")); err == nil {
		t.Errorf("a command through .. reached the host")
	}
	// A symbolic link out of the root: refused.
	os.Symlink(outside, filepath.Join(root, "out"))
	e.detail(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "touch x", "cwd": root + "/out"}, http.StatusBadRequest)
	if st, _ := e.upload("/api/file/upload?path="+q(root+"/out/x.txt"), "x.txt", []byte("x")); st != http.StatusBadRequest {
		t.Errorf("upload through a symbolic link out: %d, want 400", st)
	}
	e.detail(http.MethodGet, "/api/file/download?path="+q(root+"/out/x.txt"), nil, http.StatusBadRequest)
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was written outside the roots: %v", ents)
	}

	// /sockets/bash-events without a conversation: the workspace
	// sandboxes' events, replayed then live; a frame runs a command in
	// the workspace sandbox of its cwd.
	sock := e.dial("/sockets/bash-events", nil)
	sock.send(map[string]any{"command": "echo from-socket > s.txt; echo sock", "cwd": dir})
	var sockCmd string
	for sockCmd == "" || !sawEnd(t, sock, sockCmd) {
		var ev struct {
			Kind    string `json:"kind"`
			ID      string `json:"id"`
			Command string `json:"command"`
		}
		if err := json.Unmarshal(sock.read(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind == "BashCommand" && strings.HasPrefix(ev.Command, "echo from-socket") {
			sockCmd = ev.ID
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "s.txt")); err != nil || string(b) != "from-socket\n" {
		t.Errorf("the socket's command on the host: %q, %v", b, err)
	}

	var cleared map[string]int
	e.call(http.MethodDelete, "/api/bash/bash_events", nil, http.StatusOK, &cleared)
	if cleared["cleared_count"] == 0 {
		t.Errorf("DELETE bash_events: %v", cleared)
	}
	e.call(http.MethodGet, "/api/bash/bash_events/search", nil, http.StatusOK, &p)
	if len(p.Items) != 0 {
		t.Errorf("%d events after DELETE", len(p.Items))
	}
}

// sawEnd reads the socket's events until the last output of command id.
func sawEnd(t *testing.T, sock *socket, id string) bool {
	t.Helper()
	for {
		var ev struct {
			Kind      string `json:"kind"`
			CommandID string `json:"command_id"`
			ExitCode  *int   `json:"exit_code"`
		}
		if err := json.Unmarshal(sock.read(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind == "BashOutput" && ev.CommandID == id && ev.ExitCode != nil {
			return true
		}
	}
}
