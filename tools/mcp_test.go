package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/tools"
)

// mcpServers are MCP servers in memory: each call answers with result.
type mcpServers struct {
	tools  []tools.MCPTool
	result tools.MCPResult
	calls  []string // "tool args"
}

func (s *mcpServers) Tools() []tools.MCPTool { return s.tools }

func (s *mcpServers) Call(_ context.Context, tool string, args json.RawMessage) tools.MCPResult {
	s.calls = append(s.calls, tool+" "+string(args))
	return s.result
}

var greet = tools.MCPTool{Name: "everything_greet", Server: "everything", Remote: "greet",
	Description: "Say hi", InputSchema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}}}`)}

func TestMCPDecode(t *testing.T) {
	t.Parallel()
	tool := tools.MCP(greet)
	if s := tool.Spec(); s.Name != "everything_greet" || s.Description != "Say hi" || string(s.Parameters) != string(greet.InputSchema) {
		t.Errorf("Spec = %+v", s)
	}
	act, err := tool.Decode([]byte(`{"name":"Ada","security_risk":"LOW","summary":"hi","gone":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &event.MCPToolAction{Data: json.RawMessage(`{"name":"Ada"}`), Server: "everything", Tool: "greet"}
	if diff := cmp.Diff(act, event.ToolAction(want)); diff != "" {
		t.Errorf("Decode (-got +want):\n%s", diff)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{`, `null`} {
		if _, err := tool.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) accepted", bad)
		}
	}
	if act, err := tool.Decode(nil); err != nil || string(act.(*event.MCPToolAction).Data) != "{}" {
		t.Errorf("Decode(nothing) = %v, %v; want {}", act, err)
	}
}

func TestMCPRun(t *testing.T) {
	t.Parallel()
	ws := newWorkspace()
	servers := &mcpServers{tools: []tools.MCPTool{greet}, result: tools.MCPResult{
		Content:    event.ContentList{{Type: event.ContentText, Text: "[Tool 'everything_greet' executed.]"}, {Type: event.ContentText, Text: "Hi Ada"}, {Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64,AA=="}}},
		Structured: json.RawMessage(`{"greeting":"Hi Ada"}`),
	}}
	ws.mcp = servers
	// The action alone, as one stored before a restart, finds its tool.
	act := &event.MCPToolAction{Data: json.RawMessage(`{"name":"Ada"}`), Server: "everything", Tool: "greet"}
	obs, err := tools.Run(context.Background(), ws, act)
	if err != nil {
		t.Fatal(err)
	}
	want := &event.MCPToolObservation{ToolName: "everything_greet", StructuredContent: json.RawMessage(`{"greeting":"Hi Ada"}`)}
	want.Content = event.ContentList{{Type: event.ContentText, Text: "[Tool 'everything_greet' executed.]"},
		{Type: event.ContentText, Text: "Hi Ada"}, {Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64,AA=="}}}
	if diff := cmp.Diff(obs, event.ToolObservation(want)); diff != "" {
		t.Errorf("Run (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(servers.calls, []string{`everything_greet {"name":"Ada"}`}); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestMCPRunSavesTheWholeText(t *testing.T) {
	t.Parallel()
	ws := newWorkspace()
	whole := strings.Repeat("line of a long result\n", 5000)
	ws.mcp = &mcpServers{tools: []tools.MCPTool{greet}, result: tools.MCPResult{
		Content: event.Text(whole[:100] + "\n[cut]\n" + whole[len(whole)-100:]), Full: whole}}
	obs, err := tools.Run(context.Background(), ws, &event.MCPToolAction{Server: "everything", Tool: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	o := obs.(*event.MCPToolObservation)
	if !strings.HasPrefix(o.FullOutputPath, tools.MCPOutputDir+"/everything-greet-") {
		t.Fatalf("full_output_path = %q", o.FullOutputPath)
	}
	saved, err := ws.agent.ReadFile(context.Background(), o.FullOutputPath, 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Content != whole || !strings.Contains(text(o), o.FullOutputPath) {
		t.Errorf("saved %d bytes of %d; content %q", len(saved.Content), len(whole), text(o))
	}
}

func TestMCPRunFailures(t *testing.T) {
	t.Parallel()
	act := &event.MCPToolAction{Server: "everything", Tool: "greet"}
	tests := []struct {
		name    string
		servers tools.MCPServers
		want    string
	}{
		{"no servers", nil, "has no MCP servers"},
		{"tool gone", &mcpServers{}, `The MCP server "everything" offers no tool "greet" now.`},
		{"server error", &mcpServers{tools: []tools.MCPTool{greet}, result: tools.MCPResult{IsError: true, Content: event.Text("timed out after 120s")}}, "timed out after 120s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := newWorkspace()
			ws.mcp = tt.servers
			obs, err := tools.Run(context.Background(), ws, act)
			if err != nil {
				t.Fatal(err)
			}
			if !obs.Output().IsError || !strings.Contains(text(obs), tt.want) {
				t.Errorf("got %q (is_error %v), want an error saying %q", text(obs), obs.Output().IsError, tt.want)
			}
			if o := obs.(*event.MCPToolObservation); o.ToolName == "" {
				t.Error("observation names no tool")
			}
		})
	}
	ws := newWorkspace()
	ws.down = errors.New("sandbox down")
	if _, err := tools.Run(context.Background(), ws, act); err == nil {
		t.Error("Run with the sandbox down gave no error")
	}
}

// TestMCPRatedUnknown checks that the rule analyzer leaves an MCP action
// at UNKNOWN, whatever its arguments say, rather than rating it LOW.
func TestMCPRatedUnknown(t *testing.T) {
	t.Parallel()
	an, err := security.Options{Workspace: "/workspace", ToolOf: tools.KindTool, Tools: append(tools.SecurityFields(), tools.MCP(greet).SecurityFields())}.
		NewAnalyzer(security.KindRules, nil)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := tools.MCP(greet).Decode([]byte(`{"name":"ls"}`))
	v := an.Analyze(context.Background(), &event.Action{Action: act, ToolName: "everything_greet"})
	if v.Risk != event.RiskUnknown {
		t.Errorf("risk = %s (%s), want UNKNOWN", v.Risk, v.Reason)
	}
	// The terminal's harmless command is LOW with the same analyzer: the
	// analyzer does rate what it knows.
	if v := an.Analyze(context.Background(), &event.Action{Action: &event.TerminalAction{Command: "ls"}, ToolName: "terminal"}); v.Risk != event.RiskLow {
		t.Errorf("terminal ls risk = %s, want LOW", v.Risk)
	}
}
