package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/sandbox"
)

// gohands is one run of the server in this process.
type gohands struct {
	t    *testing.T
	url  string
	stop context.CancelFunc
	done chan error
}

// start runs the server with env as its environment and waits until it
// listens.
func start(t *testing.T, env map[string]string) *gohands {
	t.Helper()
	cfg, err := LoadConfig([]string{"--host", "127.0.0.1", "--port", "0"}, func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	g := &gohands{t: t, stop: cancel, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { g.done <- run(ctx, cfg, logger, listening) }()
	select {
	case addr := <-listening:
		g.url = "http://" + addr
	case err := <-g.done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not listen within 30s")
	}
	return g
}

// shutdown stops the server as SIGTERM would and waits for it.
func (g *gohands) shutdown() {
	g.t.Helper()
	g.stop()
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Fatalf("server stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		g.t.Fatal("server did not stop within 60s")
	}
}

func (g *gohands) do(method, path, body string, out any) int {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	req.Header.Set("X-Session-API-Key", "key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		g.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestRestartKeepsStateAndSandboxes runs gohands, makes a conversation
// with a file in its sandbox, stops gohands gracefully, starts it again
// on the same state, and finds the conversation, its events, its secret
// and the same running sandbox with the file.
func TestRestartKeepsStateAndSandboxes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sandboxes on the Docker engine; skipped under -short")
	}
	ctx := context.Background()
	engine, err := sandbox.Connect(ctx)
	if err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	defer engine.Close()
	if _, err := engine.ImageInspect(ctx, sandbox.DefaultImage); err != nil {
		t.Fatalf("sandbox image %s is missing: build it with `make sandbox-image`", sandbox.DefaultImage)
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "runtime-agent")
	build := exec.Command("go", "build", "-o", agent, "github.com/gohands/gohands/cmd/runtime-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build runtime-agent: %v\n%s", err, out)
	}
	env := map[string]string{
		"SESSION_API_KEY": "key", "OH_SECRET_KEY": "restart-test-secret",
		"GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
	}

	g := start(t, env)
	var info struct {
		ID      string `json:"id"`
		Sandbox struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"sandbox"`
		Secrets []string `json:"secrets"`
		Title   string   `json:"title"`
	}
	body := `{"title":"restart me","secrets":{"API_TOKEN":"tok-123"},
		"initial_message":{"role":"user","content":[{"type":"text","text":"hello"}],"run":false}}`
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	id := info.ID
	t.Cleanup(func() {
		// Remove whatever this test left on the engine.
		list, _ := engine.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "gohands.conversation="+id))})
		for _, c := range list {
			engine.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	cmd := `{"command":"echo kept > /workspace/kept.txt && echo $API_TOKEN"}`
	if st := g.do("POST", "/api/conversations/"+id+"/bash/execute_bash_command", cmd, &res); st != 200 || res.ExitCode != 0 {
		t.Fatalf("bash: status %d, %+v", st, res)
	}
	if strings.TrimSpace(res.Stdout) != "tok-123" {
		t.Errorf("the secret is not in the sandbox's environment: stdout %q", res.Stdout)
	}
	g.do("GET", "/api/conversations/"+id, "", &info)
	containerID := info.Sandbox.ID
	var count int
	g.do("GET", "/api/conversations/"+id+"/events/count", "", &count)
	g.shutdown()

	// Sandboxes outlive a graceful shutdown.
	st, err := engine.ContainerInspect(ctx, containerID)
	if err != nil || !st.State.Running {
		t.Fatalf("sandbox after shutdown: %v, running=%v; want it left running", err, st.State != nil && st.State.Running)
	}
	// Secrets are not in the state file in the clear.
	raw, err := os.ReadFile(env["GOHANDS_STATE"])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("tok-123")) {
		t.Error("the state file holds the secret in the clear")
	}

	g = start(t, env)
	defer g.shutdown()
	if st := g.do("GET", "/api/conversations/"+id, "", &info); st != 200 {
		t.Fatalf("conversation after restart: status %d", st)
	}
	if info.Title != "restart me" || len(info.Secrets) != 1 || info.Sandbox.ID != containerID {
		t.Errorf("after restart: %+v; want the title, the secret and sandbox %s", info, containerID)
	}
	var again int
	g.do("GET", "/api/conversations/"+id+"/events/count", "", &again)
	if again < count {
		t.Errorf("events after restart: %d, before: %d", again, count)
	}
	cmd = `{"command":"cat /workspace/kept.txt"}`
	if st := g.do("POST", "/api/conversations/"+id+"/bash/execute_bash_command", cmd, &res); st != 200 || strings.TrimSpace(res.Stdout) != "kept" {
		t.Fatalf("bash after restart: status %d, %+v; want the file written before", st, res)
	}
	if st := g.do("DELETE", "/api/conversations/"+id, "", nil); st != 200 {
		t.Fatalf("delete: status %d", st)
	}
	if _, err := engine.ContainerInspect(ctx, containerID); err == nil {
		t.Error("the sandbox is still there after delete")
	}
}
