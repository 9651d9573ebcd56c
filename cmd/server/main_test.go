package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
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
	case <-time.After(90 * time.Second):
		t.Fatal("server did not listen within 90s")
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

// dockerSetup skips under -short or without an engine, checks the
// sandbox image, and builds the runtime-agent into a temp dir. It returns
// the engine (closed when t ends), the dir and the agent's path.
func dockerSetup(t *testing.T) (*client.Client, string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts sandboxes on the Docker engine; skipped under -short")
	}
	ctx := context.Background()
	engine, err := docker.Connect(ctx)
	if err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	t.Cleanup(func() { engine.Close() })
	if _, err := engine.ImageInspect(ctx, sandbox.DefaultImage); err != nil {
		t.Fatalf("sandbox image %s is missing: build it with `make sandbox-image`", sandbox.DefaultImage)
	}
	dir := t.TempDir()
	// Servers the test kills can leave sandboxes no later server owns
	// (pool sandboxes, ones being created): remove every sandbox whose
	// run folder is under dir once the test ends (registered after
	// engine.Close, so it runs before it).
	// A server killed with its fork pool on leaves the slot folder's
	// mounts, which the folder's removal would trip over.
	t.Cleanup(func() {
		removeSandboxesUnder(engine, dir)
		unmountUnder(dir)
	})
	agent := filepath.Join(dir, "runtime-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", agent, "github.com/gohands/gohands/cmd/runtime-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build runtime-agent: %v\n%s", err, out)
	}
	return engine, dir, agent
}

