package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gohands/gohands/event"
)

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

// ToolJSON returns the "action" or "observation" member of an event's
// JSON: the tool call or result with its kind, as hooks get it.
func ToolJSON(e event.Event, member string) (json.RawMessage, error) {
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

// applies says h runs on event ev for tool.
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
		tool = toolOf(in.Action, nil)
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
			act, err := ToolJSON(in.Action, "action")
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
		tool = toolOf(in.Action, nil)
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
			act, err := ToolJSON(in.Action, "action")
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
			obs, err := ToolJSON(in.Observation, "observation")
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
