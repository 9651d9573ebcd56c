package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi/agentapitest"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// workspace is a conversation for tools: an in-memory agent, events held
// in a slice.
type workspace struct {
	agent  *agentapitest.Agent
	dir    string
	events []event.Event
	// down, when set, is the error of a sandbox that cannot be reached.
	down error
	// mcp are the conversation's MCP servers, if any.
	mcp tools.MCPServers
}

func newWorkspace() *workspace {
	return &workspace{agent: agentapitest.NewAgent(), dir: "/workspace"}
}

func (w *workspace) WorkingDir() string { return w.dir }

func (w *workspace) WithAgent(_ context.Context, fn func(tools.Agent) error) error {
	if w.down != nil {
		return w.down
	}
	return fn(w.agent)
}

func (w *workspace) Events() ([]event.Event, error) { return w.events, nil }

func (w *workspace) MCP(context.Context) (tools.MCPServers, error) {
	if w.down != nil {
		return nil, w.down
	}
	return w.mcp, nil
}

func (w *workspace) Search(query string, limit int) ([]event.Event, error) {
	var out []event.Event
	for i := len(w.events) - 1; i >= 0 && len(out) < limit; i-- {
		b, _ := event.Marshal(w.events[i])
		if strings.Contains(string(b), query) {
			out = append(out, w.events[i])
		}
	}
	return out, nil
}

// call decodes a model's call of a tool and runs it.
func call(t *testing.T, ws tools.Workspace, name string, args any) event.ToolObservation {
	t.Helper()
	tool, ok := tools.Lookup(name)
	if !ok {
		t.Fatalf("no tool %q", name)
	}
	raw, _ := json.Marshal(args)
	act, err := tool.Decode(raw)
	if err != nil {
		t.Fatalf("%s: decode %s: %v", name, raw, err)
	}
	obs, err := tools.Run(context.Background(), ws, act)
	if err != nil {
		t.Fatalf("%s: run: %v", name, err)
	}
	return obs
}

// text is an observation's content as text.
func text(o event.ToolObservation) string { return o.Output().Content.Text() }
