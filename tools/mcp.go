package tools

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/security"
)

// MCPTool is a tool of one of a conversation's Model Context Protocol
// servers, as the conversation offers it to the model.
type MCPTool struct {
	// Name is the name offered to the model, unique among the
	// conversation's tools.
	Name string
	// Server is the MCP server's name in the conversation's mcpServers.
	Server string
	// Remote is the tool's name on its server.
	Remote      string
	Description string
	// InputSchema is the JSON schema of the arguments, an object schema.
	InputSchema json.RawMessage
}

// MCPResult is what a call of an MCP tool gave.
type MCPResult struct {
	// Content holds the result's text and image parts, led by the line
	// naming the tool that the SDK's observation starts with.
	Content event.ContentList
	// Structured is the result's structuredContent, if any.
	Structured json.RawMessage
	IsError    bool
	// Full is the whole text of a result whose text was cut, or "".
	Full string
}

// MCPServers are a conversation's MCP servers, connected.
type MCPServers interface {
	// Tools lists the servers' tools as they are offered now.
	Tools() []MCPTool
	// Call calls a tool by its offered name. It never hangs: a timeout,
	// a dead server or a protocol error is a result with IsError.
	Call(ctx context.Context, tool string, args json.RawMessage) MCPResult
}

// MCPOutputDir is the folder in the sandbox where the whole text of an MCP
// result too long to show is saved.
const MCPOutputDir = "/tmp/gohands/mcp"

// mcpTool runs one MCP tool; see MCP.
type mcpTool struct{ t MCPTool }

// MCP returns the tool of an MCP server's tool. Its actions run through
// the workspace's MCP servers (Workspace.MCP), found again by server and
// tool name, so that an action recorded earlier runs after a restart too.
// It gives security rules no fields: rules rate its actions UNKNOWN.
func MCP(t MCPTool) Tool { return mcpTool{t} }

// mcpKind is the kind of the SDK's tool definition for MCP tools.
const mcpKind = "MCPToolDefinition"

func (m mcpTool) Spec() Spec {
	return Spec{Name: m.t.Name, Kind: mcpKind, Description: m.t.Description,
		Parameters: m.t.InputSchema, Actions: []string{"MCPToolAction"}}
}

// Decode keeps the model's arguments as they are, less the fields every
// tool may carry (security_risk, summary) and null values, which the SDK
// does not pass on either; the server checks them against its schema.
func (m mcpTool) Decode(args []byte) (event.ToolAction, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(args, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("the arguments are not a JSON object")
	}
	delete(fields, "security_risk")
	delete(fields, "summary")
	for k, v := range fields {
		if string(v) == "null" {
			delete(fields, k)
		}
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("the arguments are not a JSON object: %v", err)
	}
	return &event.MCPToolAction{Data: data, Server: m.t.Server, Tool: m.t.Remote}, nil
}

func (m mcpTool) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	return runMCP(ctx, ws, act.(*event.MCPToolAction), m.t.Name)
}

func (m mcpTool) Failed(act event.ToolAction, msg string) event.ToolObservation {
	name := m.t.Name
	if name == "" {
		name = act.(*event.MCPToolAction).Tool
	}
	return mcpFailed(name, msg)
}

func (mcpTool) Texts(act event.ToolAction) []string { return mcpTexts(act.(*event.MCPToolAction)) }

func (mcpTool) SecurityFields() security.ToolFields { return security.ToolFields{} }

// runMCP calls the tool an MCPToolAction names on the workspace's MCP
// servers. name is the tool's offered name, for the observation; "" takes
// the one the servers offer now.
func runMCP(ctx context.Context, ws Workspace, a *event.MCPToolAction, name string) (event.ToolObservation, error) {
	servers, err := ws.MCP(ctx)
	if err != nil {
		return nil, err
	}
	label := name
	if label == "" {
		label = a.Tool
	}
	if servers == nil {
		return mcpFailed(label, "This conversation has no MCP servers now, so the tool cannot run."), nil
	}
	t, ok := findMCP(servers.Tools(), a.Server, a.Tool)
	if !ok {
		return mcpFailed(label, fmt.Sprintf("The MCP server %q offers no tool %q now.", a.Server, a.Tool)), nil
	}
	if name == "" {
		name = t.Name
	}
	res := servers.Call(ctx, t.Name, a.Data)
	o := &event.MCPToolObservation{ToolName: name, StructuredContent: res.Structured}
	o.Content, o.IsError = res.Content, res.IsError
	if res.Full != "" {
		p, err := saveFull(ctx, ws, a, res.Full)
		if err != nil {
			o.Content = append(o.Content, event.Content{Type: event.ContentText,
				Text: "[The whole result was too long to show and could not be saved: " + err.Error() + "]"})
		} else {
			o.FullOutputPath = p
			o.Content = append(o.Content, event.Content{Type: event.ContentText,
				Text: "[The whole result was saved to " + p + ".]"})
		}
	}
	return o, nil
}

// findMCP finds the tool a server offers by its name there.
func findMCP(ts []MCPTool, server, remote string) (MCPTool, bool) {
	for _, t := range ts {
		if t.Server == server && t.Remote == remote {
			return t, true
		}
	}
	return MCPTool{}, false
}

// unsafeName matches what may not be in a file name of the output folder.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// saveFull writes the whole text of a result to a new file in the sandbox
// and returns its path.
func saveFull(ctx context.Context, ws Workspace, a *event.MCPToolAction, full string) (string, error) {
	var suffix [4]byte
	rand.Read(suffix[:])
	name := unsafeName.ReplaceAllString(a.Server+"-"+a.Tool, "_") + "-" + hex.EncodeToString(suffix[:]) + ".txt"
	p := path.Join(MCPOutputDir, name)
	err := ws.WithAgent(ctx, func(ag Agent) error {
		_, err := ag.WriteFile(ctx, p, full)
		return err
	})
	if err != nil {
		return "", err
	}
	return p, nil
}

// mcpFailed is the error observation of an MCP tool.
func mcpFailed(name, msg string) event.ToolObservation {
	return fail(&event.MCPToolObservation{ToolName: name}, msg)
}

// mcpTexts are the string values of an MCP call's arguments.
func mcpTexts(a *event.MCPToolAction) []string {
	var fields map[string]any
	json.Unmarshal(a.Data, &fields)
	out := []string{a.Server, a.Tool}
	for _, v := range fields {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// MCPSpecs returns the model's tool list and the SystemPromptEvent's for
// MCP tools; see Specs.
func MCPSpecs(ts []MCPTool, rateRisk bool) ([]llm.Tool, []event.ToolSpec) {
	var out []llm.Tool
	var shown []event.ToolSpec
	for _, t := range ts {
		s := MCP(t).Spec()
		schema := s.Parameters
		if rateRisk {
			schema = withRisk(schema)
		}
		out = append(out, llm.Tool{Name: s.Name, Description: s.Description, Parameters: schema})
		shown = append(shown, event.ToolSpec{Kind: s.Kind, Name: s.Name, Description: s.Description, Parameters: schema})
	}
	return out, shown
}
