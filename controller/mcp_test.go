package controller_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/tools"
)

// mcpServers are MCP servers in memory: "echo" answers with its text
// argument, "broken" with an error.
type mcpServers struct {
	mu    sync.Mutex
	tools []tools.MCPTool
	after []tools.MCPTool // the tools after the first call, if any
	calls []string
}

func (s *mcpServers) Tools() []tools.MCPTool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tools)
}

func (s *mcpServers) Call(_ context.Context, tool string, args json.RawMessage) tools.MCPResult {
	s.mu.Lock()
	s.calls = append(s.calls, tool+" "+string(args))
	if s.after != nil {
		s.tools, s.after = s.after, nil
	}
	s.mu.Unlock()
	if tool == "broken" {
		return tools.MCPResult{IsError: true, Content: event.Text(`MCP server "b" did not answer within 1s`)}
	}
	var a struct{ Text string }
	json.Unmarshal(args, &a)
	return tools.MCPResult{Content: event.Text("echo: " + a.Text), Structured: json.RawMessage(`{"n":1}`)}
}

func mcpTool(name, server, remote string) tools.MCPTool {
	return tools.MCPTool{Name: name, Server: server, Remote: remote, Description: "The " + remote + " tool",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)}
}

// TestMCPToolsOffered: the model is offered the MCP tools beside the
// built-in ones, in its request and in the SystemPromptEvent; its call
// runs on the server and the result goes back to it; a failed call is an
// error observation it sees, and the run goes on.
func TestMCPToolsOffered(t *testing.T) {
	model := llmtest.New(t,
		call("echo", `{"text":"hi","security_risk":"LOW"}`),
		call("broken", `{}`),
		call("finish", `{"message":"done"}`),
	)
	conv := newConversation(model, "use the MCP tools")
	servers := &mcpServers{tools: []tools.MCPTool{mcpTool("echo", "a", "echo (v2)"), mcpTool("broken", "b", "broken")}}
	conv.mcp = servers
	out, err := newController().RunConversation(context.Background(), conv, false)
	if err != nil || out.Kind != session.Finished {
		t.Fatalf("RunConversation = %+v, %v; want finished", out, err)
	}
	reqs := model.Requests()
	var offered []string
	for _, tl := range reqs[0].Tools() {
		fn, _ := tl["function"].(map[string]any)
		offered = append(offered, fn["name"].(string))
	}
	if !slices.Contains(offered, "echo") || !slices.Contains(offered, "broken") || !slices.Contains(offered, "terminal") {
		t.Errorf("model offered %v, want the MCP tools beside the built-in ones", offered)
	}
	evs := conv.all()
	sp := ofKind[*event.SystemPrompt](evs)
	if len(sp) != 1 || !slices.ContainsFunc(sp[0].Tools, func(s event.ToolSpec) bool { return s.Name == "echo" && s.Kind == "MCPToolDefinition" }) {
		t.Errorf("system prompt tools %+v, want echo among them", sp)
	}
	acts := ofKind[*event.Action](evs)
	a, ok := acts[0].Action.(*event.MCPToolAction)
	if !ok || a.Server != "a" || a.Tool != "echo (v2)" || string(a.Data) != `{"text":"hi"}` || acts[0].ToolName != "echo" {
		t.Fatalf("first action %+v (%T), want the MCP call of echo", acts[0], acts[0].Action)
	}
	obs := ofKind[*event.Observation](evs)
	o, ok := obs[0].Observation.(*event.MCPToolObservation)
	if !ok || o.IsError || !strings.Contains(o.Content.Text(), "echo: hi") || string(o.StructuredContent) != `{"n":1}` {
		t.Fatalf("first observation %+v, want the echo", obs[0].Observation)
	}
	if o := obs[1].Observation; !o.Output().IsError || !strings.Contains(o.Output().Content.Text(), "did not answer") {
		t.Errorf("second observation %+v, want the server's error", o)
	}
	if !strings.Contains(string(reqs[1].Raw), "echo: hi") || !strings.Contains(string(reqs[2].Raw), "did not answer") {
		t.Error("the model was not shown the MCP results")
	}
}

