package session

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// Masked is how secret values appear in answers.
const Masked = "**********"

// The execution statuses of a conversation.
const (
	StatusIdle                   = "idle"
	StatusRunning                = "running"
	StatusPaused                 = "paused"
	StatusWaitingForConfirmation = "waiting_for_confirmation"
	StatusFinished               = "finished"
	StatusError                  = "error"
	StatusStuck                  = "stuck"
)

// Statuses lists every execution status.
var Statuses = []string{StatusIdle, StatusRunning, StatusPaused, StatusWaitingForConfirmation,
	StatusFinished, StatusError, StatusStuck}

// DefaultWorkingDir is where commands run unless a conversation says
// otherwise.
const DefaultWorkingDir = "/workspace"

// LLM says which model a conversation's agent uses.
type LLM struct {
	Model   string `json:"model"`
	APIKey  string `json:"api_key,omitempty"`
	BaseURL string `json:"base_url,omitempty"`
	// UsageID names this LLM in metrics, as the SDK does.
	UsageID string `json:"usage_id,omitempty"`
	// Temperature and MaxOutputTokens are passed to the model when set.
	Temperature     *float64 `json:"temperature,omitempty"`
	MaxOutputTokens *int     `json:"max_output_tokens,omitempty"`
	// InputCostPerToken and OutputCostPerToken override the price table.
	InputCostPerToken  *float64 `json:"input_cost_per_token,omitempty"`
	OutputCostPerToken *float64 `json:"output_cost_per_token,omitempty"`
	// Timeout bounds each attempt of a model call, in seconds. NumRetries
	// is how many times a failed attempt (timeout, 5xx, 429, dropped
	// connection) is retried; 0 means never. RetryMinWait and
	// RetryMaxWait bound the backoff between attempts, in seconds. Unset
	// (or 0, for the three durations) means the llm package's defaults;
	// the SDK sends these names.
	Timeout      *float64 `json:"timeout,omitempty"`
	NumRetries   *int     `json:"num_retries,omitempty"`
	RetryMinWait *float64 `json:"retry_min_wait,omitempty"`
	RetryMaxWait *float64 `json:"retry_max_wait,omitempty"`
	// Stream has the answer streamed: its pieces reach the sockets as
	// StreamingDeltaEvents while the model writes it.
	Stream bool `json:"stream,omitempty"`
	// DisableVision says the model takes no images: the images of
	// messages and tool results (screenshots, pictures viewed) are left
	// out of what it is sent, a note in their place.
	DisableVision bool `json:"disable_vision,omitempty"`
}

