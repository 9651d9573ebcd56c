package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// TestThinkAndFinish: neither needs the sandbox, which is down here.
func TestThinkAndFinish(t *testing.T) {
	ws := newWorkspace()
	ws.down = errTest
	if o := call(t, ws, event.ToolThink, map[string]any{"thought": "plan"}); text(o) != "Your thought has been logged." || o.Kind() != "ThinkObservation" {
		t.Errorf("think: %s %q", o.Kind(), text(o))
	}
	if o := call(t, ws, event.ToolFinish, map[string]any{"message": "done"}); text(o) != "done" || o.Kind() != "FinishObservation" {
		t.Errorf("finish: %s %q", o.Kind(), text(o))
	}
	if got := tools.Texts(&event.ThinkAction{Thought: "t"}); len(got) != 1 || got[0] != "t" {
		t.Errorf("Texts(think) = %q", got)
	}
	if got := tools.Texts(&event.FinishAction{Message: "m"}); len(got) != 1 || got[0] != "m" {
		t.Errorf("Texts(finish) = %q", got)
	}
}
