package tools

import (
	"context"
	"encoding/json"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// Agent is what tools call of a sandbox's runtime-agent.
type Agent interface {
	Exec(ctx context.Context, terminal string, req agentapi.ExecRequest) (agentapi.ExecResult, error)
	ResetTerminal(ctx context.Context, terminal string) error
	CreateTerminal(ctx context.Context, name, dir string) (agentapi.TerminalInfo, error)
	CloseTerminal(ctx context.Context, name string) error
	Edit(ctx context.Context, req agentapi.EditRequest) (agentapi.EditResult, error)
	ReadFile(ctx context.Context, path string, start, end int) (agentapi.FileText, error)
	WriteFile(ctx context.Context, path, content string) (agentapi.FileEntry, error)
	Stat(ctx context.Context, path string) (agentapi.FileEntry, error)
	Glob(ctx context.Context, req agentapi.GlobRequest) (agentapi.GlobResult, error)
	Grep(ctx context.Context, req agentapi.GrepRequest) (agentapi.GrepResult, error)
	Browse(ctx context.Context, req agentapi.BrowseRequest) (agentapi.BrowseResult, error)
	// Run runs a program by its arguments, without a shell or terminal.
	Run(ctx context.Context, req agentapi.RunRequest) (agentapi.RunResult, error)
}

var _ Agent = (*agentapi.Client)(nil)

// Workspace is where a tool runs: a conversation's sandbox and what a
// tool may read of the conversation.
type Workspace interface {
	// WorkingDir is the folder relative paths and searches start at.
	WorkingDir() string
	// WithAgent runs fn with the sandbox's runtime-agent, starting the
	// sandbox if need be. Its error is the sandbox's: it could not be
	// reached.
	WithAgent(ctx context.Context, fn func(Agent) error) error
	// Events returns the conversation's events so far, oldest first.
	Events() ([]event.Event, error)
	// Search returns at most limit events of the conversation whose
	// text holds query, newest first.
	Search(query string, limit int) ([]event.Event, error)
	// MCP returns the conversation's MCP servers, connecting them on
	// first use; nil when it has none. Its error is the sandbox's, as
	// WithAgent's: servers that fail to start are left out, not errors.
	MCP(ctx context.Context) (MCPServers, error)
}

// Spec describes a tool to the model and in the SystemPromptEvent.
type Spec struct {
	Name string
	// Kind is the SDK's class name ("TerminalTool").
	Kind        string
	Description string
	// Parameters is the JSON schema of the arguments.
	Parameters json.RawMessage
	// Actions are the kinds of the actions the tool runs.
	Actions []string
}

// Tool is one tool an agent can call.
type Tool interface {
	Spec() Spec
	// Decode turns the model's arguments into an action; its error tells
	// the model what to fix.
	Decode(args []byte) (event.ToolAction, error)
	// Run runs the action and returns its observation. A failure of the
	// tool itself (a missing file, a command that exits non-zero) is an
	// observation with is_error; an error return means the sandbox could
	// not be reached.
	Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error)
	// Failed is the observation of an action that could not run, with
	// msg as its content.
	Failed(act event.ToolAction, msg string) event.ToolObservation
	// Texts are the action's texts a search of the conversation reads.
	Texts(act event.ToolAction) []string
	// SecurityFields tells security rules which fields of the tool's
	// actions they may name and how to read them; a zero Tool leaves the
	// tool to no rule (its actions rate UNKNOWN).
	SecurityFields() security.ToolFields
}
