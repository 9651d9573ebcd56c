package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// recall searches the conversation's own events for text: the V0
// protocol's recall, which users ask for directly. Its action is an
// UnknownAction of kind RecallAction, as the event package has no type
// of its own for it.
type recall struct{}

// recallLimit is how many events a recall reports.
const recallLimit = 20

// RecallAction is the action of a recall of query.
func RecallAction(query string) event.ToolAction {
	return &event.UnknownAction{RawKind: "RecallAction", Fields: map[string]any{"query": query}}
}

func (recall) Spec() Spec {
	return Spec{Name: "recall", Kind: "RecallTool", Actions: []string{"RecallAction"},
		Description: "Search this conversation's events for text, newest first.",
		Parameters:  schema(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`),
	}
}

func (recall) Decode(args []byte) (event.ToolAction, error) {
	var a struct {
		Query string `json:"query"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if strings.TrimSpace(a.Query) == "" {
		return nil, fmt.Errorf("query: missing")
	}
	return RecallAction(a.Query), nil
}

// Run finds the events whose text holds the query, newest first.
func (recall) Run(_ context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	query := recallQuery(act)
	evs, err := ws.Search(query, recallLimit)
	o := &event.UnknownObservation{RawKind: "RecallObservation", Fields: map[string]any{"query": query}}
	if err != nil {
		o.Content, o.IsError = event.Text("The search failed: "+err.Error()), true
		return o, nil
	}
	var b strings.Builder
	n := 0
	for _, e := range evs {
		text := eventText(e)
		if text == "" || strings.Contains(text, "RecallAction") {
			continue
		}
		n++
		fmt.Fprintf(&b, "[%d] %s %s: %s\n", e.Meta().Seq, e.Meta().Source, e.Kind(), truncate(strings.Join(strings.Fields(text), " "), 300))
	}
	if n == 0 {
		o.Content = event.Text(fmt.Sprintf("Nothing in this conversation mentions %q.", query))
	} else {
		o.Content = event.Text(fmt.Sprintf("%d events mention %q, newest first:\n%s", n, query, strings.TrimRight(b.String(), "\n")))
	}
	return o, nil
}

func recallQuery(act event.ToolAction) string {
	if u, ok := act.(*event.UnknownAction); ok {
		q, _ := u.Fields["query"].(string)
		return q
	}
	return ""
}

func (recall) Failed(_ event.ToolAction, msg string) event.ToolObservation { return failedPlain(msg) }

func (recall) Texts(act event.ToolAction) []string {
	return []string{recallQuery(act)}
}

// SecurityFields: none, so far; rules do not cover recall, whose actions
// they rate UNKNOWN.
func (recall) SecurityFields() security.ToolFields { return security.ToolFields{} }

// eventText is the text of an event a person would search.
func eventText(e event.Event) string {
	switch e := e.(type) {
	case *event.Message:
		return e.LLMMessage.Content.Text()
	case *event.Action:
		t := e.Thought.Text()
		if e.Action != nil {
			b, _ := json.Marshal(e.Action)
			t += " " + string(b)
		}
		return t
	case *event.Observation:
		if e.Observation != nil {
			return e.Observation.Output().Content.Text()
		}
	case *event.AgentError:
		return e.Error
	}
	return ""
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n <= 3 {
		return string(r[:n])
	}
	return string(r[:n-3]) + "..."
}
