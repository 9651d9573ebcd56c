package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// The events of a repository's hooks (.openhands/hooks.json), as the SDK
// names them.
const (
	HookPreToolUse       = "PreToolUse"
	HookPostToolUse      = "PostToolUse"
	HookUserPromptSubmit = "UserPromptSubmit"
	HookSessionStart     = "SessionStart"
	HookSessionEnd       = "SessionEnd"
	HookStop             = "Stop"
)

// HookConfig is a repository's hooks file: the SDK's HookConfig. Unlike
// the server's Hooks, these are the repository's own programs and run
// inside the conversation's sandbox, never on the server's host; this
// package only reads the file and judges what a hook answered.
type HookConfig struct {
	PreToolUse       []HookMatcher `json:"pre_tool_use"`
	PostToolUse      []HookMatcher `json:"post_tool_use"`
	UserPromptSubmit []HookMatcher `json:"user_prompt_submit"`
	SessionStart     []HookMatcher `json:"session_start"`
	SessionEnd       []HookMatcher `json:"session_end"`
	Stop             []HookMatcher `json:"stop"`
}

// HookMatcher runs its hooks for the tools its Matcher names: "*" or ""
// for all, a regular expression (between slashes, or any text with a
// regular expression's special characters) matching the whole name, or
// the name itself.
type HookMatcher struct {
	Matcher string           `json:"matcher"`
	Hooks   []HookDefinition `json:"hooks"`
}

// HookDefinition is one hook of a HookMatcher. GoHands runs hooks of type
// "command"; it reads the SDK's other types but does not run them.
type HookDefinition struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	Command string `json:"command"`
	// Timeout is in seconds; 60 if not given.
	Timeout int `json:"timeout"`
	// Fields of the SDK's prompt and agent hooks, kept as read.
	Prompt        string   `json:"prompt,omitempty"`
	SystemPrompt  string   `json:"system_prompt,omitempty"`
	Tools         []string `json:"tools,omitempty"`
	MaxIterations int      `json:"max_iterations,omitempty"`
	Async         bool     `json:"async,omitempty"`
}

// Bounds of a hooks file.
const (
	maxRepoHooks       = 64
	defaultHookSeconds = 60
	maxHookSeconds     = 600
)

var hookEventFields = map[string]string{
	"pre_tool_use": HookPreToolUse, "post_tool_use": HookPostToolUse, "user_prompt_submit": HookUserPromptSubmit,
	"session_start": HookSessionStart, "session_end": HookSessionEnd, "stop": HookStop,
}

// ParseHookConfig reads a hooks file: an object whose keys are the hook
// events, in the SDK's snake_case or PascalCase (PreToolUse), possibly
// wrapped in {"hooks": {...}}, each a list of matchers. Unknown events,
// hooks without a command, more than 64 hooks, or a timeout outside 1 to
// 600 seconds are errors.
func ParseHookConfig(data []byte) (HookConfig, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return HookConfig{}, fmt.Errorf("security: hooks.json: %w", err)
	}
	if top == nil {
		return HookConfig{}, errors.New("security: hooks.json: not an object")
	}
	if inner, ok := top["hooks"]; ok {
		top = nil
		if err := json.Unmarshal(inner, &top); err != nil || top == nil {
			return HookConfig{}, errors.New(`security: hooks.json: "hooks" is not an object`)
		}
	}
	var c HookConfig
	count := 0
	for key, raw := range top {
		ev, ok := hookEventFields[key]
		if !ok {
			ev, ok = hookEventFields[snake(key)]
		}
		if !ok {
			return HookConfig{}, fmt.Errorf("security: hooks.json: %q is not a hook event (PreToolUse, PostToolUse, UserPromptSubmit, SessionStart, SessionEnd, Stop)", clip(key, 60))
		}
		var ms []HookMatcher
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&ms); err != nil {
			return HookConfig{}, fmt.Errorf("security: hooks.json: %s: %w", key, err)
		}
		for i := range ms {
			if ms[i].Matcher == "" {
				ms[i].Matcher = "*"
			}
			for j := range ms[i].Hooks {
				if count++; count > maxRepoHooks {
					return HookConfig{}, fmt.Errorf("security: hooks.json: more than %d hooks", maxRepoHooks)
				}
				if err := ms[i].Hooks[j].validate(); err != nil {
					return HookConfig{}, fmt.Errorf("security: hooks.json: %s[%d].hooks[%d]: %w", key, i, j, err)
				}
			}
		}
		*c.list(ev) = append(*c.list(ev), ms...)
	}
	return c, nil
}

