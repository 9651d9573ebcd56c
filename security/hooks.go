package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
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

// PreActionInput is what pre_action hooks are told about an action.
type PreActionInput struct {
	ConversationID string
	// Tool is the tool's name; Action.ToolName if empty.
	Tool   string
	Action *event.Action
}

// PostObservationInput is what post_observation hooks are told about an
// action's result.
type PostObservationInput struct {
	ConversationID string
	// Tool is the tool's name; Observation.ToolName if empty.
	Tool string
	// Action is the action observed, if the caller has it.
	Action      *event.Action
	Observation *event.Observation
}

// toolJSON returns the "action" or "observation" member of an event's
// JSON: the tool call or result with its kind.
func toolJSON(e event.Event, member string) (json.RawMessage, error) {
	data, err := event.Marshal(e)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m[member], nil
}

// hookMessage is the JSON hooks get on their input.
type hookMessage struct {
	Event          string          `json:"event"`
	ConversationID string          `json:"conversation_id"`
	Tool           string          `json:"tool"`
	ActionID       string          `json:"action_id,omitempty"`
	SecurityRisk   event.Risk      `json:"security_risk,omitempty"`
	Action         json.RawMessage `json:"action,omitempty"`
	Observation    json.RawMessage `json:"observation,omitempty"`
}

// hookApplies says h runs on event ev for tool.
func (h *Hook) applies(ev, tool string) bool {
	if h.Event != ev {
		return false
	}
	if len(h.Tools) == 0 {
		return true
	}
	for _, t := range h.Tools {
		if normalizeTool(t) == tool {
			return true
		}
	}
	return false
}

func (h *Hook) name() string {
	if h.Name != "" {
		return h.Name
	}
	if len(h.Command) > 0 {
		return filepath.Base(h.Command[0])
	}
	return "hook"
}

func (h *Hook) run(ctx context.Context, msg []byte, conversationID string) run {
	if len(h.Command) == 0 || h.Command[0] == "" {
		return run{exitCode: -1, err: errors.New("no command")}
	}
	env := append([]string{"GOHANDS_HOOK_EVENT=" + h.Event, "GOHANDS_HOOK_NAME=" + h.name(),
		"GOHANDS_CONVERSATION_ID=" + conversationID}, h.Env...)
	return runProgram(ctx, h.Command, msg, h.Timeout, env)
}

// jsonObject returns the program's output as a JSON object if it is one
// (surrounding blanks aside), reporting false when the output is not
// meant as one (it does not start with "{").
func jsonObject(out []byte, v any) (bool, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 || out[0] != '{' {
		return false, nil
	}
	return true, json.Unmarshal(out, v)
}

// RunPreAction runs the pre_action hooks that apply to the action's tool,
// in order, until one blocks it. It reports whether the action may run,
// and if not, why: the blocking hook's reason. It returns a record of
// every hook it ran.
func RunPreAction(ctx context.Context, hooks []Hook, in PreActionInput) (allowed bool, reason string, records []HookRecord) {
	tool := in.Tool
	if tool == "" && in.Action != nil {
		tool = toolOf(in.Action)
	}
	tool = normalizeTool(tool)
	var msg []byte
	for i := range hooks {
		h := &hooks[i]
		if !h.applies(EventPreAction, tool) {
			continue
		}
		if msg == nil {
			var err error
			if msg, err = preActionMessage(in, tool); err != nil {
				// Nothing can be sent: every hook would fail alike.
				rec := HookRecord{Hook: h.name(), Event: EventPreAction, ExitCode: -1, Error: err.Error()}
				if h.OnError == OnErrorAllow {
					rec.Decision, rec.Reason = DecisionAllow, fmt.Sprintf("hook %s not run (%v); allowed (on_error: allow)", h.name(), err)
					records = append(records, rec)
					continue
				}
				rec.Decision, rec.Reason = DecisionDeny, fmt.Sprintf("hook %s could not be run: %v", h.name(), err)
				return false, rec.Reason, append(records, rec)
			}
		}
		rec := runPreHook(ctx, h, msg, in.ConversationID)
		records = append(records, rec)
		if rec.Decision == DecisionDeny {
			return false, rec.Reason, records
		}
	}
	return true, "", records
}

func preActionMessage(in PreActionInput, tool string) ([]byte, error) {
	m := hookMessage{Event: EventPreAction, ConversationID: in.ConversationID, Tool: tool}
	if in.Action != nil {
		m.ActionID, m.SecurityRisk = in.Action.ID, in.Action.SecurityRisk
		if in.Action.Action != nil {
			act, err := toolJSON(in.Action, "action")
			if err != nil {
				return nil, fmt.Errorf("encode the action: %w", err)
			}
			m.Action = act
		}
	}
	return json.Marshal(m)
}

