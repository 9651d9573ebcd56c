package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Message is a chat message from the user or the agent that is not a tool
// call: the SDK's MessageEvent.
type Message struct {
	Base
	LLMMessage LLMMessage `json:"llm_message"`
	// LLMResponseID is the id of the model response that produced an
	// agent's message.
	LLMResponseID string `json:"llm_response_id,omitempty"`
	// ActivatedSkills names the skills (microagents) the message triggered.
	ActivatedSkills []string `json:"activated_skills,omitempty"`
	// ExtendedContent is content the agent context added to the message.
	ExtendedContent ContentList `json:"extended_content,omitempty"`
	// Sender optionally names who sent it, in multi-agent setups.
	Sender string `json:"sender,omitempty"`
}

// Action is one tool call of the agent: the SDK's ActionEvent.
type Action struct {
	Base
	// Thought is the text the model wrote before the call.
	Thought ContentList `json:"thought"`
	// ReasoningContent is the reasoning text of reasoning models.
	ReasoningContent string `json:"reasoning_content,omitempty"`
	// Action is the typed call, or nil when the call could not be turned
	// into one (the SDK's "non-executable" action).
	Action   ToolAction `json:"action,omitempty"`
	ToolName string     `json:"tool_name"`
	// ToolCallID is the id the model gave the call.
	ToolCallID string    `json:"tool_call_id"`
	ToolCall   *ToolCall `json:"tool_call,omitempty"`
	// LLMResponseID groups the calls of one model response.
	LLMResponseID string `json:"llm_response_id,omitempty"`
	// SecurityRisk is the model's (or an analyzer's) rating of the call.
	SecurityRisk Risk `json:"security_risk"`
	// SecurityReason says why the analyzer rated the call so (GoHands
	// only).
	SecurityReason string `json:"security_reason,omitempty"`
	// Summary is the model's few-word summary of what the call does.
	Summary string `json:"summary,omitempty"`
}

// Risk is the security rating of an action.
type Risk string

// The ratings, as the SDK's SecurityRisk writes them.
const (
	RiskUnknown Risk = "UNKNOWN"
	RiskLow     Risk = "LOW"
	RiskMedium  Risk = "MEDIUM"
	RiskHigh    Risk = "HIGH"
)

// Observation is the result of a tool call: the SDK's ObservationEvent.
type Observation struct {
	Base
	Observation ToolObservation `json:"observation"`
	// ActionID is the id of the Action event this answers.
	ActionID   string `json:"action_id"`
	ToolName   string `json:"tool_name"`
	ToolCallID string `json:"tool_call_id"`
}

// UserReject says an action was rejected instead of run: the SDK's
// UserRejectObservation.
type UserReject struct {
	Base
	RejectionReason string `json:"rejection_reason"`
	// RejectionSource is "user" (confirmation refused) or "hook" (a
	// pre-action hook blocked it).
	RejectionSource string `json:"rejection_source,omitempty"`
	ActionID        string `json:"action_id"`
	ToolName        string `json:"tool_name"`
	ToolCallID      string `json:"tool_call_id"`
}

// AgentError is an error of the agent's own making, sent back to the model
// as the result of a tool call (a call to an unknown tool, arguments that do
// not parse): the SDK's AgentErrorEvent. The conversation goes on.
type AgentError struct {
	Base
	Error      string `json:"error"`
	ToolName   string `json:"tool_name"`
	ToolCallID string `json:"tool_call_id"`
}