// Tool names a tool the agent is given.
type Tool struct {
	Name   string          `json:"name"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Agent is the agent of a conversation.
type Agent struct {
	Kind  string `json:"kind,omitempty"`
	LLM   LLM    `json:"llm"`
	Tools []Tool `json:"tools"`
	// MCPConfig is the agent's MCP servers, an mcpServers map as MCP
	// clients write it ({"mcpServers": {name: {command, args, env} or
	// {url, headers}}}); the server's default servers come first. Literal
	// env and header values are kept as secrets, named here by ${NAME}.
	MCPConfig json.RawMessage `json:"mcp_config,omitempty"`
}

// Workspace is where the agent works inside its sandbox.
type Workspace struct {
	Kind       string `json:"kind,omitempty"`
	WorkingDir string `json:"working_dir"`
}

// ConfirmationPolicy decides which actions wait for the user.
type ConfirmationPolicy struct {
	// Kind is NeverConfirm, AlwaysConfirm or ConfirmRisky.
	Kind string `json:"kind"`
	// Threshold (ConfirmRisky) is LOW, MEDIUM or HIGH: actions rated at
	// least this wait.
	Threshold string `json:"threshold,omitempty"`
	// ConfirmUnknown (ConfirmRisky) makes UNKNOWN ratings wait too.
	ConfirmUnknown *bool `json:"confirm_unknown,omitempty"`
}

// The confirmation policy kinds.
const (
	NeverConfirm  = "NeverConfirm"
	AlwaysConfirm = "AlwaysConfirm"
	ConfirmRisky  = "ConfirmRisky"
)

// SecurityAnalyzer names the analyzer that rates actions.
type SecurityAnalyzer struct {
	Kind string `json:"kind"`
	// Rest holds the analyzer's own settings.
	Rest map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the kind and the analyzer's own settings.
func (a SecurityAnalyzer) MarshalJSON() ([]byte, error) {
	m := make(map[string]json.RawMessage, len(a.Rest)+1)
	for k, v := range a.Rest {
		m[k] = v
	}
	kind, _ := json.Marshal(a.Kind)
	m["kind"] = kind
	return json.Marshal(m)
}

// UnmarshalJSON reads the kind and keeps the other fields.
func (a *SecurityAnalyzer) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*a = SecurityAnalyzer{}
	if k, ok := m["kind"]; ok {
		if err := json.Unmarshal(k, &a.Kind); err != nil {
			return &json.UnmarshalTypeError{Value: "non-string", Field: "kind", Type: nil}
		}
		delete(m, "kind")
	}
	if len(m) > 0 {
		a.Rest = m
	}
	return nil
}

// SandboxSettings are a conversation's overrides of the server's sandbox
// defaults.
type SandboxSettings struct {
	Image     string  `json:"image,omitempty"`
	Memory    string  `json:"memory,omitempty"` // "2g", "512m" or bytes
	CPUs      float64 `json:"cpus,omitempty"`
	PidsLimit int64   `json:"pids_limit,omitempty"`
	Network   string  `json:"network,omitempty"` // bridge or none
}

// TokenUsage counts the tokens a conversation used.
type TokenUsage struct {
	Model               string `json:"model,omitempty"`
	PromptTokens        int64  `json:"prompt_tokens"`
	CompletionTokens    int64  `json:"completion_tokens"`
	CacheReadTokens     int64  `json:"cache_read_tokens"`
	CacheWriteTokens    int64  `json:"cache_write_tokens"`
	ReasoningTokens     int64  `json:"reasoning_tokens"`
	ContextWindow       int64  `json:"context_window"`
	PerTurnToken        int64  `json:"per_turn_token"`
	ResponseID          string `json:"response_id,omitempty"`
	AccumulatedRequests int64  `json:"-"`
	// UsageID names the LLM the tokens were used by (its usage_id), for
	// the per-model Stats; not written.
	UsageID string `json:"-"`
}

// add counts usage, the tokens of one step, into the totals t: the
// counts add up, the context window is the largest seen, and the model and
// the last turn's tokens are usage's.
func (t *TokenUsage) add(usage TokenUsage) {
	t.Model = usage.Model
	t.PromptTokens += usage.PromptTokens
	t.CompletionTokens += usage.CompletionTokens
	t.CacheReadTokens += usage.CacheReadTokens
	t.CacheWriteTokens += usage.CacheWriteTokens
	t.ReasoningTokens += usage.ReasoningTokens
	t.ContextWindow = max(t.ContextWindow, usage.ContextWindow)
	t.PerTurnToken = usage.PerTurnToken
}

// Metrics is what a conversation has cost so far.
type Metrics struct {
	AccumulatedCost       float64    `json:"accumulated_cost"`
	AccumulatedTokenUsage TokenUsage `json:"accumulated_token_usage"`
}

// Stats are a conversation's metrics per LLM, keyed by usage id: the
// SDK's ConversationStats.
type Stats struct {
	UsageToMetrics map[string]UsageMetrics `json:"usage_to_metrics"`
}

// UsageMetrics are the metrics of one LLM of a conversation.
type UsageMetrics struct {
	ModelName string `json:"model_name"`
	Metrics
}

// DefaultUsageID names in Stats the agent's LLM when it names itself
// nothing, as the SDK does.
const DefaultUsageID = "default"

// Settings are what a conversation was created with and what has changed
// since, apart from its title and status: stored with the conversation.
// The LLM's API key is not kept here but with the secrets.
type Settings struct {
	Agent              Agent              `json:"agent"`
	Workspace          Workspace          `json:"workspace"`
	MaxIterations      int                `json:"max_iterations"`
	StuckDetection     bool               `json:"stuck_detection"`
	ConfirmationPolicy ConfirmationPolicy `json:"confirmation_policy"`
	SecurityAnalyzer   *SecurityAnalyzer  `json:"security_analyzer"`
	Sandbox            SandboxSettings    `json:"sandbox,omitzero"`
	Metrics            Metrics            `json:"metrics"`
	// Stats are Metrics per LLM; replaced on change, never changed in
	// place.
	Stats Stats `json:"stats,omitzero"`
	// Tags are the client's labels of the conversation.
	Tags map[string]string `json:"tags,omitempty"`
	// AutoTitle says the first user message gives the conversation a
	// title, made by its model in the background.
	AutoTitle bool `json:"autotitle,omitempty"`
	// Hooks are the conversation's own action hooks, run after the
	// server's.
	Hooks []security.Hook `json:"hooks,omitempty"`
	// Protocol is "v0" for conversations made over the /ws socket.
	Protocol string `json:"protocol,omitempty"`
	// Checkpoints is "on" or "off" when the conversation's create
	// request said; "" follows the server's setting.
	Checkpoints string `json:"checkpoints,omitempty"`
	// ForkedFrom says which conversation, and which event of it, this
	// one was forked from; nil for one made by create.
	ForkedFrom *ForkOrigin `json:"forked_from,omitempty"`
}

// ForkOrigin is where a fork came from.
type ForkOrigin struct {
	ConversationID string `json:"conversation_id"`
	// EventID is the from_event_id of the fork, "" for a fork of the
	// whole conversation.
	EventID string `json:"event_id,omitempty"`
	// HostCopy is the folder of the server's host made for the fork's
	// workspace (a copy of the original's host folder, or a git worktree
	// of it), removed with the fork; "" when the workspace is a volume.
	HostCopy string `json:"host_copy,omitempty"`
	// HostDirs are the host folders of the conversations the fork came
	// from, nearest last: paths under them in the checkpoints it copied
	// are paths under HostCopy.
	HostDirs []string `json:"host_dirs,omitempty"`
}

// CreateRequest is the body of POST /api/conversations.
type CreateRequest struct {
	ConversationID     string              `json:"conversation_id,omitempty"`
	Title              string              `json:"title,omitempty"`
	Agent              *Agent              `json:"agent,omitempty"`
	Workspace          *Workspace          `json:"workspace,omitempty"`
	InitialMessage     *MessageRequest     `json:"initial_message,omitempty"`
	Secrets            map[string]Secret   `json:"secrets,omitempty"`
	ConfirmationPolicy *ConfirmationPolicy `json:"confirmation_policy,omitempty"`
	SecurityAnalyzer   *SecurityAnalyzer   `json:"security_analyzer,omitempty"`
	MaxIterations      *int                `json:"max_iterations,omitempty"`
	StuckDetection     *bool               `json:"stuck_detection,omitempty"`
	Sandbox            *SandboxSettings    `json:"sandbox,omitempty"`
	Hooks              json.RawMessage     `json:"hooks,omitempty"`
	// Tags label the conversation: keys lowercase letters and digits,
	// values at most 256 characters.
	Tags map[string]string `json:"tags,omitempty"`
	// AutoTitle asks for a title made from the first user message by the
	// conversation's model, in the background (off unless asked).
	AutoTitle *bool `json:"autotitle,omitempty"`
	// Checkpoints is "on" or "off": whether the sandbox's files are
	// checkpointed after each action, for fork and rewind. "" follows
	// the server's setting.
	Checkpoints string `json:"checkpoints,omitempty"`
}

// Secret is a secret's value as a client sends it: a string, or an object
// {"value": "..."} (with an optional description), or, as the SDK names a
// server-wide secret, {"kind": "LookupSecret", "url":
// "/api/settings/secrets/NAME"}, resolved from the server's secrets at
// create (a URL is never fetched).
type Secret struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Kind        string `json:"kind,omitempty"`
	URL         string `json:"url,omitempty"`
}

// UnmarshalJSON reads a string or an object.
func (s *Secret) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		*s = Secret{}
		return json.Unmarshal(data, &s.Value)
	}
	type plain Secret
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*s = Secret(p)
	return nil
}

// MessageRequest is a user message: POST .../events, the initial message,
// and a socket frame.
type MessageRequest struct {
	Role    string            `json:"role"`
	Content event.ContentList `json:"content"`
	// Run starts the agent after the message (default true for the initial
	// message and socket frames, false for POST .../events as in the SDK).
	Run *bool `json:"run,omitempty"`
}

// Info is a conversation as clients see it: the SDK's ConversationInfo
// plus GoHands' sandbox field.
type Info struct {
	ID                 string             `json:"id"`
	Title              string             `json:"title"`
	ExecutionStatus    string             `json:"execution_status"`
	Agent              Agent              `json:"agent"`
	Workspace          Workspace          `json:"workspace"`
	MaxIterations      int                `json:"max_iterations"`
	StuckDetection     bool               `json:"stuck_detection"`
	ConfirmationPolicy ConfirmationPolicy `json:"confirmation_policy"`
	SecurityAnalyzer   *SecurityAnalyzer  `json:"security_analyzer"`
	Metrics            Metrics            `json:"metrics"`
	Stats              Stats              `json:"stats"`
	Tags               map[string]string  `json:"tags"`
	// PersistenceDir is always null: events are kept in the server's
	// database, not in a folder.
	PersistenceDir *string     `json:"persistence_dir"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at"`
	Sandbox        SandboxInfo `json:"sandbox"`
	// Secrets lists the names of the conversation's secrets.
	Secrets []string `json:"secrets"`
	// Tools names the tools the model is offered: the built-in ones, then
	// those of the conversation's MCP servers while they are connected
	// (GoHands only; GET /api/conversations/{id}/tools describes them).
	Tools []string `json:"tools"`
	// LeafEventID is the head of the conversation: the event the next one
	// follows (null before the first). POST .../navigate moves it.
	LeafEventID *string `json:"leaf_event_id"`
	// ForkedFromConversationID and ForkedFromEventID say where a fork
	// came from (the event is null for a fork of the whole conversation).
	ForkedFromConversationID *string `json:"forked_from_conversation_id,omitempty"`
	ForkedFromEventID        *string `json:"forked_from_event_id,omitempty"`
	// Checkpoints is "on" when the sandbox's files are checkpointed after
	// each action (fork and rewind restore them), else "off".
	Checkpoints string `json:"checkpoints"`
}

// SandboxInfo is the state of a conversation's sandbox.
type SandboxInfo struct {
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	Image  string `json:"image,omitempty"`
	Error  string `json:"error,omitempty"`
}

// validPolicy checks a confirmation policy.
func validPolicy(p ConfirmationPolicy) error {
	switch p.Kind {
	case NeverConfirm, AlwaysConfirm:
		return nil
	case ConfirmRisky:
		if p.Threshold != "" && !slices.Contains([]string{"LOW", "MEDIUM", "HIGH"}, strings.ToUpper(p.Threshold)) {
			return invalid("confirmation_policy.threshold: %q is not LOW, MEDIUM or HIGH", p.Threshold)
		}
		return nil
	case "":
		return invalid("confirmation_policy.kind: missing")
	}
	return invalid("confirmation_policy.kind: %q is not NeverConfirm, AlwaysConfirm or ConfirmRisky", p.Kind)
}
