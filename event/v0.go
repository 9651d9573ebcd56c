package event

import (
	"encoding/json"
	"fmt"
)

// The V0 protocol is the one of the first OpenHands server (the /ws
// socket): flat actions {id, timestamp, source, message, action, args} and
// observations {id, timestamp, source, message, cause, observation, content,
// extras}, with integer ids. GoHands serves it for websocat users by
// mapping its events onto it; the id of a V0 frame is the event's seq, so
// that ?latest_event_id=N means "after seq N".

// V0Frame is one message the server sends a V0 client: a *V0Action or a
// *V0Observation.
type V0Frame interface{ isV0Frame() }

// V0Action is an action as the V0 protocol shows it.
type V0Action struct {
	ID        int64          `json:"id"`
	Timestamp string         `json:"timestamp"`
	Source    Source         `json:"source"`
	Message   string         `json:"message"`
	Action    string         `json:"action"`
	Args      map[string]any `json:"args"`
}

// V0Observation is an observation as the V0 protocol shows it.
type V0Observation struct {
	ID        int64  `json:"id"`
	Timestamp string `json:"timestamp"`
	Source    Source `json:"source"`
	Message   string `json:"message"`
	// Cause is the id of the action this answers, when known.
	Cause       *int64         `json:"cause,omitempty"`
	Observation string         `json:"observation"`
	Content     string         `json:"content"`
	Extras      map[string]any `json:"extras"`
}

func (*V0Action) isV0Frame()      {}
func (*V0Observation) isV0Frame() {}

// CauseFunc returns the seq of the event with the given id, for the "cause"
// of V0 observations; false if it is not known.
type CauseFunc func(eventID string) (seq int64, ok bool)

// ToV0 maps e onto the V0 protocol. It reports false for an event V0 has no
// counterpart of (a pause, the system prompt, sandbox status, a finish
// observation, a state update other than the execution status). cause may
// be nil.
//
// Tool calls map onto the V0 action names: terminal -> run, file_editor ->
// read (view), write (create) or edit (the other commands),
// BrowserNavigateAction -> browse, BrowserGetContentAction ->
// browse_interactive, think, finish, task_tracker -> task_tracking, MCP
// tools -> call_tool_mcp and mcp (V0's MCPAction and MCPObservation, by the
// name the model was offered). Tools V0 never had (glob, grep,
// apply_patch) keep their tool name as the
// action and observation name, with their fields as args or extras. Failed
// tool results other than the terminal's become "error" observations, as
// in V0.
func ToV0(e Event, cause CauseFunc) (V0Frame, bool) {
	b := e.Meta()
	action := func(name, message string, args map[string]any) (V0Frame, bool) {
		return &V0Action{ID: b.Seq, Timestamp: v0Time(b.Timestamp), Source: b.Source,
			Message: message, Action: name, Args: args}, true
	}
	observation := func(name, message, content, actionID string, extras map[string]any) (V0Frame, bool) {
		o := &V0Observation{ID: b.Seq, Timestamp: v0Time(b.Timestamp), Source: b.Source,
			Message: message, Observation: name, Content: content, Extras: extras}
		if actionID != "" && cause != nil {
			if seq, ok := cause(actionID); ok {
				o.Cause = &seq
			}
		}
		return o, true
	}

	switch e := e.(type) {
	case *Message:
		text := e.LLMMessage.Content.Text()
		images := []string{}
		for _, c := range e.LLMMessage.Content {
			images = append(images, c.ImageURLs...)
		}
		return action("message", text, map[string]any{
			"content": text, "image_urls": images, "wait_for_response": false,
		})
	case *Action:
		name, message, args, ok := v0Action(e)
		if !ok {
			return nil, false
		}
		return action(name, message, args)
	case *Observation:
		if e.Observation == nil {
			return nil, false
		}
		name, message, extras, ok := v0Observation(e)
		if !ok {
			return nil, false
		}
		return observation(name, message, e.Observation.Output().Content.Text(), e.ActionID, extras)
	case *UserReject:
		return observation("user_rejected", e.RejectionReason, e.RejectionReason, e.ActionID, map[string]any{})
	case *AgentError:
		return observation("error", e.Error, e.Error, "", map[string]any{"error_id": ""})
	case *ConversationError:
		return observation("error", e.Detail, e.Detail, "", map[string]any{"error_id": e.Code})
	case *StateUpdate:
		state, ok := v0AgentState(e)
		if !ok {
			return nil, false
		}
		return observation("agent_state_changed", "", "", "", map[string]any{"agent_state": state, "reason": ""})
	case *CondensationSummary:
		return observation("condense", e.Summary, e.Summary, "", map[string]any{})
	}
	return nil, false
}

