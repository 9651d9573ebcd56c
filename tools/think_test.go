package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// TestThink: think needs no sandbox, which is down here.
func TestThink(t *testing.T) {
	ws := newWorkspace()
	ws.down = errTest
	if o := call(t, ws, event.ToolThink, map[string]any{"thought": "plan"}); text(o) != "Your thought has been logged." || o.Kind() != "ThinkObservation" {
		t.Errorf("think: %s %q", o.Kind(), text(o))
	}
	if got := tools.Texts(&event.ThinkAction{Thought: "t"}); len(got) != 1 || got[0] != "t" {
		t.Errorf("Texts(think) = %q", got)
	}
}
