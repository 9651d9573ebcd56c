package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// pollUntil polls cond until it holds, failing the test after a minute.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interrupt interrupts a and checks that the run has ended when it
// returns: a pause would still wait for the action in flight.
func interrupt(t *testing.T, a *session.AgentSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Running() {
		t.Fatal("the run goes on after Interrupt returned")
	}
	if st := a.Status(); st != session.StatusPaused {
		t.Fatalf("status %s after interrupt, want paused", st)
	}
	evs := allEvents(t, a)
	if n := len(ofKind[*event.Interrupt](evs)); n != 1 {
		t.Errorf("%d InterruptEvents, want 1", n)
	}
	if n := len(ofKind[*event.Pause](evs)); n != 0 {
		t.Errorf("%d PauseEvents after an interrupt, want 0", n)
	}
}

// TestInterruptDuringTheModelCall checks that an interrupt ends the model
// call in flight, and that run resumes the conversation.
func TestInterruptDuringTheModelCall(t *testing.T) {
	f := newFixture(t, setup{},
		llmtest.Reply{Text: "too late", Delay: 10 * time.Minute},
		call("finish", `{"message":"done"}`))
	a := f.start("wait for it", session.CreateRequest{})
	pollUntil(t, "model call", func() bool { return len(f.model.Requests()) >= 1 })
	interrupt(t, a)
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s after resume, want finished", st)
	}
}

// TestInterruptEndsTheActionInFlight checks what sets an interrupt apart
// from a pause: the command running in the sandbox is cancelled at once,
// and the action gets its observation.
func TestInterruptEndsTheActionInFlight(t *testing.T) {
	f := newFixture(t, setup{sandboxes: true}, call("terminal", `{"command":"sleep 600"}`))
	a := f.start("sleep", session.CreateRequest{})
	pollUntil(t, "action", func() bool { return len(ofKind[*event.Action](allEvents(t, a))) == 1 })
	interrupt(t, a)
	ae := ofKind[*event.Action](allEvents(t, a))[0]
	var answered bool
	for _, o := range ofKind[*event.Observation](allEvents(t, a)) {
		answered = answered || o.ActionID == ae.ID
	}
	if !answered {
		t.Error("the interrupted action has no observation")
	}
}

// TestSwitchLLMTakesEffectAtTheNextStep checks that a model switched while
// the agent runs answers the run's next step, and that stats count each
// LLM under its usage id.
func TestSwitchLLMTakesEffectAtTheNextStep(t *testing.T) {
	f := newFixture(t, setup{},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"one"}`}}, Delay: 300 * time.Millisecond},
		call("finish", `{"message":"done"}`))
	a := f.start("think once", session.CreateRequest{})
	pollUntil(t, "model call", func() bool { return len(f.model.Requests()) >= 1 })
	if err := a.SwitchLLM(session.LLM{Model: "openai/second-model", BaseURL: f.model.URL() + "/v1",
		APIKey: "second-key", UsageID: "second"}); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, a); st != session.StatusFinished {
		t.Fatalf("status %s, want finished", st)
	}
	reqs := f.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2", len(reqs))
	}
	if got := reqs[0].Model(); got != "test-model" {
		t.Errorf("first step asked %q, want test-model", got)
	}
	if got := reqs[1].Model(); got != "second-model" {
		t.Errorf("the step after the switch asked %q, want second-model", got)
	}
	stats := a.Info().Stats.UsageToMetrics
	if stats[session.DefaultUsageID].ModelName == "" || stats["second"].ModelName == "" {
		t.Errorf("stats %+v, want an entry for each LLM", stats)
	}
}

// TestAutoTitle checks that autotitle names the conversation with its
// model from the first message, in the background: create does not wait
// for the title.
func TestAutoTitle(t *testing.T) {
	f := newFixture(t, setup{}, llmtest.Reply{Text: "Fix the login bug", Delay: 500 * time.Millisecond})
	on, run := true, false
	a, _, err := f.m.Create(context.Background(), session.CreateRequest{AutoTitle: &on,
		InitialMessage: &session.MessageRequest{Role: "user", Content: event.Text("the login form rejects every password"), Run: &run}})
	if err != nil {
		t.Fatal(err)
	}
	if title := a.Info().Title; title != "" {
		t.Fatalf("create waited for the title %q", title)
	}
	pollUntil(t, "title", func() bool { return a.Info().Title != "" })
	if got := a.Info().Title; got != "Fix the login bug" {
		t.Errorf("title %q, want the model's", got)
	}
	if !strings.Contains(string(f.model.Requests()[0].Raw), "the login form rejects every password") {
		t.Error("the model was not shown the first message")
	}
}
