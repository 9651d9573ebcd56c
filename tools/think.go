package tools

import (
	"context"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// think lets the model write down its reasoning; it changes nothing.
type think struct{}

func (think) Spec() Spec {
	return Spec{Name: event.ToolThink, Kind: "ThinkTool", Actions: []string{"ThinkAction"},
		Description: "Think out loud: write down reasoning or a plan. Changes nothing.",
		Parameters:  schema(`{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"]}`),
	}
}

func (think) Decode(args []byte) (event.ToolAction, error) {
	return decodeInto[event.ThinkAction](args, nil)
}

func (think) Run(context.Context, Workspace, event.ToolAction) (event.ToolObservation, error) {
	o := &event.ThinkObservation{}
	o.Content = event.Text("Your thought has been logged.")
	return o, nil
}

func (think) Failed(_ event.ToolAction, msg string) event.ToolObservation { return failedPlain(msg) }

func (think) Texts(act event.ToolAction) []string {
	return []string{act.(*event.ThinkAction).Thought}
}

func (think) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolThink, Fields: []string{"thought"}}
}
