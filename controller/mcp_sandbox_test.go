package controller_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// everythingServer builds the Go SDK's example MCP server once per run,
// static, so that it also runs in a container.
var everythingServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gohands-everything-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "everything")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/examples/server/everything")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func everything(t testing.TB) string {
	t.Helper()
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	return bin
}

// mcpManager is a conversation manager on the in-memory sandbox backend,
// whose runtime-agent runs in the test process: a stdio MCP server it
// starts runs on this host.
func mcpManager(t *testing.T, be sandbox.Backend, model *llmtest.Server, work string, servers ...mcpclient.Config) *session.ConversationManager {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctl := controller.New(controller.Options{NewClient: func(cfg llm.Config) (llm.Client, error) {
		cfg.MaxRetries = 1
		cfg.RetryMinWait = time.Millisecond
		return llm.New(cfg)
	}})
	opts := session.Options{Store: store, Sandboxes: be, Loop: ctl,
		Defaults: session.Defaults{WorkingDir: work, LLM: session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}}}
	for _, s := range servers {
		opts.MCPServers = opts.MCPServers.Merge(s)
	}
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
		store.Close()
	})
	return m
}

func offeredNames(r llmtest.Request) []string {
	var out []string
	for _, tl := range r.Tools() {
		fn, _ := tl["function"].(map[string]any)
		name, _ := fn["name"].(string)
		out = append(out, name)
	}
	return out
}

// TestMCPEverythingInTheSandbox: the SDK's example server, a stdio server
// of agent.mcp_config started through the sandbox's runtime-agent, is
// offered to the model; the model calls greet and gets its answer back. A
// server whose program does not exist is told in an event, and the
// conversation goes on.
func TestMCPEverythingInTheSandbox(t *testing.T) {
	bin := everything(t)
	model := llmtest.New(t,
		call("greet", `{"name":"Ada"}`),
		call("finish", `{"message":"greeted"}`),
	)
	work := t.TempDir()
	be := sandboxtest.New(t)
	be.Engine().SetWorkspace(work)
	m := mcpManager(t, be, model, work)
	cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{
		"everything": map[string]any{"command": bin},
		"missing":    map[string]any{"command": "no-such-mcp-server-gohands"},
	}})
	a, _, err := m.Create(context.Background(), session.CreateRequest{
		Agent:          &session.Agent{LLM: session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}, MCPConfig: cfg},
		InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("greet Ada")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	reqs := model.Requests()
	if names := offeredNames(reqs[0]); !slices.Contains(names, "greet") || !slices.Contains(names, "terminal") {
		t.Errorf("model offered %v, want greet beside the built-in tools", names)
	}
	sp := ofKind[*event.SystemPrompt](evs)
	if len(sp) != 1 || !slices.ContainsFunc(sp[0].Tools, func(s event.ToolSpec) bool { return s.Name == "greet" && s.Description == "say hi" }) {
		t.Errorf("system prompt tools do not show greet")
	}
	var warned bool
	for _, e := range ofKind[*event.ConversationError](evs) {
		warned = warned || e.Code == session.MCPErrorCode && strings.Contains(e.Detail, "missing")
	}
	if !warned {
		t.Errorf("no event tells that the server \"missing\" did not start; errors: %+v", ofKind[*event.ConversationError](evs))
	}
	obs := ofKind[*event.Observation](evs)
	o, ok := obs[0].Observation.(*event.MCPToolObservation)
	if !ok || o.IsError || !strings.HasPrefix(o.Content.Text(), "[Tool 'greet' executed.]") || !strings.Contains(o.Content.Text(), "Hi Ada") || o.ToolName != "greet" {
		t.Fatalf("observation %+v, want greet's answer", obs[0].Observation)
	}
	if !strings.Contains(string(reqs[1].Raw), "Hi Ada") {
		t.Error("the next model request does not carry the greeting back")
	}
	tl, err := a.Tools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tl, func(s session.ToolSpec) bool { return s.Name == "greet" && s.MCPServer == "everything" }) {
		t.Errorf("Tools() = %+v, want greet of everything", tl)
	}
}

