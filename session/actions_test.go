package session

import (
	"context"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
)

// TestActRunsTools: the actions a user asks for directly run through the
// tools, each answered by its own observation, recorded after the action;
// without a sandbox, a tool that needs one is answered by an error
// observation of its own kind saying the action could not run (as in a
// run of the agent), and no error.
func TestActRunsTools(t *testing.T) {
	ctx := context.Background()
	m := newTestManager(t)
	a, _, err := m.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := a.Act(ctx, &event.ThinkAction{Thought: "plan the blue release"}, event.ToolThink)
	if err != nil || o.Observation.Kind() != "ThinkObservation" || o.Observation.Output().Content.Text() != "Your thought has been logged." {
		t.Fatalf("think: %+v, %v", o, err)
	}
	o, err = a.Act(ctx, &event.TerminalAction{Command: "ls"}, event.ToolTerminal)
	if err != nil {
		t.Fatalf("terminal without a sandbox: %v, want an error observation and no error", err)
	}
	term, ok := o.Observation.(*event.TerminalObservation)
	if !ok || !term.IsError || term.Command != "ls" || *term.ExitCode != -1 ||
		!strings.HasPrefix(term.Content.Text(), "The action could not run: ") {
		t.Fatalf("terminal without a sandbox: %#v", o.Observation)
	}
	o, err = a.Recall(ctx, "blue")
	if err != nil || o.Observation.Kind() != "RecallObservation" {
		t.Fatalf("recall: %+v, %v", o, err)
	}
	if text := o.Observation.Output().Content.Text(); !strings.Contains(text, "plan the blue release") {
		t.Errorf("recall found %q, not the thought", text)
	}
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []event.Kind
	for _, e := range evs {
		kinds = append(kinds, e.Kind())
	}
	if n := len(kinds); n < 6 || kinds[n-1] != event.KindObservation || kinds[n-2] != event.KindAction {
		t.Errorf("events %v: want each action followed by its observation", kinds)
	}
}
