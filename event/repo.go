package event

// HookExecution records one run of a hook from the repository's
// .openhands/hooks.json: the SDK's HookExecutionEvent. Its source is
// SourceHook.
type HookExecution struct {
	Base
	// HookEventType is PreToolUse, PostToolUse, UserPromptSubmit,
	// SessionStart, SessionEnd or Stop.
	HookEventType string `json:"hook_event_type"`
	HookCommand   string `json:"hook_command"`
	ToolName      string `json:"tool_name,omitempty"`
	// Success says the hook exited with status 0.
	Success bool `json:"success"`
	// Blocked says the hook blocked the operation (exit status 2 or a
	// "deny" decision).
	Blocked  bool   `json:"blocked"`
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Reason   string `json:"reason,omitempty"`
	// AdditionalContext is text the hook asked to add for the model.
	AdditionalContext string `json:"additional_context,omitempty"`
	Error             string `json:"error,omitempty"`
	ActionID          string `json:"action_id,omitempty"`
	MessageID         string `json:"message_id,omitempty"`
	// HookInput is what the hook was given on its standard input.
	HookInput map[string]any `json:"hook_input,omitempty"`
}

// SkillActivated records that skills of the workspace or the server were
// added to what the model is shown because a user message held one of
// their trigger words (GoHands only; the SDK marks the message itself).
type SkillActivated struct {
	Base
	// MessageID is the user message that triggered them.
	MessageID string `json:"message_id"`
	// Skills names them, in the order their texts follow.
	Skills []string `json:"skills"`
	// Content is their texts as the model is shown them.
	Content ContentList `json:"content"`
}

func (*HookExecution) Kind() Kind  { return KindHookExecution }
func (*SkillActivated) Kind() Kind { return KindSkillActivated }

// MarshalJSON writes e with its kind.
func (e HookExecution) MarshalJSON() ([]byte, error) {
	type plain HookExecution
	return withKind(e.Kind(), plain(e))
}

// MarshalJSON writes e with its kind.
func (e SkillActivated) MarshalJSON() ([]byte, error) {
	type plain SkillActivated
	return withKind(e.Kind(), plain(e))
}
