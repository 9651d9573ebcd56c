package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
)

// bash runs a command through the bash route.
func (e *env) bash(id string, body map[string]any) session.BashResult {
	e.t.Helper()
	var res session.BashResult
	e.call(http.MethodPost, "/api/conversations/"+id+"/bash/execute_bash_command", body, http.StatusOK, &res)
	return res
}

// upload sends content as the multipart field "file".
func (e *env) upload(path, filename string, content []byte) (int, []byte) {
	e.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("note", "a field before the file")
	part, err := w.CreateFormFile("file", filename)
	if err != nil {
		e.t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	return e.request(http.MethodPost, path, body.Bytes(), http.Header{"Content-Type": {w.FormDataContentType()}})
}

// get sends a GET and returns the response, its body read.
func (e *env) get(path string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.key != "" {
		req.Header.Set("X-Session-API-Key", e.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, data
}

type listing struct {
	Path    string `json:"path"`
	Entries []struct {
		Name string `json:"name"`
		Path string `json:"path"`
		Type string `json:"type"`
		Size int64  `json:"size"`
	} `json:"entries"`
}

func TestWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true, config: func(c *server.Config) { c.MaxUploadBytes = 64 << 10 }})
	c := e.create(nil)
	base := "/api/conversations/" + c.ID

	t.Run("bash", func(t *testing.T) {
		e := e.in(t)
		res := e.bash(c.ID, map[string]any{"command": "echo hello"})
		if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "hello" {
			t.Errorf("echo hello: %+v", res)
		}
		if res = e.bash(c.ID, map[string]any{"command": "pwd"}); strings.TrimSpace(res.Stdout) != session.DefaultWorkingDir {
			t.Errorf("pwd: %+v, want the workspace", res)
		}
		if res = e.bash(c.ID, map[string]any{"command": "pwd", "cwd": "/tmp"}); strings.TrimSpace(res.Stdout) != "/tmp" {
			t.Errorf("pwd in /tmp: %+v", res)
		}
		// (exit 3) in a subshell: an exit of the terminal's own shell
		// may lose the output printed just before it (a runtime-agent
		// race between reading the pty and noticing the exit).
		if res = e.bash(c.ID, map[string]any{"command": "echo oops >&2; (exit 3)"}); res.ExitCode != 3 || !strings.Contains(res.Stdout+res.Stderr, "oops") {
			t.Errorf("exit 3: %+v", res)
		}
		// The reference server's global route, with the conversation in
		// the body or in the query.
		var global session.BashResult
		e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "echo global", "conversation_id": c.ID}, http.StatusOK, &global)
		if strings.TrimSpace(global.Stdout) != "global" {
			t.Errorf("global route: %+v", global)
		}
		e.call(http.MethodPost, "/api/bash/execute_bash_command?conversation_id="+c.ID, map[string]any{"command": "echo q"}, http.StatusOK, &global)
		if strings.TrimSpace(global.Stdout) != "q" {
			t.Errorf("global route, id in the query: %+v", global)
		}
		// Without a conversation: the server's default workspace sandbox
		// (server/hostws_test.go covers host folders).
		e.call(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "pwd"}, http.StatusOK, &global)
		if strings.TrimSpace(global.Stdout) != session.DefaultWorkingDir {
			t.Errorf("global route without a conversation: %+v, want it run in the default workspace", global)
		}
		e.detail(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{}, http.StatusUnprocessableEntity)
		e.detail(http.MethodPost, base+"/bash/execute_bash_command", map[string]any{}, http.StatusUnprocessableEntity)
		e.detail(http.MethodPost, base+"/bash/execute_bash_command", map[string]any{"command": "true", "timeout": -1}, http.StatusUnprocessableEntity)
		e.detail(http.MethodPost, "/api/conversations/nope/bash/execute_bash_command", map[string]any{"command": "true"}, http.StatusNotFound)
	})

	t.Run("files", func(t *testing.T) {
		e := e.in(t)
		content := []byte("uploaded bytes\nline two\n")
		status, body := e.upload(base+"/file/upload?path="+url.QueryEscape("/workspace/up/hello.txt"), "ignored.txt", content)
		if status != http.StatusOK {
			t.Fatalf("upload: %d %s", status, body)
		}
		// Into a folder: the file keeps its name.
		if status, body = e.upload(base+"/file/upload?path="+url.QueryEscape("up/"), "second.txt", []byte("2")); status != http.StatusOK {
			t.Fatalf("upload into a folder: %d %s", status, body)
		}

		var l listing
		e.call(http.MethodGet, base+"/file/list?path="+url.QueryEscape("/workspace/up"), nil, http.StatusOK, &l)
		sizes := map[string]int64{}
		for _, en := range l.Entries {
			sizes[en.Name] = en.Size
		}
		if sizes["hello.txt"] != int64(len(content)) || sizes["second.txt"] != 1 {
			t.Errorf("listing %+v, want hello.txt (%d bytes) and second.txt (1)", l, len(content))
		}

		for _, p := range []string{"/workspace/up/hello.txt", "up/hello.txt", "./up/../up/hello.txt"} {
			resp, data := e.get(base + "/file/download?path=" + url.QueryEscape(p))
			if resp.StatusCode != http.StatusOK || !bytes.Equal(data, content) {
				t.Errorf("download %s: %d %q, want %q", p, resp.StatusCode, data, content)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "hello.txt") {
				t.Errorf("download %s: Content-Disposition %q", p, cd)
			}
		}
		// A folder comes as a tar.
		resp, data := e.get(base + "/file/download?path=" + url.QueryEscape("/workspace/up"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download a folder: %d %s", resp.StatusCode, data)
		}
		names := map[string]bool{}
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names[strings.TrimPrefix(h.Name, "./")] = true
		}
		if !names["hello.txt"] && !names["up/hello.txt"] {
			t.Errorf("the folder's tar holds %v, want hello.txt", names)
		}
		// The file is there for commands too.
		if res := e.bash(c.ID, map[string]any{"command": "cat up/hello.txt | wc -l"}); strings.TrimSpace(res.Stdout) != "2" {
			t.Errorf("the uploaded file seen by bash: %+v", res)
		}

		// Past MaxUploadBytes: 413, and nothing is left behind.
		if status, body := e.upload(base+"/file/upload?path=big.bin", "big.bin", bytes.Repeat([]byte("x"), 200<<10)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("upload over the limit: %d %s, want 413", status, body)
		}
		if res := e.bash(c.ID, map[string]any{"command": "ls big.bin 2>/dev/null | wc -l"}); strings.TrimSpace(res.Stdout) != "0" {
			t.Errorf("an upload over the limit left a file: %+v", res)
		}
		e.detail(http.MethodGet, base+"/file/download?path="+url.QueryEscape("/workspace/missing.txt"), nil, http.StatusNotFound)
		e.detail(http.MethodGet, base+"/file/download", nil, http.StatusUnprocessableEntity)
		if status, body := e.request(http.MethodPost, base+"/file/upload?path=x.txt", `{}`, nil); status != http.StatusUnprocessableEntity {
			t.Errorf("upload without multipart: %d %s", status, body)
		}
	})

	t.Run("delete", func(t *testing.T) {
		e := e.in(t)
		var info session.Info
		e.call(http.MethodGet, base, nil, http.StatusOK, &info)
		if info.Sandbox.ID == "" || info.Sandbox.Status != "running" {
			t.Fatalf("sandbox of a conversation that ran commands: %+v", info.Sandbox)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := docker.engine.ContainerInspect(ctx, info.Sandbox.ID); err != nil {
			t.Fatalf("inspect the sandbox before the delete: %v", err)
		}
		e.call(http.MethodDelete, base, nil, http.StatusOK, nil)
		// The container goes in the background.
		for {
			_, err := docker.engine.ContainerInspect(ctx, info.Sandbox.ID)
			if errdefs.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				t.Errorf("inspect the sandbox after the delete: %v, want not found", err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.detail(http.MethodGet, base, nil, http.StatusNotFound)
		e.detail(http.MethodPost, base+"/bash/execute_bash_command", map[string]any{"command": "true"}, http.StatusNotFound)
		if recs, err := e.store.Sandboxes(); err != nil || len(recs) != 0 {
			t.Errorf("sandbox records after the delete: %v %v", recs, err)
		}
	})
}

// TestWorkspaceEscapes tries every file route, per conversation and global,
// with paths that leave the workspace: through "..", through symbolic
// links (absolute, relative, chained, dangling), with NUL bytes, and with
// names too long for the kernel. The workspace is a host folder next to a
// file of the host's, so that an escape would reach the host. Each try
// must be refused with 400 and a detail, and afterwards nothing was
// written outside the workspace, on the host or in the sandbox.
func TestWorkspaceEscapes(t *testing.T) {
	t.Parallel()
	needDocker(t)
	host := t.TempDir()
	ws := filepath.Join(host, "ws")
	if err := os.Mkdir(ws, 0o777); err != nil {
		t.Fatal(err)
	}
	const hostSecret, sandboxSecret = "host secret\n", "sandbox secret\n"
	if err := os.WriteFile(filepath.Join(host, "secret.txt"), []byte(hostSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	serverID := ownServerID(t)
	m, err := docker.newManager(serverID, sandbox.Mount{Source: ws, Target: session.DefaultWorkingDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	e := newEnv(t, options{sandboxes: true, manager: m})
	c := e.create(nil)

	// Outside the workspace, in the sandbox: a folder with a secret, and
	// links from the workspace leading there.
	setup := `set -e; mkdir -p /outside sub; printf 'sandbox secret\n' > /outside/secret.txt
ln -s /outside link; ln -s .. rel; ln -s link chain; ln -s /outside/new.txt dangling; touch /tmp/before-escapes`
	if res := e.bash(c.ID, map[string]any{"command": setup}); res.ExitCode != 0 {
		t.Fatalf("setting up: %+v", res)
	}

	q := url.QueryEscape
	conv := "/api/conversations/" + c.ID + "/file/"
	global := "/api/file/"
	routes := []struct {
		name string
		do   func(e *env, p, content string) (int, []byte)
	}{
		{"GET /api/conversations/{id}/file/download", func(e *env, p, _ string) (int, []byte) {
			return e.request(http.MethodGet, conv+"download?path="+q(p), nil, nil)
		}},
		{"GET /api/conversations/{id}/file/list", func(e *env, p, _ string) (int, []byte) {
			return e.request(http.MethodGet, conv+"list?path="+q(p), nil, nil)
		}},
		{"POST /api/conversations/{id}/file/upload", func(e *env, p, content string) (int, []byte) {
			return e.upload(conv+"upload?path="+q(p), "escape.txt", []byte(content))
		}},
		{"GET /api/file/download", func(e *env, p, _ string) (int, []byte) {
			return e.request(http.MethodGet, global+"download?conversation_id="+c.ID+"&path="+q(p), nil, nil)
		}},
		{"GET /api/file/list", func(e *env, p, _ string) (int, []byte) {
			return e.request(http.MethodGet, global+"list?conversation_id="+c.ID+"&path="+q(p), nil, nil)
		}},
		{"POST /api/file/upload", func(e *env, p, content string) (int, []byte) {
			return e.upload(global+"upload?conversation_id="+c.ID+"&path="+q(p), "escape.txt", []byte(content))
		}},
	}
	tests := []struct {
		name string
		path string
	}{
		{"dot-dot", "../outside/secret.txt"},
		{"dot-dot to the host folder", "../secret.txt"},
		{"dot-dot in an absolute path", "/workspace/../outside/secret.txt"},
		{"dot-dot from a folder", "sub/../../outside/secret.txt"},
		{"dot-dot past the root", strings.Repeat("../", 20) + "outside/secret.txt"},
		{"dot-dot to a new file", "../outside/new.txt"},
		{"a folder up", ".."},
		{"symlink to an absolute folder", "link/secret.txt"},
		{"the symlink itself", "/workspace/link"},
		{"the symlink as a folder", "link/"},
		{"new file under a symlink", "link/new.txt"},
		{"relative symlink", "rel/outside/secret.txt"},
		{"symlink to a symlink", "chain/secret.txt"},
		{"dangling symlink", "dangling"},
		{"NUL byte", "a\x00b"},
		{"NUL byte before a dot-dot", "sub\x00/../../outside/secret.txt"},
		{"NUL byte after a symlink", "link/secret.txt\x00.png"},
		{"component over 255 bytes", strings.Repeat("n", 256)},
		{"component over 255 bytes in a folder", "sub/" + strings.Repeat("n", 300) + "/x.txt"},
		{"path over 4096 bytes", strings.Repeat("d/", 2049)},
		{"path over 4096 bytes leaving", "/workspace/" + strings.Repeat("./", 2100) + "../outside/secret.txt"},
	}
	for _, r := range routes {
		for _, tt := range tests {
			t.Run(r.name+"/"+tt.name, func(t *testing.T) {
				status, body := r.do(e.in(t), tt.path, "escaped through "+r.name+" by "+tt.name)
				checkRefused(t, status, body, hostSecret, sandboxSecret)
			})
		}
	}

	// The name of an uploaded file is a name, never a path: whatever it
	// holds, the file lands in the folder asked for, or is refused.
	names := []struct {
		name, filename string
		want           int
	}{
		{"dot-dots", "../../outside/named.txt", http.StatusOK},
		{"NUL byte", "a\x00b.txt", http.StatusBadRequest},
		{"over 255 bytes", strings.Repeat("n", 256) + ".txt", http.StatusBadRequest},
	}
	uploads := []struct{ name, prefix string }{
		{"POST /api/conversations/{id}/file/upload", conv + "upload?"},
		{"POST /api/file/upload", global + "upload?conversation_id=" + c.ID + "&"},
	}
	for _, u := range uploads {
		for _, tt := range names {
			t.Run(u.name+"/file name with "+tt.name, func(t *testing.T) {
				status, body := e.in(t).upload(u.prefix+"path="+q("sub/"), tt.filename, []byte("a named upload"))
				if tt.want == http.StatusOK {
					if status != http.StatusOK {
						t.Fatalf("%d %s, want 200", status, body)
					}
					return
				}
				checkRefused(t, status, body, hostSecret, sandboxSecret)
			})
		}
	}
	if data, err := os.ReadFile(filepath.Join(ws, "sub", "named.txt")); err != nil || string(data) != "a named upload" {
		t.Errorf("the upload named with dot-dots is not in the folder asked for: %q %v", data, err)
	}

	// Absolute paths outside the workspace are the sandbox's own files
	// (API.md: paths stay inside the sandbox's filesystem view): they are
	// served from the sandbox, never from the host, even when the path
	// names a file of the host's.
	t.Run("absolute paths are the sandbox's", func(t *testing.T) {
		e := e.in(t)
		if resp, data := e.get(conv + "download?path=" + q("/outside/secret.txt")); resp.StatusCode != http.StatusOK || string(data) != sandboxSecret {
			t.Errorf("download /outside/secret.txt: %d %q, want the sandbox's %q", resp.StatusCode, data, sandboxSecret)
		}
		e.detail(http.MethodGet, global+"download?conversation_id="+c.ID+"&path="+q(filepath.Join(host, "secret.txt")), nil, http.StatusNotFound)
		if status, body := e.upload(global+"upload?conversation_id="+c.ID+"&path="+q(filepath.Join(host, "abs.txt")), "abs.txt", []byte("a sandbox file")); status != http.StatusOK {
			t.Errorf("upload to an absolute path outside the workspace: %d %s, want 200 (a file of the sandbox)", status, body)
		}
	})

	// Nothing was written outside the workspace: on the host, the folder
	// holding it has only the workspace and the secret, untouched; in the
	// sandbox, /outside has only its secret, untouched, and no file
	// written since the tries holds an upload.
	entries, err := os.ReadDir(host)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.Name())
	}
	if diff := cmp.Diff(got, []string{"secret.txt", "ws"}); diff != "" {
		t.Errorf("the host folder around the workspace (-got +want):\n%s", diff)
	}
	if data, err := os.ReadFile(filepath.Join(host, "secret.txt")); err != nil || string(data) != hostSecret {
		t.Errorf("the host's secret is now %q (%v)", data, err)
	}
	filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), "escaped") {
				t.Errorf("an upload that was refused was written on the host at %s: %q", p, data)
			}
		}
		return nil
	})
	// The pattern does not match its own text: the terminal keeps the
	// command in a file of the sandbox, written after the tries.
	check := `ls -A /outside; cat /outside/secret.txt; find / \( -path /proc -o -path /sys -o -path /dev -o -path /workspace \) -prune ` +
		`-o -type f -newer /tmp/before-escapes -exec grep -l 'escape[d]' {} + 2>/dev/null; true`
	res := e.bash(c.ID, map[string]any{"command": check})
	if got, want := strings.Fields(res.Stdout), []string{"secret.txt", "sandbox", "secret"}; !slices.Equal(got, want) {
		t.Errorf("outside the workspace in the sandbox after the tries: %q, want only /outside/secret.txt, untouched, and no upload", res.Stdout)
	}
}

// checkRefused fails unless an answer is a 400 with a detail that leaks
// none of the secrets.
func checkRefused(t *testing.T, status int, body []byte, secrets ...string) {
	t.Helper()
	var d struct {
		Detail string `json:"detail"`
	}
	if status != http.StatusBadRequest || json.Unmarshal(body, &d) != nil || d.Detail == "" {
		t.Errorf("%d %.300s, want 400 with a detail", status, body)
	}
	for _, s := range secrets {
		if strings.Contains(string(body), strings.TrimSpace(s)) {
			t.Errorf("the answer leaks %q: %.300s", s, body)
		}
	}
}