// TestRestartKeepsStateAndSandboxes runs gohands, makes a conversation
// with a file in its sandbox, stops gohands gracefully, starts it again
// on the same state, and finds the conversation, its events, its secret
// and the same running sandbox with the file.
func TestRestartKeepsStateAndSandboxes(t *testing.T) {
	ctx := context.Background()
	engine, dir, agent := dockerSetup(t)
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
	t.Cleanup(func() { removeConversationContainers(engine, id) }) // whatever the test left
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	// The answer masks the secret: the command compares it instead.
	cmd := `{"command":"echo kept > /workspace/kept.txt && [ \"$API_TOKEN\" = tok-123 ] && echo set; echo $API_TOKEN"}`
	if st := g.do("POST", "/api/conversations/"+id+"/bash/execute_bash_command", cmd, &res); st != 200 || res.ExitCode != 0 {
		t.Fatalf("bash: status %d, %+v", st, res)
	}
	if res.Stdout != "set\n<secret-hidden>" {
		t.Errorf("the secret is not in the sandbox's environment, or not masked in the answer: stdout %q", res.Stdout)
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
	waitRemoved(t, engine, containerID, "the sandbox of the deleted conversation")
}

// TestSeedsTaskEndToEnd runs the seeds' task over V1 and over V0 with the
// scripted model: it writes hello.sh into /workspace, a host folder
// mounted with SANDBOX_VOLUMES, runs it, sees hello and finishes. The
// script lands in the host folder owned by the host user, and the events
// are in order and survive a restart.
func TestSeedsTaskEndToEnd(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	hostV1, hostV0 := filepath.Join(dir, "ws-v1"), filepath.Join(dir, "ws-v0")
	for _, d := range []string{hostV1, hostV0} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := llmtest.Call{Name: "file_editor", Args: `{"command":"create","path":"/workspace/hello.sh","file_text":"#!/bin/bash\necho hello\n"}`}
	run := llmtest.Call{Name: "terminal", Args: `{"command":"bash /workspace/hello.sh"}`}
	finish := llmtest.Call{Name: "finish", Args: `{"message":"hello.sh prints hello"}`}
	model := llmtest.New(t,
		llmtest.Fail{Status: 429, RetryAfter: "0"}, llmtest.Fail{Status: 429, RetryAfter: "0"},
		llmtest.Reply{Text: "Writing the script.", ToolCalls: []llmtest.Call{write}},
		llmtest.Reply{ToolCalls: []llmtest.Call{run}},
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}},
	)
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
		"SANDBOX_VOLUMES": hostV1 + ":/workspace:rw",
		"LLM_MODEL":       "openai/scripted", "LLM_API_KEY": "test", "LLM_BASE_URL": model.URL() + "/v1",
	}
	g := start(t, env)
	var info struct {
		ID              string `json:"id"`
		ExecutionStatus string `json:"execution_status"`
	}
	body := `{"initial_message":{"role":"user","content":[{"type":"text","text":"write a bash script that prints hello"}]}}`
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	id := info.ID
	t.Cleanup(func() { removeConversationContainers(engine, id) })
	deadline := time.Now().Add(2 * time.Minute)
	for info.ExecutionStatus != "finished" {
		if time.Now().After(deadline) || info.ExecutionStatus == "error" || info.ExecutionStatus == "stuck" {
			t.Fatalf("conversation is %s, want finished", info.ExecutionStatus)
		}
		time.Sleep(100 * time.Millisecond)
		g.do("GET", "/api/conversations/"+id, "", &info)
	}
	checkHostScript(t, filepath.Join(hostV1, "hello.sh"))
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	g.do("GET", "/api/conversations/"+id+"/events/search?limit=100", "", &page)
	before := seqsAndHello(t, page.Items)

	// V0: the same task over /ws, in a second server sharing nothing but
	// the model.
	g.shutdown()
	model.Add(
		llmtest.Reply{ToolCalls: []llmtest.Call{write}},
		llmtest.Reply{ToolCalls: []llmtest.Call{run}},
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}},
	)
	env0 := maps.Clone(env)
	env0["GOHANDS_STATE"] = filepath.Join(dir, "state-v0.db")
	env0["SANDBOX_VOLUMES"] = hostV0 + ":/workspace:rw"
	g0 := start(t, env0)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(g0.url, "http")+"/ws?session_api_key=key", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"start","args":{"task":"write a bash script that prints hello"}}`))
	ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
	sawHello, finished := false, false
	var v0conv string
	for !finished {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("V0 socket: %v (saw hello: %v)", err, sawHello)
		}
		var f struct {
			Observation string         `json:"observation"`
			Action      string         `json:"action"`
			Content     string         `json:"content"`
			Extras      map[string]any `json:"extras"`
		}
		json.Unmarshal(frame, &f)
		switch {
		case f.Observation == "run" && strings.TrimSpace(f.Content) == "hello" && f.Extras["exit_code"] == float64(0):
			sawHello = true
		case f.Observation == "agent_state_changed" && f.Extras["agent_state"] == "finished":
			finished = true
		case f.Observation == "error":
			t.Fatalf("V0 error frame: %s", frame)
		}
	}
	if !sawHello {
		t.Error("V0: no run observation with hello")
	}
	checkHostScript(t, filepath.Join(hostV0, "hello.sh"))
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	g0.do("GET", "/api/conversations/search", "", &list)
	if len(list.Items) == 1 {
		v0conv = list.Items[0].ID
		t.Cleanup(func() { removeConversationContainers(engine, v0conv) })
	}
	g0.shutdown()

	// The V1 conversation's events survive a restart, in order.
	g = start(t, env)
	defer g.shutdown()
	g.do("GET", "/api/conversations/"+id+"/events/search?limit=100", "", &page)
	after := seqsAndHello(t, page.Items)
	if len(after) < len(before) || !slices.Equal(before, after[:len(before)]) {
		t.Errorf("events after restart %v, before %v: want every earlier event kept", after, before)
	}
	g.do("DELETE", "/api/conversations/"+id, "", nil)
}

// seqsAndHello checks that events have seqs 1..n and that one is a
// terminal observation saying hello; it returns the seqs.
func seqsAndHello(t *testing.T, items []json.RawMessage) []int64 {
	t.Helper()
	var seqs []int64
	hello := false
	for i, raw := range items {
		e, err := event.Unmarshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		if e.Meta().Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Meta().Seq)
		}
		seqs = append(seqs, e.Meta().Seq)
		if o, ok := e.(*event.Observation); ok {
			if term, ok := o.Observation.(*event.TerminalObservation); ok && strings.TrimSpace(term.Content.Text()) == "hello" {
				hello = true
			}
		}
	}
	if !hello {
		t.Error("no terminal observation saying hello")
	}
	return seqs
}

// checkHostScript checks the script the agent wrote into the mounted host
// folder: its content and that the host user owns it.
func checkHostScript(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script is not in the host folder: %v", err)
	}
	if !strings.Contains(string(data), "echo hello") {
		t.Errorf("script = %q", data)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
		t.Errorf("the script belongs to uid %d, want the host user %d", uid, os.Getuid())
	}
}

// removeSandboxesUnder removes the sandboxes that mount a folder under
// dir (their run folder when SANDBOX_RUN_DIR is there). The engine may
// finish a create that a stopped server asked for after the server is
// gone, so it looks again a second later.
func removeSandboxesUnder(engine *client.Client, dir string) {
	ctx := context.Background()
	for pass := 0; pass < 2; pass++ {
		if pass > 0 {
			time.Sleep(time.Second)
		}
		list, err := engine.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "gohands.sandbox=1"))})
		if err != nil {
			return
		}
		for _, c := range list {
			for _, m := range c.Mounts {
				if strings.HasPrefix(m.Source, dir+string(filepath.Separator)) {
					engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
					break
				}
			}
		}
	}
}

func removeConversationContainers(engine *client.Client, id string) {
	list, _ := engine.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "gohands.conversation="+id))})
	for _, c := range list {
		engine.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	}
}