func v0Time(t Time) string {
	if t.IsZero() {
		return ""
	}
	return t.String()
}

// v0Action returns the V0 name, message and args of a tool call.
func v0Action(e *Action) (name, message string, args map[string]any, ok bool) {
	thought := e.Thought.Text()
	switch a := e.Action.(type) {
	case nil:
		return "", "", nil, false
	case *TerminalAction:
		return "run", "Running command: " + a.Command, map[string]any{
			"command": a.Command, "is_input": a.IsInput, "thought": thought,
		}, true
	case *FileEditorAction:
		switch a.Command {
		case EditorView:
			args := map[string]any{"path": a.Path, "thought": thought}
			if a.ViewRange != nil {
				args["view_range"] = a.ViewRange
			}
			return "read", "Reading file: " + a.Path, args, true
		case EditorCreate:
			return "write", "Writing file: " + a.Path, map[string]any{
				"path": a.Path, "content": deref(a.FileText), "thought": thought,
			}, true
		}
		args := map[string]any{"path": a.Path, "command": a.Command, "thought": thought}
		for k, v := range map[string]*string{"file_text": a.FileText, "old_str": a.OldStr, "new_str": a.NewStr} {
			if v != nil {
				args[k] = *v
			}
		}
		if a.InsertLine != nil {
			args["insert_line"] = *a.InsertLine
		}
		return "edit", "Editing file: " + a.Path, args, true
	case *BrowserNavigateAction:
		return "browse", "Browsing URL: " + a.URL, map[string]any{"url": a.URL, "thought": thought}, true
	case *BrowserGetContentAction:
		return "browse_interactive", "Reading the page", map[string]any{
			"start_from_char": a.StartFromChar, "extract_links": a.ExtractLinks, "thought": thought,
		}, true
	case *ThinkAction:
		return "think", a.Thought, map[string]any{"thought": a.Thought}, true
	case *FinishAction:
		return "finish", a.Message, map[string]any{
			"final_thought": a.Message, "outputs": map[string]any{}, "thought": thought,
		}, true
	case *TaskTrackerAction:
		return "task_tracking", "Updating the task list", map[string]any{
			"command": a.Command, "task_list": taskList(a.TaskList), "thought": thought,
		}, true
	case *MCPToolAction:
		return "call_tool_mcp", "Calling MCP tool " + e.ToolName, map[string]any{
			"name": e.ToolName, "arguments": mcpArguments(a.Data), "thought": thought,
		}, true
	}
	args = toolFields(e.Action, "kind")
	args["thought"] = thought
	name = v0ToolName(e.ToolName, e.Action.Kind())
	return name, "Calling tool " + name, args, true
}

