package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

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
		e.detail(http.MethodPost, "/api/bash/execute_bash_command", map[string]any{"command": "true"}, http.StatusUnprocessableEntity)
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

	t.Run("escapes", func(t *testing.T) {
		e := e.in(t)
		if res := e.bash(c.ID, map[string]any{"command": "ln -s /etc /workspace/out && ls /workspace/out/passwd"}); res.ExitCode != 0 {
			t.Fatalf("making the symlink: %+v", res)
		}
		for _, p := range []string{"../etc/passwd", "/workspace/../etc/passwd", "up/../../etc/passwd",
			"/workspace/out/passwd", "out/passwd", "/workspace/out", "/workspace/up/\x00", "/workspace/a\x00b"} {
			d := e.detail(http.MethodGet, base+"/file/download?path="+url.QueryEscape(p), nil, http.StatusBadRequest)
			if strings.Contains(d, "root:") {
				t.Errorf("download %q leaked the file: %s", p, d)
			}
			e.detail(http.MethodGet, base+"/file/list?path="+url.QueryEscape(p), nil, http.StatusBadRequest)
		}
		for _, p := range []string{"../evil.txt", "/workspace/../tmp/evil.txt", "/workspace/out/evil.txt", "out/", "/workspace/\x00"} {
			status, body := e.upload(base+"/file/upload?path="+url.QueryEscape(p), "evil.txt", []byte("evil"))
			if status != http.StatusBadRequest {
				t.Errorf("upload to %q: %d %s, want 400", p, status, body)
			}
		}
		if res := e.bash(c.ID, map[string]any{"command": "ls /etc/evil.txt /tmp/evil.txt /evil.txt 2>/dev/null | wc -l"}); strings.TrimSpace(res.Stdout) != "0" {
			t.Errorf("a refused upload was written: %+v", res)
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
		_, err := docker.engine.ContainerInspect(ctx, info.Sandbox.ID)
		if !errdefs.IsNotFound(err) {
			t.Errorf("inspect the sandbox after the delete: %v, want not found", err)
		}
		e.detail(http.MethodGet, base, nil, http.StatusNotFound)
		e.detail(http.MethodPost, base+"/bash/execute_bash_command", map[string]any{"command": "true"}, http.StatusNotFound)
		if recs, err := e.store.Sandboxes(); err != nil || len(recs) != 0 {
			t.Errorf("sandbox records after the delete: %v %v", recs, err)
		}
	})
}
