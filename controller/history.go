package controller

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gohands/gohands/event"
)

// history is what the model is shown, rebuilt from the stored events.
type history struct {
	system   string
	messages []event.LLMMessage
	// tokens estimates the size of the messages.
	tokens int
	// view is the events that make up messages, for condensation: their
	// ids in order, the first user message excluded.
	view []string
	// tasks is the task list as the last task_tracker call left it.
	tasks []event.TaskItem
}

// buildHistory turns a conversation's events into the model's messages.
// Tool calls are answered right after the assistant message that made
// them, whatever came in between (a user message sent while a command
// ran waits until the calls are answered); a call that never got a
// result (the server stopped mid-action) is answered with a note saying
// so, as every API requires an answer to every call.
func buildHistory(evs []event.Event) history {
	var h history
	forgotten := make(map[string]bool)
	var summary string
	for _, e := range evs {
		switch e := e.(type) {
		case *event.Condensation:
			for _, id := range e.ForgottenEventIDs {
				forgotten[id] = true
			}
		case *event.CondensationSummary:
			summary = e.Summary
		case *event.SystemPrompt:
			h.system = e.SystemPrompt.Text
		}
	}

	var (
		open     *event.LLMMessage // the assistant message whose calls await results
		pending  map[string]bool   // its calls without a result yet
		results  []event.LLMMessage
		deferred []event.LLMMessage
		firstMsg = true
	)
	flush := func() {
		if open == nil {
			return
		}
		h.messages = append(h.messages, *open)
		for _, tc := range open.ToolCalls {
			if pending[tc.ID] {
				results = append(results, event.LLMMessage{Role: "tool", ToolCallID: tc.ID, Name: tc.Name,
					Content: event.Text("No result: the run stopped before this action finished.")})
			}
		}
		h.messages = append(h.messages, results...)
		h.messages = append(h.messages, deferred...)
		open, pending, results, deferred = nil, nil, nil, nil
	}
	add := func(m event.LLMMessage) {
		if open != nil {
			deferred = append(deferred, m)
			return
		}
		h.messages = append(h.messages, m)
	}
	answer := func(callID, name string, content event.ContentList) bool {
		if open == nil || !pending[callID] {
			return false
		}
		delete(pending, callID)
		results = append(results, event.LLMMessage{Role: "tool", ToolCallID: callID, Name: name, Content: content})
		if len(pending) == 0 {
			flush()
		}
		return true
	}

	for _, e := range evs {
		id := e.Meta().ID
		if forgotten[id] {
			continue
		}
		switch e := e.(type) {
		case *event.Message:
			m := e.LLMMessage
			if m.Role == "" {
				m.Role = "user"
			}
			add(event.LLMMessage{Role: m.Role, Content: m.Content})
			if m.Role == "user" && firstMsg {
				firstMsg = false
				if summary != "" {
					add(event.LLMMessage{Role: "user", Content: event.Text("Summary of the earlier part of this conversation, which is no longer shown:\n" + summary)})
				}
				continue
			}
		case *event.Action:
			call := event.ToolCall{ID: e.ToolCallID, Name: e.ToolName}
			if e.ToolCall != nil {
				call = *e.ToolCall
			} else if e.Action != nil {
				args, _ := json.Marshal(e.Action)
				call.Arguments = string(args)
			}
			if open != nil && open.ToolCallID == e.LLMResponseID && e.LLMResponseID != "" {
				open.ToolCalls = append(open.ToolCalls, call) // another call of the same response
			} else {
				flush()
				// ToolCallID holds the response id while the message is open.
				open = &event.LLMMessage{Role: "assistant", Content: e.Thought, ReasoningContent: e.ReasoningContent,
					ToolCalls: []event.ToolCall{call}, ToolCallID: e.LLMResponseID}
				pending = make(map[string]bool)
			}
			pending[call.ID] = true
		case *event.Observation:
			content := event.ContentList{}
			if e.Observation != nil {
				content = e.Observation.Output().Content
				if tt, ok := e.Observation.(*event.TaskTrackerObservation); ok && tt.Command == event.TaskPlan {
					h.tasks = tt.TaskList
				}
			}
			if len(content) == 0 {
				content = event.Text("(no output)")
			}
			answer(e.ToolCallID, e.ToolName, content)
		case *event.SkillActivated:
			add(event.LLMMessage{Role: "user", Content: e.Content})
		case *event.HookExecution:
			if e.AdditionalContext == "" || (e.HookEventType != "UserPromptSubmit" && e.HookEventType != "SessionStart") {
				continue
			}
			add(event.LLMMessage{Role: "user", Content: event.Text(hookNote(e.HookEventType, []string{e.AdditionalContext}))})
		case *event.UserReject:
			answer(e.ToolCallID, e.ToolName, event.Text("The user rejected this action: "+e.RejectionReason))
		case *event.AgentError:
			if !answer(e.ToolCallID, e.ToolName, event.Text(e.Error)) {
				add(event.LLMMessage{Role: "user", Content: event.Text("Error: " + e.Error)})
			}
		default:
			continue
		}
		h.view = append(h.view, id)
	}
	flush()
	for i := range h.messages {
		if h.messages[i].Role == "assistant" {
			h.messages[i].ToolCallID = "" // the response id, used above only
		}
		h.tokens += estimateTokens(h.messages[i])
	}
	h.tokens += len(h.system) / 4
	return h
}

// estimateTokens guesses a message's size in tokens: four bytes a token.
func estimateTokens(m event.LLMMessage) int {
	n := len(m.Content.Text()) + len(m.ReasoningContent)
	for _, tc := range m.ToolCalls {
		n += len(tc.Name) + len(tc.Arguments)
	}
	return n/4 + 4
}

// describe renders events as plain text for the condenser's prompt.
func describe(evs []event.Event) string {
	var b strings.Builder
	for _, e := range evs {
		switch e := e.(type) {
		case *event.Message:
			fmt.Fprintf(&b, "[%s] %s\n", e.LLMMessage.Role, clip(e.LLMMessage.Content.Text(), 2000))
		case *event.Action:
			args := ""
			if e.Action != nil {
				a, _ := json.Marshal(e.Action)
				args = string(a)
			}
			fmt.Fprintf(&b, "[agent called %s] %s %s\n", e.ToolName, clip(e.Thought.Text(), 500), clip(args, 1000))
		case *event.Observation:
			if e.Observation != nil {
				fmt.Fprintf(&b, "[result of %s] %s\n", e.ToolName, clip(e.Observation.Output().Content.Text(), 1500))
			}
		case *event.AgentError:
			fmt.Fprintf(&b, "[error] %s\n", clip(e.Error, 500))
		case *event.UserReject:
			fmt.Fprintf(&b, "[rejected by the user] %s\n", e.RejectionReason)
		case *event.CondensationSummary:
			fmt.Fprintf(&b, "[earlier summary] %s\n", e.Summary)
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2] + " [...] " + s[len(s)-n/2:]
}
