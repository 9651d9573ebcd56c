package tools

import (
	"context"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// finish ends the agent's turn with a message to the user. The
// controller stops the run after it.
type finish struct{}

func (finish) Spec() Spec {
	return Spec{Name: event.ToolFinish, Kind: "FinishTool", Actions: []string{"FinishAction"},
		Description: "Finish: the task is done (or cannot be done). message tells the user what was done.",
		Parameters:  schema(`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`),
	}
}

func (finish) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.FinishAction](args, nil)
}

func (finish) Run(_ context.Context, _ Workspace, act event.ToolAction) (event.ToolObservation, error) {
	o := &event.FinishObservation{}
	o.Content = event.Text(act.(*event.FinishAction).Message)
	return o, nil
}

func (finish) Failed(_ event.ToolAction, msg string) event.ToolObservation { return failedPlain(msg) }

func (finish) Texts(act event.ToolAction) []string {
	return []string{act.(*event.FinishAction).Message}
}

func (finish) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolFinish, Fields: []string{"message"}}
}
