package controller

import (
	"encoding/json"

	"github.com/gohands/gohands/event"
)

// step is one action and what came of it, reduced to comparable keys.
type step struct {
	action string // tool and arguments
	result string // observation text, or the error
	failed bool
}

// stuckReason reports whether the agent is going round in circles since
// the last user message, and how:
//   - the same action with the same result four times in a row;
//   - the same action failing three times in a row;
//   - the same error of the agent's own (bad arguments, unknown tool)
//     three times in a row;
//   - two actions alternating with the same results, three times each.
func stuckReason(evs []event.Event) string {
	var steps []step
	for i := len(evs) - 1; i >= 0; i-- {
		if m, ok := evs[i].(*event.Message); ok && m.LLMMessage.Role == "user" {
			evs = evs[i+1:]
			break
		}
	}
	byCall := make(map[string]int) // tool call id -> index in steps
	for _, e := range evs {
		switch e := e.(type) {
		case *event.Action:
			if e.Action == nil {
				continue // a call that did not parse: its AgentError is the step
			}
			key := e.ToolName
			if e.Action != nil {
				b, _ := json.Marshal(e.Action)
				key += string(b)
			}
			byCall[e.ToolCallID] = len(steps)
			steps = append(steps, step{action: key})
		case *event.Observation:
			if i, ok := byCall[e.ToolCallID]; ok && e.Observation != nil {
				out := e.Observation.Output()
				steps[i].result = out.Content.Text()
				steps[i].failed = out.IsError
				if t, ok := e.Observation.(*event.TerminalObservation); ok && t.ExitCode != nil && *t.ExitCode != 0 && *t.ExitCode != -1 {
					steps[i].failed = true
				}
			}
		case *event.AgentError:
			steps = append(steps, step{action: "error:" + e.ToolName, result: e.Error, failed: true})
		}
	}
	n := len(steps)
	same := func(k int, eq func(a, b step) bool) bool {
		if n < k {
			return false
		}
		for i := n - k + 1; i < n; i++ {
			if !eq(steps[i], steps[n-k]) {
				return false
			}
		}
		return true
	}
	switch {
	case same(4, func(a, b step) bool { return a.action == b.action && a.result == b.result }):
		return "the same action gave the same result four times in a row"
	case same(3, func(a, b step) bool { return a.action == b.action && a.failed && b.failed }):
		return "the same action failed three times in a row"
	case same(3, func(a, b step) bool {
		return a.action == b.action && a.result == b.result && len(a.action) > 6 && a.action[:6] == "error:"
	}):
		return "the same error three times in a row"
	}
	if n >= 6 {
		a, b := steps[n-2], steps[n-1]
		if a.action != b.action {
			alternating := true
			for i := n - 6; i < n; i++ {
				want := a
				if (n-1-i)%2 == 0 {
					want = b
				}
				if steps[i].action != want.action || steps[i].result != want.result {
					alternating = false
					break
				}
			}
			if alternating {
				return "two actions alternated with the same results three times"
			}
		}
	}
	return ""
}
