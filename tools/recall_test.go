package tools_test

import (
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

func TestRecall(t *testing.T) {
	ws := newWorkspace()
	m := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text("deploy the blue service")}}
	m.Seq, m.Source = 1, event.SourceUser
	other := &event.Message{LLMMessage: event.LLMMessage{Role: "user", Content: event.Text("something else")}}
	other.Seq, other.Source = 2, event.SourceUser
	ws.events = []event.Event{m, other}

	o := call(t, ws, "recall", map[string]any{"query": "blue"})
	if o.Kind() != "RecallObservation" || text(o) != "1 events mention \"blue\", newest first:\n[1] user MessageEvent: deploy the blue service" {
		t.Errorf("recall: %s %q", o.Kind(), text(o))
	}
	// The recall itself, once recorded, is not found by the next one.
	ws.events = append(ws.events, &event.Action{Action: tools.RecallAction("green")})
	o = call(t, ws, "recall", map[string]any{"query": "green"})
	if !strings.HasPrefix(text(o), "Nothing in this conversation mentions") {
		t.Errorf("recall of nothing: %q", text(o))
	}
	if _, ok := tools.Lookup("recall"); !ok {
		t.Fatal("no recall tool")
	}
	if got := tools.Texts(tools.RecallAction("q")); len(got) != 1 || got[0] != "q" {
		t.Errorf("Texts = %q", got)
	}
}