// preVerdict is the answer of a pre_action hook.
type preVerdict struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func runPreHook(ctx context.Context, h *Hook, msg []byte, conversationID string) HookRecord {
	r := h.run(ctx, msg, conversationID)
	rec := HookRecord{Hook: h.name(), Event: EventPreAction, ExitCode: r.exitCode, Duration: r.duration, Output: recordOutput(r)}
	fail := func(why string) HookRecord {
		rec.Error = why
		if h.OnError == OnErrorAllow {
			rec.Decision, rec.Reason = DecisionAllow, fmt.Sprintf("hook %s failed (%s); allowed (on_error: allow)", h.name(), why)
		} else {
			rec.Decision, rec.Reason = DecisionDeny, fmt.Sprintf("hook %s failed: %s", h.name(), why)
		}
		return rec
	}
	switch {
	case r.err != nil:
		return fail(r.err.Error())
	case r.exitCode == 2:
		rec.Decision, rec.Reason = DecisionDeny, clip(string(r.stderr), maxReasonLen)
		if rec.Reason == "" {
			rec.Reason = "blocked by hook " + h.name()
		}
		return rec
	case r.exitCode != 0:
		why := fmt.Sprintf("exited with status %d", r.exitCode)
		if s := clip(string(r.stderr), 300); s != "" {
			why += ": " + s
		}
		return fail(why)
	}
	var v preVerdict
	isJSON, err := jsonObject(r.stdout, &v)
	if err != nil {
		return fail(fmt.Sprintf("its answer is not valid JSON: %v", err))
	}
	if !isJSON {
		rec.Decision = DecisionAllow
		return rec
	}
	switch strings.ToLower(v.Decision) {
	case "deny", "block":
		rec.Decision, rec.Reason = DecisionDeny, clip(v.Reason, maxReasonLen)
		if rec.Reason == "" {
			rec.Reason = "blocked by hook " + h.name()
		}
	case "allow", "approve", "":
		rec.Decision, rec.Reason = DecisionAllow, clip(v.Reason, maxReasonLen)
	default:
		return fail(fmt.Sprintf("decision %q is not allow or deny", clip(v.Decision, 40)))
	}
	return rec
}

// RunPostObservation runs the post_observation hooks that apply to the
// observation's tool, in order. It returns their annotations joined by
// newlines, the text they asked to redact (see RedactObservation), and a
// record of every hook it ran.
func RunPostObservation(ctx context.Context, hooks []Hook, in PostObservationInput) (annotation string, redact []string, records []HookRecord) {
	tool := in.Tool
	if tool == "" && in.Observation != nil {
		tool = in.Observation.ToolName
	}
	if tool == "" && in.Action != nil {
		tool = toolOf(in.Action)
	}
	tool = normalizeTool(tool)
	var msg []byte
	var msgErr error
	var notes []string
	for i := range hooks {
		h := &hooks[i]
		if !h.applies(EventPostObservation, tool) {
			continue
		}
		if msg == nil && msgErr == nil {
			msg, msgErr = postObservationMessage(in, tool)
		}
		if msgErr != nil {
			records = append(records, HookRecord{Hook: h.name(), Event: EventPostObservation, Decision: DecisionError,
				ExitCode: -1, Error: msgErr.Error(), Reason: fmt.Sprintf("hook %s not run: %v", h.name(), msgErr)})
			continue
		}
		rec, note, red := runPostHook(ctx, h, msg, in.ConversationID)
		records = append(records, rec)
		if note != "" {
			notes = append(notes, note)
		}
		redact = append(redact, red...)
	}
	return strings.Join(notes, "\n"), redact, records
}

func postObservationMessage(in PostObservationInput, tool string) ([]byte, error) {
	m := hookMessage{Event: EventPostObservation, ConversationID: in.ConversationID, Tool: tool}
	if in.Action != nil {
		m.ActionID, m.SecurityRisk = in.Action.ID, in.Action.SecurityRisk
		if in.Action.Action != nil {
			act, err := toolJSON(in.Action, "action")
			if err != nil {
				return nil, fmt.Errorf("encode the action: %w", err)
			}
			m.Action = act
		}
	}
	if in.Observation != nil {
		if m.ActionID == "" {
			m.ActionID = in.Observation.ActionID
		}
		if in.Observation.Observation != nil {
			obs, err := toolJSON(in.Observation, "observation")
			if err != nil {
				return nil, fmt.Errorf("encode the observation: %w", err)
			}
			m.Observation = obs
		}
	}
	return json.Marshal(m)
}

// postAnswer is the answer of a post_observation hook.
type postAnswer struct {
	Annotation string   `json:"annotation"`
	Redact     []string `json:"redact"`
}

func runPostHook(ctx context.Context, h *Hook, msg []byte, conversationID string) (HookRecord, string, []string) {
	r := h.run(ctx, msg, conversationID)
	rec := HookRecord{Hook: h.name(), Event: EventPostObservation, ExitCode: r.exitCode, Duration: r.duration}
	fail := func(why string) (HookRecord, string, []string) {
		rec.Decision, rec.Error = DecisionError, why
		rec.Reason = fmt.Sprintf("hook %s failed: %s", h.name(), why)
		rec.Output = recordOutput(r)
		return rec, "", nil
	}
	switch {
	case r.err != nil:
		return fail(r.err.Error())
	case r.exitCode != 0:
		why := fmt.Sprintf("exited with status %d", r.exitCode)
		if s := clip(string(r.stderr), 300); s != "" {
			why += ": " + s
		}
		return fail(why)
	}
	var a postAnswer
	isJSON, err := jsonObject(r.stdout, &a)
	if err != nil {
		return fail(fmt.Sprintf("its answer is not valid JSON: %v", err))
	}
	var redact []string
	for _, s := range a.Redact {
		if s != "" {
			redact = append(redact, s)
		}
	}
	// The record must not keep in the clear what the hook asked to hide,
	// in its answer's JSON least of all.
	out, _ := newReplacer(redact, redactedText, 1, true).replace(joinOutput(r))
	rec.Output = clip(out, maxRecordOutput)
	rec.Decision = DecisionOK
	var did []string
	note := clip(a.Annotation, maxReasonLen)
	if isJSON && note != "" {
		did = append(did, "annotated")
	}
	if len(redact) > 0 {
		did = append(did, fmt.Sprintf("redacted %d strings", len(redact)))
	}
	rec.Reason = strings.Join(did, "; ")
	return rec, note, redact
}