// v0Observation returns the V0 name, message and extras of a tool result.
func v0Observation(e *Observation) (name, message string, extras map[string]any, ok bool) {
	out := e.Observation.Output()
	if _, terminal := e.Observation.(*TerminalObservation); out.IsError && !terminal {
		return "error", out.Content.Text(), map[string]any{"error_id": ""}, true
	}
	switch o := e.Observation.(type) {
	case *TerminalObservation:
		exitCode := o.Metadata.ExitCode
		if o.ExitCode != nil {
			exitCode = *o.ExitCode
		}
		return "run", fmt.Sprintf("Command `%s` executed with exit code %d.", o.Command, exitCode), map[string]any{
			"command":    o.Command,
			"command_id": o.Metadata.PID,
			"exit_code":  exitCode,
			"metadata":   toolFields(&o.Metadata),
			"hidden":     false,
		}, true
	case *FileEditorObservation:
		switch o.Command {
		case EditorView:
			return "read", "I read the file " + o.Path + ".", map[string]any{"path": o.Path}, true
		case EditorCreate:
			return "write", "I wrote to the file " + o.Path + ".", map[string]any{"path": o.Path}, true
		}
		return "edit", "I edited the file " + o.Path + ".", map[string]any{
			"path": o.Path, "prev_exist": o.PrevExist,
			"old_content": deref(o.OldContent), "new_content": deref(o.NewContent),
		}, true
	case *BrowserObservation:
		return "browse", "Visited " + o.URL, map[string]any{"url": o.URL, "error": false}, true
	case *ThinkObservation:
		return "think", "", map[string]any{}, true
	case *FinishObservation:
		return "", "", nil, false // V0 has none: the agent_state_changed that follows says it
	case *TaskTrackerObservation:
		return "task_tracking", "", map[string]any{"command": o.Command, "task_list": taskList(o.TaskList)}, true
	case *MCPToolObservation:
		return "mcp", "", map[string]any{"name": o.ToolName, "arguments": map[string]any{}}, true
	}
	name = v0ToolName(e.ToolName, e.Observation.Kind())
	return name, "", toolFields(e.Observation, "kind", "content", "is_error"), true
}

// mcpArguments returns an MCP call's arguments as a map; {} for none.
func mcpArguments(data json.RawMessage) map[string]any {
	args := map[string]any{}
	json.Unmarshal(data, &args)
	if args == nil {
		args = map[string]any{}
	}
	return args
}

// v0ToolName names a tool V0 never had: its tool name, or failing that its
// kind.
func v0ToolName(toolName, kind string) string {
	if name, ok := ToolName(toolName); ok {
		return name
	}
	if toolName != "" {
		return toolName
	}
	return kind
}

// toolFields returns the JSON fields of v as a map, without the keys drop.
func toolFields(v any, drop ...string) map[string]any {
	var (
		b   []byte
		err error
	)
	if t, ok := v.(interface{ Kind() string }); ok {
		b, err = marshalTool(t)
	} else {
		b, err = encode(v)
	}
	if err != nil {
		return map[string]any{}
	}
	fields, err := decodeFields(b, drop...)
	if err != nil || fields == nil {
		return map[string]any{}
	}
	return fields
}

func taskList(tasks []TaskItem) []TaskItem {
	if tasks == nil {
		return []TaskItem{}
	}
	return tasks
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// v0AgentStates maps execution statuses to V0 agent states.
var v0AgentStates = map[string]string{
	"idle":                     V0AwaitingUserInput,
	"running":                  V0Running,
	"paused":                   V0Paused,
	"waiting_for_confirmation": V0AwaitingUserConfirmation,
	"finished":                 V0Finished,
	"error":                    V0Error,
	"stuck":                    V0Error,
}

// v0AgentState returns the V0 agent state a state update carries, from an
// execution_status update or a full_state snapshot.
func v0AgentState(e *StateUpdate) (string, bool) {
	var status string
	switch e.Key {
	case StateKeyExecutionStatus:
		if json.Unmarshal(e.Value, &status) != nil {
			return "", false
		}
	case StateKeyFull:
		var full struct {
			ExecutionStatus string `json:"execution_status"`
		}
		if json.Unmarshal(e.Value, &full) != nil {
			return "", false
		}
		status = full.ExecutionStatus
	default:
		return "", false
	}
	state, ok := v0AgentStates[status]
	return state, ok
}