// validate checks a definition and fills in its defaults.
func (h *HookDefinition) validate() error {
	if h.Type == "" {
		h.Type = "command"
	}
	switch h.Type {
	case "command":
		if strings.TrimSpace(h.Command) == "" {
			return errors.New("command: missing")
		}
	case "prompt", "agent":
	default:
		return fmt.Errorf("type: %q is not command, prompt or agent", clip(h.Type, 40))
	}
	if strings.IndexByte(h.Command, 0) >= 0 {
		return errors.New("command: contains a NUL byte")
	}
	switch {
	case h.Timeout == 0:
		h.Timeout = defaultHookSeconds
	case h.Timeout < 0 || h.Timeout > maxHookSeconds:
		return fmt.Errorf("timeout: %d is not between 1 and %d seconds", h.Timeout, maxHookSeconds)
	}
	return nil
}

// snake turns PascalCase into snake_case.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (c *HookConfig) list(ev string) *[]HookMatcher {
	switch ev {
	case HookPreToolUse:
		return &c.PreToolUse
	case HookPostToolUse:
		return &c.PostToolUse
	case HookUserPromptSubmit:
		return &c.UserPromptSubmit
	case HookSessionStart:
		return &c.SessionStart
	case HookSessionEnd:
		return &c.SessionEnd
	default:
		return &c.Stop
	}
}

// Empty says the config has no hooks.
func (c HookConfig) Empty() bool {
	return len(c.PreToolUse)+len(c.PostToolUse)+len(c.UserPromptSubmit)+len(c.SessionStart)+len(c.SessionEnd)+len(c.Stop) == 0
}

// Matching returns the hooks of an event that apply to a tool ("" for
// events without one), in the file's order.
func (c HookConfig) Matching(ev, tool string) []HookDefinition {
	var out []HookDefinition
	for _, m := range *c.list(ev) {
		if m.matches(tool) {
			out = append(out, m.Hooks...)
		}
	}
	return out
}

func (m HookMatcher) matches(tool string) bool {
	p := m.Matcher
	if p == "*" || p == "" {
		return true
	}
	if tool == "" {
		return false
	}
	if len(p) > 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		re, err := regexp.Compile(`^(?:` + p[1:len(p)-1] + `)$`)
		return err == nil && re.MatchString(tool)
	}
	if strings.ContainsAny(p, `|.*+?[]()^$\`) {
		if re, err := regexp.Compile(`^(?:` + p + `)$`); err == nil {
			return re.MatchString(tool)
		}
	}
	return p == tool
}

// RepoHookInput is what a repository's hook gets on its standard input:
// the SDK's HookEvent.
type RepoHookInput struct {
	EventType    string          `json:"event_type"`
	ToolName     string          `json:"tool_name,omitempty"`
	ToolInput    json.RawMessage `json:"tool_input,omitempty"`
	ToolResponse json.RawMessage `json:"tool_response,omitempty"`
	Message      string          `json:"message,omitempty"`
	SessionID    string          `json:"session_id,omitempty"`
	WorkingDir   string          `json:"working_dir,omitempty"`
	Metadata     map[string]any  `json:"metadata"`
}

// RepoHookResult is what a repository's hook run came to.
type RepoHookResult struct {
	// Success says it exited with status 0.
	Success bool
	// Blocked says it blocked the operation: exit status 2, a "deny"
	// decision, or "continue": false.
	Blocked           bool
	Reason            string
	AdditionalContext string
	// Error says why it did not run to an exit status of its own.
	Error string
}

// JudgeRepoHook reads a hook run's outcome as the SDK does: status 2
// blocks, with standard error as the reason unless the answer gives one;
// status 0 with a JSON answer {"decision": "deny", "reason": ...} or
// {"continue": false} blocks; other statuses are failures that do not
// block. runErr says the hook could not run or timed out (exit code -1).
func JudgeRepoHook(exitCode int, stdout, stderr, runErr string) RepoHookResult {
	r := RepoHookResult{Success: exitCode == 0 && runErr == "", Blocked: exitCode == 2 && runErr == "", Error: runErr}
	if runErr != "" {
		return r
	}
	var answer struct {
		Decision          *string `json:"decision"`
		Reason            any     `json:"reason"`
		AdditionalContext any     `json:"additionalContext"`
		Continue          *bool   `json:"continue"`
	}
	if ok, err := jsonObject([]byte(stdout), &answer); ok && err == nil {
		if answer.Decision != nil && strings.EqualFold(*answer.Decision, "deny") {
			r.Blocked = true
		}
		if answer.Continue != nil && !*answer.Continue {
			r.Blocked = true
		}
		if answer.Reason != nil {
			r.Reason = clip(fmt.Sprint(answer.Reason), maxReasonLen)
		}
		if answer.AdditionalContext != nil {
			r.AdditionalContext = clip(fmt.Sprint(answer.AdditionalContext), maxReasonLen)
		}
	}
	if r.Blocked && r.Reason == "" {
		r.Reason = clip(strings.TrimSpace(stderr), maxReasonLen)
	}
	if exitCode != 0 && exitCode != 2 {
		r.Error = fmt.Sprintf("exited with status %d", exitCode)
	}
	return r
}