// TestMCPServersOfSkillsAndServer: a workspace skill's .mcp.json brings
// the everything server; the server's default servers count too (here
// one that cannot start, told in an event).
func TestMCPServersOfSkillsAndServer(t *testing.T) {
	bin := everything(t)
	model := llmtest.New(t,
		call("greet", `{"name":"Skill"}`),
		call("finish", `{"message":"greeted"}`),
	)
	work := t.TempDir()
	skill := filepath.Join(work, ".agents", "skills", "greeter")
	os.MkdirAll(skill, 0o755)
	os.WriteFile(filepath.Join(skill, "SKILL.md"), []byte("---\nname: greeter\ndescription: Greets people\n---\nUse greet."), 0o644)
	os.WriteFile(filepath.Join(skill, ".mcp.json"), []byte(`{"mcpServers":{"everything":{"command":"`+bin+`"}}}`), 0o644)
	be := sandboxtest.New(t)
	be.Engine().SetWorkspace(work)
	m := mcpManager(t, be, model, work, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"server-default": {Command: "no-such-default-mcp-server"}}})
	a, _, err := m.Create(context.Background(), session.CreateRequest{
		InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("greet")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	obs := ofKind[*event.Observation](evs)
	if o, ok := obs[0].Observation.(*event.MCPToolObservation); !ok || !strings.Contains(o.Content.Text(), "Hi Skill") {
		t.Fatalf("observation %+v, want greet's answer", obs[0].Observation)
	}
	errs := ofKind[*event.ConversationError](evs)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "server-default") {
		t.Errorf("errors %+v, want one naming the server's default server", errs)
	}
}

