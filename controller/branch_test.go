package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// TestRewoundHistory: after a rewind to the first message, the model is
// shown the active branch only: the answer it gave after that message,
// still stored, is not in its next request.
func TestRewoundHistory(t *testing.T) {
	f := newFixture(t, setup{}, llmtest.Reply{Text: "first answer"}, llmtest.Reply{Text: "second answer"})
	ctx := context.Background()
	a := f.start("one", session.CreateRequest{})
	wait(t, a)
	msgs := ofKind[*event.Message](allEvents(t, a))
	if len(msgs) != 2 {
		t.Fatalf("%d messages after the first run, want 2", len(msgs))
	}
	if _, err := a.Navigate(ctx, msgs[0].ID); err != nil {
		t.Fatal(err)
	}
	run := true
	if _, err := a.SendMessage(ctx, session.MessageRequest{Content: event.Text("two"), Run: &run}); err != nil {
		t.Fatal(err)
	}
	wait(t, a)
	reqs := f.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model requests, want 2", len(reqs))
	}
	b, _ := json.Marshal(reqs[1].Messages())
	shown := string(b)
	for _, want := range []string{"one", "two"} {
		if !strings.Contains(shown, want) {
			t.Errorf("second request lacks %q: %s", want, shown)
		}
	}
	if strings.Contains(shown, "first answer") {
		t.Errorf("second request shows the answer of the branch left: %s", shown)
	}
	if n := len(ofKind[*event.Message](allEvents(t, a))); n != 4 {
		t.Errorf("%d messages stored, want 4 (the branch left stays stored)", n)
	}
}