// TestMCPToolsChange: the tools the servers offer after a change
// (list_changed) are offered from the next step; a tool they dropped is
// no longer callable.
func TestMCPToolsChange(t *testing.T) {
	servers := &mcpServers{tools: []tools.MCPTool{mcpTool("echo", "a", "echo")},
		after: []tools.MCPTool{mcpTool("shout", "a", "shout")}}
	model := llmtest.New(t,
		call("echo", `{"text":"one"}`),
		call("shout", `{"text":"two"}`),
		call("echo", `{"text":"three"}`),
		call("finish", `{"message":"done"}`),
	)
	conv := newConversation(model, "x")
	conv.mcp = servers
	out, err := newController().RunConversation(context.Background(), conv, false)
	if err != nil || out.Kind != session.Finished {
		t.Fatalf("RunConversation = %+v, %v", out, err)
	}
	names := func(r llmtest.Request) []string {
		var out []string
		for _, tl := range r.Tools() {
			fn, _ := tl["function"].(map[string]any)
			out = append(out, fn["name"].(string))
		}
		return out
	}
	reqs := model.Requests()
	if first, second := names(reqs[0]), names(reqs[1]); !slices.Contains(first, "echo") || slices.Contains(first, "shout") ||
		!slices.Contains(second, "shout") || slices.Contains(second, "echo") {
		t.Errorf("offered %v, then %v; want echo, then shout instead", first, second)
	}
	servers.mu.Lock()
	calls := slices.Clone(servers.calls)
	servers.mu.Unlock()
	if want := []string{`echo {"text":"one"}`, `shout {"text":"two"}`}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	errs := ofKind[*event.AgentError](conv.all())
	if len(errs) != 1 || !strings.Contains(errs[0].Error, `There is no tool "echo"`) || !strings.Contains(errs[0].Error, "shout") {
		t.Errorf("agent errors %+v, want one saying echo is gone", errs)
	}
}

// TestMCPActionHookAndConfirmation: a pre-action hook sees an MCP
// action's server, tool and arguments and can block it; a confirmation
// policy holds it, and once accepted it runs from the recorded action
// alone.
func TestMCPActionHookAndConfirmation(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "no-delete.sh")
	seen := filepath.Join(dir, "seen.json")
	os.WriteFile(script, []byte(`#!/bin/sh
cat > `+seen+`
if grep -q '"tool":"delete_repo"' `+seen+`; then
  echo '{"decision":"deny","reason":"no deleting repositories"}'
fi
exit 0
`), 0o755)
	model := llmtest.New(t,
		call("delete_repo", `{"text":"gohands"}`),
		call("echo", `{"text":"held"}`),
		call("finish", `{"message":"done"}`),
	)
	conv := newConversation(model, "x")
	servers := &mcpServers{tools: []tools.MCPTool{mcpTool("delete_repo", "github", "delete_repo"), mcpTool("echo", "a", "echo")}}
	conv.mcp = servers
	conv.settings.Hooks = []security.Hook{{Name: "no-delete", Event: "pre_action", Command: []string{script}}}
	conv.settings.ConfirmationPolicy = session.ConfirmationPolicy{Kind: session.ConfirmRisky, Threshold: "HIGH", ConfirmUnknown: ptr(true)}
	ctl := newController()
	// The first call is UNKNOWN (no analyzer) and so waits.
	out, err := ctl.RunConversation(context.Background(), conv, false)
	if err != nil || out.Kind != session.Waiting {
		t.Fatalf("first run = %+v, %v; want waiting", out, err)
	}
	if len(servers.calls) != 0 {
		t.Fatalf("calls %q before confirmation", servers.calls)
	}
	out, err = ctl.RunConversation(context.Background(), conv, true)
	if err != nil || out.Kind != session.Waiting {
		t.Fatalf("second run = %+v, %v; want waiting for the echo", out, err)
	}
	raw, _ := os.ReadFile(seen)
	if !strings.Contains(string(raw), `"server":"github"`) {
		t.Errorf("the hook saw %s, want the MCP action with its server", raw)
	}
	rej := ofKind[*event.UserReject](conv.all())
	if len(rej) != 1 || !strings.Contains(rej[0].RejectionReason, "no deleting repositories") {
		t.Fatalf("rejections %+v, want the hook's", rej)
	}
	// The echo runs; the finish (UNKNOWN too) waits, and then runs.
	for i, want := range []session.OutcomeKind{session.Waiting, session.Finished} {
		out, err = ctl.RunConversation(context.Background(), conv, true)
		if err != nil || out.Kind != want {
			t.Fatalf("run %d = %+v, %v; want %v", i+3, out, err, want)
		}
	}
	if want := []string{`echo {"text":"held"}`}; !slices.Equal(servers.calls, want) {
		t.Errorf("calls %q, want only %q (the blocked one never ran)", servers.calls, want)
	}
}
