package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/security"
)

// all is every tool, in order, by name and by the kinds of the actions it
// runs.
var all = newRegistry(append([]Tool{
	terminal{}, fileEditor{}, applyPatch{}, fetcher{}, glob{}, grep{}, taskTracker{}, think{}, finish{},
	recall{}}, browserTools()...)...)

// browserTools are the tools of the browser tool set. They come after the
// text fetcher so that they run the navigate and get_content actions the
// two share: on the browser where the conversation has one, through the
// fetcher where not.
func browserTools() []Tool {
	out := make([]Tool, len(browserSet))
	for i, t := range browserSet {
		out[i] = t
	}
	return out
}

type registry struct {
	list     []Tool
	byName   map[string]Tool
	byAction map[string]Tool
}

func newRegistry(ts ...Tool) registry {
	r := registry{list: ts, byName: make(map[string]Tool), byAction: make(map[string]Tool)}
	for _, t := range ts {
		s := t.Spec()
		r.byName[s.Name] = t
		for _, k := range s.Actions {
			r.byAction[k] = t
		}
	}
	return r
}

// Default are the tools an agent gets when its conversation names none;
// Offer turns the browser tool set into the tools the deployment has.
var Default = []string{event.ToolTerminal, event.ToolFileEditor, event.ToolTaskTracker,
	event.ToolGlob, event.ToolGrep, event.ToolApplyPatch, event.ToolBrowserToolSet, event.ToolThink, event.ToolFinish}

// Offer returns the tools a conversation whose workspace is ws is
// offered of names (Names' result): the browser tool set becomes the
// browser tools (browser_navigate, browser_click...) where ws reaches a
// browser, and the text fetcher (browser) where not.
func Offer(names []string, ws Workspace) []string {
	set := []string{event.ToolBrowser}
	if HasBrowser(ws) {
		set = event.BrowserTools()
	}
	var out []string
	for _, n := range names {
		add := []string{n}
		if n == event.ToolBrowserToolSet {
			add = set
		}
		for _, a := range add {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Lookup returns the tool of a name.
func Lookup(name string) (Tool, bool) {
	t, ok := all.byName[name]
	return t, ok
}

// For returns the tool that runs an action. An MCP tool's action gets a
// tool that finds its server's tool again by name.
func For(act event.ToolAction) (Tool, bool) {
	if act == nil {
		return nil, false
	}
	if a, ok := act.(*event.MCPToolAction); ok {
		return mcpTool{MCPTool{Server: a.Server, Remote: a.Tool}}, true
	}
	t, ok := all.byAction[act.Kind()]
	return t, ok
}

// KindTool returns the name of the tool that runs actions of a kind.
func KindTool(kind string) (string, bool) { return all.kindTool(kind) }

func (r registry) kindTool(kind string) (string, bool) {
	t, ok := r.byAction[kind]
	if !ok {
		return "", false
	}
	return t.Spec().Name, true
}

// Run runs an action with its tool; see Tool.Run. An action no tool runs
// is answered with an error observation.
func Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	t, ok := For(act)
	if !ok {
		return Failed(act, fmt.Sprintf("the %s action cannot run here", act.Kind())), nil
	}
	return t.Run(ctx, ws, act)
}

// RunTool runs an action as the tool of a name calls it: an action of the
// text fetcher (browser), such as V0's browse, fetches its page as text
// even where the conversation has a browser, which the browser tools'
// actions of the same kinds would drive.
func RunTool(ctx context.Context, ws Workspace, name string, act event.ToolAction) (event.ToolObservation, error) {
	if name == event.ToolBrowser && ws != nil {
		ws = withoutBrowser{ws}
	}
	return Run(ctx, ws, act)
}

// withoutBrowser is a workspace whose browser the tools do not see.
type withoutBrowser struct{ Workspace }

// Failed is the observation of an action that could not run; see
// Tool.Failed.
func Failed(act event.ToolAction, msg string) event.ToolObservation {
	if t, ok := For(act); ok {
		return t.Failed(act, msg)
	}
	return failedPlain(msg)
}

// CouldNotRun is the observation of an action whose sandbox could not be
// reached (err, Run's error): the action's own error observation, saying
// so.
func CouldNotRun(act event.ToolAction, err error) event.ToolObservation {
	return Failed(act, "The action could not run: "+err.Error())
}

// Texts returns the texts of an action a search reads; see Tool.Texts.
// An action no tool runs gives its string fields.
func Texts(act event.ToolAction) []string {
	if t, ok := For(act); ok {
		return t.Texts(act)
	}
	if u, ok := act.(*event.UnknownAction); ok {
		return unknownTexts(u)
	}
	return nil
}

// SecurityFields returns, for security.Options.Tools, the fields rules
// may name of each tool that lets rules cover it; see
// Tool.SecurityFields.
func SecurityFields() []security.ToolFields { return all.securityFields() }

func (r registry) securityFields() []security.ToolFields {
	var out []security.ToolFields
	for _, t := range r.list {
		if f := t.SecurityFields(); f.Tool != "" {
			out = append(out, f)
		}
	}
	return out
}

// Names returns a conversation's tools, normalised, with think and finish
// always there; Default when it names none.
func Names(configured []string) []string {
	if len(configured) == 0 {
		return slices.Clone(Default)
	}
	var out []string
	for _, n := range configured {
		if name, ok := event.ToolName(n); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, n := range []string{event.ToolThink, event.ToolFinish} {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// securityRiskSchema is added to every tool when the model rates its own
// actions.
const securityRiskSchema = `{"type":"string","enum":["LOW","MEDIUM","HIGH"],` +
	`"description":"How risky this action is: LOW (reads, or harmless changes in the workspace), MEDIUM (changes outside the workspace, installs), HIGH (destructive, irreversible, or sends data out)."}`

// Specs returns the model's tool list and the SystemPromptEvent's for the
// named tools. With rateRisk, every tool takes a security_risk argument.
func Specs(names []string, rateRisk bool) ([]llm.Tool, []event.ToolSpec) {
	var out []llm.Tool
	var shown []event.ToolSpec
	for _, n := range names {
		if n == event.ToolBrowserToolSet {
			n = event.ToolBrowser // a set Offer did not resolve: the fetcher, which works everywhere
		}
		t, ok := Lookup(n)
		if !ok {
			continue
		}
		s := t.Spec()
		schema := s.Parameters
		if rateRisk {
			schema = withRisk(schema)
		}
		out = append(out, llm.Tool{Name: s.Name, Description: s.Description, Parameters: schema})
		shown = append(shown, event.ToolSpec{Kind: s.Kind, Name: s.Name, Description: s.Description, Parameters: schema})
	}
	return out, shown
}

// withRisk adds a required security_risk property to a schema.
func withRisk(schema json.RawMessage) json.RawMessage {
	var m map[string]any
	json.Unmarshal(schema, &m)
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		m["properties"] = props
	}
	var risk any
	json.Unmarshal([]byte(securityRiskSchema), &risk)
	props["security_risk"] = risk
	req, _ := m["required"].([]any)
	m["required"] = append(req, "security_risk")
	out, _ := json.Marshal(m)
	return out
}

// schema compacts a tool's JSON schema.
func schema(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic("tools: bad tool schema: " + err.Error())
	}
	return b.Bytes()
}
