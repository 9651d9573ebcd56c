package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/llm/llmtest"
)

// TestStreamedAnswerReachesSockets checks live tokens end to end: with
// agent.llm.stream the answer reaches a socket as StreamingDeltaEvents
// while the model writes it, then as the stored MessageEvent once; the
// deltas are not stored, and a socket that reconnects gets exactly the
// stored events again, no delta among them.
func TestStreamedAnswerReachesSockets(t *testing.T) {
	t.Parallel()
	const answer = "Here are the five words."
	model := llmtest.New(t, llmtest.Reply{Text: answer, TokenDelay: 20 * time.Millisecond})
	e := newEnv(t, options{loop: controller.New(controller.Options{})})
	c := e.create(map[string]any{"agent": map[string]any{"llm": map[string]any{
		"model": "openai/test-model", "api_key": "k", "base_url": model.URL() + "/v1", "stream": true}}})
	s := e.dial("/sockets/events/"+c.ID+"?resend_all=true", nil)
	s.fullState(c.ID)
	e.call(http.MethodPost, "/api/conversations/"+c.ID+"/events", message("say five words", true), http.StatusOK, nil)

	var streamed strings.Builder
	var deltas, answers int
	for answers == 0 {
		raw := s.read()
		var f frame
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Kind == "StreamingDeltaEvent":
			var d struct {
				Content *string `json:"content"`
				Seq     *int64  `json:"seq"`
			}
			json.Unmarshal(raw, &d)
			if d.Seq != nil {
				t.Errorf("a delta with a seq: %s", raw)
			}
			if d.Content != nil {
				streamed.WriteString(*d.Content)
			}
			deltas++
		case f.Kind == "MessageEvent" && f.Source == "agent":
			answers++
			if f.text() != answer {
				t.Errorf("stored answer %q, want %q", f.text(), answer)
			}
		}
	}
	if deltas < 5 || streamed.String() != answer {
		t.Errorf("%d deltas saying %q, want the answer a word at a time before the message", deltas, streamed.String())
	}

	stored := e.events(c.ID, nil)
	for _, f := range stored {
		if f.Kind == "StreamingDeltaEvent" {
			t.Fatal("a delta was stored")
		}
	}
	// Wait for the run's last event (the stored change of its status to
	// finished) before replaying: the status is visible in the info a
	// moment before its event is stored.
	deadline := time.Now().Add(30 * time.Second)
	for finished := false; !finished; {
		stored = e.events(c.ID, nil)
		for _, f := range stored {
			if f.Kind == "ConversationStateUpdateEvent" && f.Key == "execution_status" && string(f.Value) == `"finished"` {
				finished = true
			}
		}
		if !finished && time.Now().After(deadline) {
			t.Fatal("the run did not finish")
		}
		if !finished {
			time.Sleep(20 * time.Millisecond)
		}
	}
	again := e.dial("/sockets/events/"+c.ID+"?resend_all=true", nil)
	again.fullState(c.ID)
	for i, want := range stored {
		got := again.event()
		if got.Kind != want.Kind || got.ID != want.ID || got.Seq != want.Seq {
			t.Fatalf("replayed event %d: %s %s seq %d, want %s %s seq %d", i, got.Kind, got.ID, got.Seq, want.Kind, want.ID, want.Seq)
		}
	}
	if raw, err := again.tryRead(300 * time.Millisecond); err == nil {
		t.Errorf("more after the replay: %s", raw)
	}
	answers = 0
	for _, f := range stored {
		if f.Kind == "MessageEvent" && f.Source == "agent" {
			answers++
		}
	}
	if answers != 1 {
		t.Errorf("%d agent messages stored, want 1", answers)
	}
}