// ConversationError is a failure that stops the run loop and is not shown to
// the model: the SDK's ConversationErrorEvent.
type ConversationError struct {
	Base
	// Code names the kind of failure, typically an error type.
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// StateUpdate carries a change of conversation state to subscribers: the
// SDK's ConversationStateUpdateEvent. Key names the state field that changed
// (such as "execution_status"), or is "full_state" for a snapshot of all of
// it, sent first on every WebSocket connection.
type StateUpdate struct {
	Base
	Key string `json:"key"`
	// Value is the new value as JSON, for "full_state" an object.
	Value json.RawMessage `json:"value"`
}

// The keys of StateUpdate that this package gives meaning to.
const (
	StateKeyFull            = "full_state"
	StateKeyExecutionStatus = "execution_status"
)

// Pause records that the user paused the agent: the SDK's PauseEvent.
type Pause struct {
	Base
}

// Interrupt records that the user interrupted the agent mid-step: the
// SDK's InterruptEvent. Unlike a pause, which lets the action in flight
// end, an interrupt cancels the model call and the action at once.
type Interrupt struct {
	Base
}

// StreamingDelta is a piece of the model's answer as it is written: the
// SDK's StreamingDeltaEvent. It is delivered to subscribers live and never
// stored: the finished answer is stored as its MessageEvent or
// ActionEvent, and a replay has no deltas.
type StreamingDelta struct {
	Base
	Content          *string `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
}

// SystemPrompt records the system prompt and tools the agent started with:
// the SDK's SystemPromptEvent.
type SystemPrompt struct {
	Base
	SystemPrompt Content    `json:"system_prompt"`
	Tools        []ToolSpec `json:"tools"`
	// DynamicContext is per-conversation context sent after the prompt.
	DynamicContext *Content `json:"dynamic_context,omitempty"`
}

// ToolSpec describes one tool offered to the model. The SDK writes its whole
// ToolDefinition here; GoHands writes what a client shows: the tool's kind
// ("TerminalTool"), its name, its description and the JSON schema of its
// parameters.
type ToolSpec struct {
	Kind        string          `json:"kind,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// CondensationSummary is a summary of forgotten history, given to the
// model in place of it: the SDK's CondensationSummaryEvent.
type CondensationSummary struct {
	Base
	Summary string `json:"summary"`
}

// Condensation records that the condenser dropped events from the view the
// model gets: the SDK's Condensation event.
type Condensation struct {
	Base
	ForgottenEventIDs []string `json:"forgotten_event_ids,omitempty"`
	Summary           string   `json:"summary,omitempty"`
	// SummaryOffset is where in the condensed view the summary goes.
	SummaryOffset *int   `json:"summary_offset,omitempty"`
	LLMResponseID string `json:"llm_response_id,omitempty"`
}

// SandboxStatus reports a step in the life of the conversation's sandbox
// (GoHands only).
type SandboxStatus struct {
	Base
	Status    SandboxState `json:"status"`
	SandboxID string       `json:"sandbox_id,omitempty"`
	Image     string       `json:"image,omitempty"`
	// Message says what is happening, for people.
	Message string `json:"message,omitempty"`
	// Progress is the fraction done, from 0 to 1, when known (image pulls).
	Progress *float64 `json:"progress,omitempty"`
}

// Hook records one run of an action hook (GoHands only): a pre-action hook
// that allowed or denied an action, a post-observation hook that
// annotated or redacted a result, or a hook that failed.
type Hook struct {
	Base
	// Hook names the hook.
	Hook string `json:"hook"`
	// Event is "pre_action" or "post_observation".
	Event string `json:"event"`
	// Decision is "allow" or "deny" (pre_action), "ok" or "error"
	// (post_observation).
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
	// DurationMS is how long the hook ran, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Output is the start of what the hook printed.
	Output string `json:"output,omitempty"`
	// ActionID and ToolName name the action the hook ran for.
	ActionID string `json:"action_id,omitempty"`
	ToolName string `json:"tool_name,omitempty"`
}

// SandboxState is the state a SandboxStatus event reports.
type SandboxState string

// The sandbox states.
const (
	SandboxPulling  SandboxState = "pulling"
	SandboxCreating SandboxState = "creating"
	SandboxStarting SandboxState = "starting"
	SandboxRunning  SandboxState = "running"
	SandboxPaused   SandboxState = "paused"
	SandboxStopped  SandboxState = "stopped"
	SandboxRemoved  SandboxState = "removed"
	SandboxError    SandboxState = "error"
)

// Kind methods: one per type, tying each to its discriminator.

func (*Message) Kind() Kind             { return KindMessage }
func (*Action) Kind() Kind              { return KindAction }
func (*Observation) Kind() Kind         { return KindObservation }
func (*UserReject) Kind() Kind          { return KindUserReject }
func (*AgentError) Kind() Kind          { return KindAgentError }
func (*ConversationError) Kind() Kind   { return KindConversationError }
func (*StateUpdate) Kind() Kind         { return KindStateUpdate }
func (*Pause) Kind() Kind               { return KindPause }
func (*Interrupt) Kind() Kind           { return KindInterrupt }
func (*StreamingDelta) Kind() Kind      { return KindStreamingDelta }
func (*SystemPrompt) Kind() Kind        { return KindSystemPrompt }
func (*CondensationSummary) Kind() Kind { return KindCondensationSummary }
func (*Condensation) Kind() Kind        { return KindCondensation }
func (*SandboxStatus) Kind() Kind       { return KindSandboxStatus }
func (*Hook) Kind() Kind                { return KindHook }

// MarshalJSON methods: each writes the struct's fields with "kind" first, so
// that encoding/json (a gin response, a list of events) writes events the
// same way Marshal does. The local type plain drops the method to stop the
// recursion.

// MarshalJSON writes e with its kind.
func (e Message) MarshalJSON() ([]byte, error) {
	type plain Message
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind, and its action with the action's kind.
func (e Action) MarshalJSON() ([]byte, error) {
	type plain Action
	action, err := marshalTool(e.Action)
	if err != nil {
		return nil, err
	}
	if e.SecurityRisk == "" {
		e.SecurityRisk = RiskUnknown
	}
	return withKind(e.Kind(), struct {
		plain
		Action json.RawMessage `json:"action,omitempty"`
	}{plain(e), action})
}

// MarshalJSON writes e with its kind, and its observation with the
// observation's kind.
func (e Observation) MarshalJSON() ([]byte, error) {
	type plain Observation
	if e.Observation == nil {
		return nil, fmt.Errorf("event: marshal %s: observation is nil", e.Kind())
	}
	obs, err := marshalTool(e.Observation)
	if err != nil {
		return nil, err
	}
	return withKind(e.Kind(), struct {
		plain
		Observation json.RawMessage `json:"observation"`
	}{plain(e), obs})
}

// MarshalJSON writes e with its kind.
func (e UserReject) MarshalJSON() ([]byte, error) {
	type plain UserReject
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e AgentError) MarshalJSON() ([]byte, error) {
	type plain AgentError
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e ConversationError) MarshalJSON() ([]byte, error) {
	type plain ConversationError
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind. A nil Value is written as {}, the
// SDK's default.
func (e StateUpdate) MarshalJSON() ([]byte, error) {
	type plain StateUpdate
	if e.Value == nil {
		e.Value = json.RawMessage("{}")
	}
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e Pause) MarshalJSON() ([]byte, error) {
	type plain Pause
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e Interrupt) MarshalJSON() ([]byte, error) {
	type plain Interrupt
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e StreamingDelta) MarshalJSON() ([]byte, error) {
	type plain StreamingDelta
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e SystemPrompt) MarshalJSON() ([]byte, error) {
	type plain SystemPrompt
	if e.Tools == nil {
		e.Tools = []ToolSpec{} // required by the SDK: [] rather than null
	}
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e CondensationSummary) MarshalJSON() ([]byte, error) {
	type plain CondensationSummary
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e Condensation) MarshalJSON() ([]byte, error) {
	type plain Condensation
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e SandboxStatus) MarshalJSON() ([]byte, error) {
	type plain SandboxStatus
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e Hook) MarshalJSON() ([]byte, error) {
	type plain Hook
	return withKind(e.Kind(), plain(e))
}

// UnmarshalJSON reads an ActionEvent, decoding its action by the action's
// kind.
func (e *Action) UnmarshalJSON(data []byte) error {
	type plain Action
	var aux struct {
		plain
		Action actionField `json:"action"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = Action(aux.plain)
	e.Action = aux.Action.v
	return nil
}

// UnmarshalJSON reads an ObservationEvent, decoding its observation by the
// observation's kind.
func (e *Observation) UnmarshalJSON(data []byte) error {
	type plain Observation
	var aux struct {
		plain
		Observation observationField `json:"observation"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = Observation(aux.plain)
	e.Observation = aux.Observation.v
	return nil
}

// normalize fills in defaults after decoding and checks what the JSON types
// alone do not.
func normalize(e Event, info kindInfo) error {
	b := e.Meta()
	switch {
	case b.Source == "" && info.source == "":
		return &fieldError{path: "source", problem: "missing"}
	case b.Source == "":
		b.Source = info.source
	case !b.Source.valid():
		return &fieldError{path: "source", problem: fmt.Sprintf("%q is not one of %q", b.Source,
			[]Source{SourceAgent, SourceUser, SourceEnvironment, SourceHook})}
	}
	switch e := e.(type) {
	case *Action:
		if e.SecurityRisk == "" {
			e.SecurityRisk = RiskUnknown
		}
		if !slices.Contains([]Risk{RiskUnknown, RiskLow, RiskMedium, RiskHigh}, e.SecurityRisk) {
			return &fieldError{path: "security_risk", problem: fmt.Sprintf("%q is not a risk", e.SecurityRisk)}
		}
	case *Observation:
		if e.Observation == nil {
			return &fieldError{path: "observation", problem: "missing"}
		}
	case *StateUpdate:
		// An absent value is the SDK's default, {}. Raw JSON is compacted so
		// that decoding is canonical: what decodes, re-encodes and decodes
		// to the same value.
		if e.Value == nil {
			e.Value = json.RawMessage("{}")
		}
		e.Value = compact(e.Value)
	case *SystemPrompt:
		if e.SystemPrompt.Type == "" {
			return &fieldError{path: "system_prompt", problem: "missing"}
		}
		for i := range e.Tools {
			if e.Tools[i].Parameters != nil {
				e.Tools[i].Parameters = compact(e.Tools[i].Parameters)
			}
		}
	}
	return nil
}

// compact returns raw without insignificant white space. raw is valid JSON,
// having been decoded.
func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