// TestMCPEverythingInDocker: the example server, put into a real
// container's workspace through its runtime-agent, runs there as the
// conversation's stdio MCP server; the model calls it and gets its answer.
func TestMCPEverythingInDocker(t *testing.T) {
	bin := everything(t)
	f := newFixture(t, setup{sandboxes: true},
		call("greet", `{"name":"Docker"}`),
		call("finish", `{"message":"greeted"}`),
	)
	cfg := json.RawMessage(`{"mcpServers":{"everything":{"command":"/workspace/.mcp/everything"}}}`)
	a, _, err := f.m.Create(context.Background(), session.CreateRequest{Agent: &session.Agent{MCPConfig: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	archive := tarOf(t, "everything", bin)
	if err := a.WithSandbox(ctx, func(cl *agentapi.Client) error {
		_, err := cl.UploadTar(ctx, "/workspace/.mcp", bytes.NewReader(archive))
		return err
	}); err != nil {
		t.Fatalf("upload the server into the sandbox: %v", err)
	}
	run := true
	if _, err := a.SendMessage(ctx, session.MessageRequest{Role: "user", Content: event.Text("greet Docker"), Run: &run}); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	if errs := ofKind[*event.ConversationError](evs); len(errs) > 0 {
		t.Errorf("errors: %+v", errs)
	}
	obs := ofKind[*event.Observation](evs)
	if len(obs) == 0 {
		t.Fatal("no observation")
	}
	if o, ok := obs[0].Observation.(*event.MCPToolObservation); !ok || o.IsError || !strings.Contains(o.Content.Text(), "Hi Docker") {
		t.Fatalf("observation %+v, want greet's answer from the container", obs[0].Observation)
	}
	// The server ran in the container: the runtime-agent there lists it.
	var procs []agentapi.ProcessInfo
	a.WithSandbox(ctx, func(cl *agentapi.Client) error {
		procs, err = cl.Processes(ctx)
		return err
	})
	if !slices.ContainsFunc(procs, func(p agentapi.ProcessInfo) bool { return p.Name == "mcp-everything" && p.Running }) {
		t.Errorf("the sandbox's processes %+v, want the everything server running", procs)
	}
}

// tarOf is a tar archive of one executable file.
func tarOf(t *testing.T, name, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// brokenServer builds mcpclient's broken MCP server once per run.
var brokenServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gohands-broken-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "broken")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gohands/gohands/mcpclient/internal/brokenserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

// TestMCPBrokenServerInTheSandbox: the bad inputs of a server of our own,
// run in the in-memory sandbox, each end as an event or an error
// observation the model can act on, and the conversation goes on: tools
// whose schema cannot be offered and a server printing garbage are told;
// a 50 MB result is cut, the whole saved in the sandbox; a failing tool
// and a crash mid-call are error observations; a tool added mid-run
// (tools/list_changed) is offered from the next step.
func TestMCPBrokenServerInTheSandbox(t *testing.T) {
	bin, err := brokenServer()
	if err != nil {
		t.Fatalf("build the broken MCP server: %v", err)
	}
	model := llmtest.New(t,
		call("big", `{}`),
		call("fail", `{}`),
		call("add_tool", `{}`),
		// The server's tools/list_changed is taken up in the background:
		// a step held back a moment gives it the time.
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"a tool was added"}`}}, Delay: time.Second},
		call("added", `{}`),
		call("crash", `{}`),
		call("echo", `{"text":"after the crash"}`),
		call("finish", `{"message":"done"}`),
	)
	work := t.TempDir()
	be := sandboxtest.New(t)
	be.Engine().SetWorkspace(work)
	m := mcpManager(t, be, model, work)
	cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{
		"broken":  map[string]any{"command": bin},
		"garbage": map[string]any{"command": bin, "args": []string{"-mode", "garbage"}},
	}})
	a, _, err := m.Create(context.Background(), session.CreateRequest{
		Agent:          &session.Agent{LLM: session.LLM{Model: "openai/test-model", APIKey: "test-key", BaseURL: model.URL() + "/v1"}, MCPConfig: cfg},
		InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("try everything")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s; %+v", st, lastError(allEvents(t, a)))
	}
	evs := allEvents(t, a)
	errs := ofKind[*event.ConversationError](evs)
	if len(errs) != 1 {
		t.Fatalf("errors %+v, want one MCP warning", errs)
	}
	for _, want := range []string{"garbage", "string schema", "huge schema"} {
		if !strings.Contains(errs[0].Detail, want) {
			t.Errorf("the warning %q does not name %q", errs[0].Detail, want)
		}
	}
	obs := ofKind[*event.Observation](evs)
	if len(obs) != 8 {
		t.Fatalf("%d observations, want 8", len(obs))
	}
	big := obs[0].Observation.(*event.MCPToolObservation)
	text := big.Content.Text()
	if big.FullOutputPath == "" || len(text) > 100<<10 || !strings.Contains(text, "HEAD") || !strings.Contains(text, "TAIL") {
		t.Fatalf("big result: %d bytes shown, full output %q", len(text), big.FullOutputPath)
	}
	t.Cleanup(func() { os.Remove(big.FullOutputPath) })
	if st, err := os.Stat(big.FullOutputPath); err != nil || st.Size() != 50<<20 {
		t.Errorf("the saved result: %v, %v; want 50 MiB", st, err)
	}
	for i, want := range []struct {
		isError bool
		says    string
	}{{true, "the widget is broken"}, {false, "added"}, {false, ""}, {false, "I was added"}, {true, "stopped during the call"}, {false, "after the crash"}} {
		o := obs[i+1].Observation.Output()
		if o.IsError != want.isError || !strings.Contains(o.Content.Text(), want.says) {
			t.Errorf("observation %d: error %v %q; want error %v saying %q", i+1, o.IsError, o.Content.Text(), want.isError, want.says)
		}
	}
	if names := offeredNames(model.Requests()[4]); !slices.Contains(names, "added") {
		t.Errorf("the step after add_tool offered %v, want added among them", names)
	}
}
