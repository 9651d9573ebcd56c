package tools_test

import (
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

// TestFinish: finish needs no sandbox, which is down here, and shows the
// model's message.
func TestFinish(t *testing.T) {
	ws := newWorkspace()
	ws.down = errTest
	if o := call(t, ws, event.ToolFinish, map[string]any{"message": "done"}); text(o) != "done" || o.Kind() != "FinishObservation" {
		t.Errorf("finish: %s %q", o.Kind(), text(o))
	}
	if got := tools.Texts(&event.FinishAction{Message: "m"}); len(got) != 1 || got[0] != "m" {
		t.Errorf("Texts(finish) = %q", got)
	}
	if o := tools.Failed(&event.FinishAction{}, "x"); !o.Output().IsError {
		t.Error("Failed(finish) is not an error")
	}
}
