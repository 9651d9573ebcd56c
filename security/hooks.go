package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The events a Hook runs on.
const (
	// EventPreAction hooks run before an action and may block it.
	EventPreAction = "pre_action"
	// EventPostObservation hooks run on an action's result before the
	// model sees it, and may add a note to it or hide text in it.
	EventPostObservation = "post_observation"
)

// What a pre_action hook that fails (cannot start, crashes, times out,
// answers nonsense) does to the action.
const (
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// The decisions of HookRecords.
const (
	DecisionAllow = "allow" // a pre_action hook let the action run
	DecisionDeny  = "deny"  // a pre_action hook blocked it
	DecisionOK    = "ok"    // a post_observation hook ran
	DecisionError = "error" // a post_observation hook failed; the observation is unchanged by it
)

// Hook is a program run on an action or an observation. It gets a JSON
// object on its standard input and may answer with one on its standard
// output.
//
// A pre_action hook gets
//
//	{"event": "pre_action", "conversation_id": "...", "tool": "terminal",
//	 "action_id": "...", "security_risk": "LOW", "action": {"kind": "TerminalAction", ...}}
//
// and blocks the action by printing {"decision": "deny", "reason": "..."}
// ("block" works too) or by exiting with status 2, the reason then being
// what it wrote to standard error. Exit status 0 without such an answer
// lets the action run. Anything else (another status, a crash, no answer
// within the timeout, an answer that is a JSON object but not a decision)
// is a failure, and OnError decides: by default the action is denied with
// a reason naming the failure, since a guard that cannot answer should not
// wave everything through.
//
// A post_observation hook gets
//
//	{"event": "post_observation", "conversation_id": "...", "tool": "terminal",
//	 "action_id": "...", "action": {...}, "observation": {"kind": "TerminalObservation", ...}}
//
// and may answer {"annotation": "a note for the model"} and/or
// {"redact": ["text", ...]}, text to replace with <redacted> in what the
// model is shown. A post_observation hook that fails is recorded and
// otherwise ignored: the observation has already happened.
//
// Output on standard output that is not a JSON object (a log line) is
// ignored. Hooks run with PATH, GOHANDS_HOOK_EVENT, GOHANDS_HOOK_NAME,
// GOHANDS_CONVERSATION_ID and Env as their environment; the server's own
// environment is not passed on.
type Hook struct {
	// Name names the hook in records and reasons; the base name of the
	// program if empty.
	Name string `json:"name,omitempty"`
	// Event is EventPreAction or EventPostObservation.
	Event string `json:"event"`
	// Command is the program and its arguments. In JSON a single string
	// is run with sh -c.
	Command []string `json:"command"`
	// Tools limits the hook to these tools; empty means every tool.
	Tools []string `json:"tools,omitempty"`
	// Timeout bounds each run; DefaultTimeout if zero. In JSON, seconds or
	// a duration string ("500ms").
	Timeout time.Duration `json:"timeout,omitempty"`
	// OnError is OnErrorDeny (the default) or OnErrorAllow.
	OnError string `json:"on_error,omitempty"`
	// Env is added to the hook's environment, as NAME=value.
	Env []string `json:"env,omitempty"`
}

// UnmarshalJSON reads a hook, with a command as a list or a string and a
// timeout as seconds or a duration string. It does not validate; see
// ParseHooks.
func (h *Hook) UnmarshalJSON(data []byte) error {
	type plain Hook
	var w struct {
		plain
		Command json.RawMessage `json:"command"`
		Timeout json.RawMessage `json:"timeout"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return err
	}
	cmd, err := parseCommand(w.Command)
	if err != nil {
		return fmt.Errorf("command: %v", err)
	}
	timeout, err := parseTimeout(w.Timeout)
	if err != nil {
		return fmt.Errorf("timeout: %v", err)
	}
	*h = Hook(w.plain)
	h.Command, h.Timeout = cmd, timeout
	return nil
}

// MarshalJSON writes a hook with its timeout in seconds.
func (h Hook) MarshalJSON() ([]byte, error) {
	type plain Hook
	return json.Marshal(struct {
		plain
		Timeout float64 `json:"timeout,omitempty"`
	}{plain(h), h.Timeout.Seconds()})
}

// Validate checks a hook and fills in its defaults: the name, the tool
// names (made canonical: "TerminalTool" is "terminal") and OnError.
func (h *Hook) Validate() error {
	switch h.Event {
	case EventPreAction, EventPostObservation:
	case "":
		return errors.New("event: missing (pre_action or post_observation)")
	default:
		return fmt.Errorf("event: %q is not pre_action or post_observation", h.Event)
	}
	if len(h.Command) == 0 || h.Command[0] == "" {
		return errors.New("command: missing")
	}
	switch h.OnError {
	case "":
		h.OnError = OnErrorDeny
	case OnErrorDeny, OnErrorAllow:
	default:
		return fmt.Errorf("on_error: %q is not allow or deny", h.OnError)
	}
	if h.Timeout < 0 || h.Timeout > maxTimeout {
		return fmt.Errorf("timeout: %s is not between 0 and %s", h.Timeout, maxTimeout)
	}
	for i, t := range h.Tools {
		h.Tools[i] = normalizeTool(t)
	}
	for _, e := range h.Env {
		if !isAssignment(e) {
			return fmt.Errorf("env: %q is not NAME=value", e)
		}
	}
	if h.Name == "" {
		h.Name = filepath.Base(h.Command[0])
	}
	return nil
}

// ParseHooks reads hooks from JSON, either a list of hooks or an object
// {"hooks": [...]}, the shape of a hooks file and of a conversation's
// hooks setting, and validates them.
func ParseHooks(data []byte) ([]Hook, error) {
	var hooks []Hook
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var w struct {
			Hooks []Hook `json:"hooks"`
		}
		d := json.NewDecoder(bytes.NewReader(trimmed))
		d.DisallowUnknownFields()
		if err := d.Decode(&w); err != nil {
			return nil, fmt.Errorf("security: hooks: %w", err)
		}
		hooks = w.Hooks
	} else if err := json.Unmarshal(trimmed, &hooks); err != nil {
		return nil, fmt.Errorf("security: hooks: %w", err)
	}
	for i := range hooks {
		if err := hooks[i].Validate(); err != nil {
			return nil, fmt.Errorf("security: hooks[%d]: %w", i, err)
		}
	}
	return hooks, nil
}

// LoadHooks reads a hooks file; see ParseHooks.
func LoadHooks(path string) ([]Hook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security: read hooks: %w", err)
	}
	hooks, err := ParseHooks(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return hooks, nil
}

// HookRecord is what happened when a hook ran, for the caller to record.
type HookRecord struct {
	Hook  string `json:"hook"`
	Event string `json:"event"`
	// Decision is DecisionAllow or DecisionDeny for a pre_action hook,
	// DecisionOK or DecisionError for a post_observation hook.
	Decision string `json:"decision"`
	// Reason is the hook's reason for a denial, the failure for a hook
	// that failed, what it asked for after an observation.
	Reason string `json:"reason,omitempty"`
	// Error says how the hook failed, if it did.
	Error string `json:"error,omitempty"`
	// ExitCode is the program's exit status, -1 if it did not exit by
	// itself.
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"duration"`
	// Output is the start of what the program wrote (standard output,
	// then standard error), without the text it asked to redact.
	Output string `json:"output,omitempty"`
}
