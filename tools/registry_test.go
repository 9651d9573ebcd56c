package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

var errTest = errors.New("the sandbox is down")

// TestEveryToolIsComplete: each tool the model can be given has a schema
// that is a JSON object, runs the actions it decodes, and answers Failed
// with an error observation.
func TestEveryToolIsComplete(t *testing.T) {
	for _, name := range everyTool() {
		tool, ok := tools.Lookup(name)
		if !ok {
			t.Fatalf("default tool %q is not registered", name)
		}
		s := tool.Spec()
		var m map[string]any
		if err := json.Unmarshal(s.Parameters, &m); err != nil || m["type"] != "object" {
			t.Errorf("%s: schema %s is not an object schema (%v)", name, s.Parameters, err)
		}
		if s.Name != name || s.Kind == "" || s.Description == "" || len(s.Actions) == 0 {
			t.Errorf("%s: incomplete spec %+v", name, s)
		}
		for _, k := range s.Actions {
			if got, ok := tools.For(&event.UnknownAction{RawKind: k}); !ok || got.Spec().Name != runs(name, k) {
				t.Errorf("%s: action kind %s is not routed to it", name, k)
			}
		}
	}
}

func TestSpecs(t *testing.T) {
	llmTools, shown := tools.Specs([]string{event.ToolTerminal, "nonesuch", event.ToolFinish}, true)
	if len(llmTools) != 2 || len(shown) != 2 || shown[0].Kind != "TerminalTool" || shown[1].Name != event.ToolFinish {
		t.Fatalf("Specs: %+v %+v", llmTools, shown)
	}
	var m struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	json.Unmarshal(llmTools[0].Parameters, &m)
	if m.Properties["security_risk"] == nil || !slices.Contains(m.Required, "security_risk") || !slices.Contains(m.Required, "command") {
		t.Errorf("rateRisk schema: %s", llmTools[0].Parameters)
	}
	plain, _ := tools.Specs([]string{event.ToolTerminal}, false)
	if string(plain[0].Parameters) == string(llmTools[0].Parameters) {
		t.Error("security_risk added without rateRisk")
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{nil, tools.Default},
		{[]string{"TerminalTool", "execute_bash", "nonesuch"}, []string{"terminal", "think", "finish"}},
		{[]string{"finish", "grep"}, []string{"finish", "grep", "think"}},
	} {
		if diff := cmp.Diff(tools.Names(tt.in), tt.want); diff != "" {
			t.Errorf("Names(%q) (-got +want):\n%s", tt.in, diff)
		}
	}
}

// TestUnknownAction: an action no tool runs is answered, not run.
func TestUnknownAction(t *testing.T) {
	act := &event.UnknownAction{RawKind: "MCPAction", Fields: map[string]any{"q": "x", "n": 1}}
	o, err := tools.Run(context.Background(), newWorkspace(), act)
	if err != nil || !o.Output().IsError || text(o) != "the MCPAction action cannot run here" {
		t.Errorf("Run: %v %q", err, text(o))
	}
	if got := tools.Texts(act); !cmp.Equal(got, []string{"x"}) {
		t.Errorf("Texts = %q", got)
	}
}

// TestKindTool: every kind of action a tool runs names that tool, and a
// kind no tool runs names none.
func TestKindTool(t *testing.T) {
	for _, name := range everyTool() {
		tool, _ := tools.Lookup(name)
		for _, kind := range tool.Spec().Actions {
			if got, ok := tools.KindTool(kind); !ok || got != runs(name, kind) {
				t.Errorf("KindTool(%q) = %q, %v; want %q", kind, got, ok, name)
			}
		}
	}
	if got, ok := tools.KindTool("DBAction"); ok {
		t.Errorf("KindTool(DBAction) = %q, want none", got)
	}
}

// everyTool is every tool a conversation can be offered: the default
// ones with the browser tool set, and the text fetcher.
func everyTool() []string {
	return append(tools.Offer(tools.Default, newBrowserWorkspace()), event.ToolBrowser)
}

// runs is the tool that runs the actions of a kind the tool of a name
// decodes: itself, but for the text fetcher, whose navigate and
// get_content actions the browser tools run (falling back to it).
func runs(name, kind string) string {
	if name != event.ToolBrowser {
		return name
	}
	return map[string]string{"BrowserNavigateAction": event.ToolBrowserNavigate, "BrowserGetContentAction": event.ToolBrowserGetContent}[kind]
}
