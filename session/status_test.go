package session

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
	"github.com/google/go-cmp/cmp"
)

// scriptedLoop is a Loop whose runs end with the outcomes given, in
// order, recording whether each was confirmed.
type scriptedLoop struct {
	outcomes  chan Outcome
	confirmed chan bool
	rejected  chan string
}

func (l *scriptedLoop) Run(_ context.Context, _ *AgentSession, confirmed bool) (Outcome, error) {
	l.confirmed <- confirmed
	return <-l.outcomes, nil
}

func (l *scriptedLoop) Reject(_ context.Context, _ *AgentSession, reason string) error {
	l.rejected <- reason
	return nil
}
func (*scriptedLoop) Ask(context.Context, *AgentSession, string) (string, error) { return "", nil }
func (*scriptedLoop) Title(context.Context, *AgentSession, int) (string, error)  { return "", nil }
func (*scriptedLoop) Condense(context.Context, *AgentSession) error              { return nil }

// scriptedConversation creates a conversation on a manager with opts
// and a store of its own, both closed when the test ends.
func scriptedConversation(t *testing.T, opts Options) *AgentSession {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = store
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx); store.Close() })
	a, _, err := m.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStatusFollowsOutcomes: the session moves the status from how each
// run ended, records why a run failed, and takes the user's answer to a
// confirmation: a rejection goes to the loop and leaves the conversation
// idle, an acceptance starts a confirmed run.
func TestStatusFollowsOutcomes(t *testing.T) {
	ctx := context.Background()
	loop := &scriptedLoop{outcomes: make(chan Outcome, 1), confirmed: make(chan bool, 1), rejected: make(chan string, 1)}
	a := scriptedConversation(t, Options{Loop: loop})
	settled := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if !a.Running() && a.Status() == want {
				return
			}
		}
		t.Fatalf("status %s, want %s", a.Status(), want)
	}

	loop.outcomes <- Outcome{Kind: Waiting}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if <-loop.confirmed {
		t.Error("a plain run is confirmed")
	}
	settled(StatusWaitingForConfirmation)
	if err := a.RespondToConfirmation(ctx, false, ""); err != nil {
		t.Fatal(err)
	}
	if r := <-loop.rejected; r != "The user rejected this action." {
		t.Errorf("rejection reason %q", r)
	}
	settled(StatusIdle)
	if err := a.RespondToConfirmation(ctx, true, ""); err == nil {
		t.Error("a confirmation with nothing waiting was taken")
	}

	loop.outcomes <- Outcome{Kind: Waiting}
	a.Run(ctx)
	<-loop.confirmed
	settled(StatusWaitingForConfirmation)
	loop.outcomes <- Outcome{Kind: Failed, Code: "LLMError", Detail: "down"}
	if err := a.RespondToConfirmation(ctx, true, ""); err != nil {
		t.Fatal(err)
	}
	if !<-loop.confirmed {
		t.Error("the run after an acceptance is not confirmed")
	}
	settled(StatusError)

	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	var errs []string
	for _, e := range evs {
		switch e := e.(type) {
		case *event.StateUpdate:
			if e.Key == event.StateKeyExecutionStatus {
				var s string
				json.Unmarshal(e.Value, &s)
				statuses = append(statuses, s)
			}
		case *event.ConversationError:
			errs = append(errs, e.Code+": "+e.Detail)
		}
	}
	want := []string{StatusRunning, StatusWaitingForConfirmation, StatusIdle, StatusRunning, StatusWaitingForConfirmation, StatusRunning, StatusError}
	if diff := cmp.Diff(statuses, want); diff != "" {
		t.Errorf("status events (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(errs, []string{"LLMError: down"}); diff != "" {
		t.Errorf("error events (-got +want):\n%s", diff)
	}
}

// TestStatusAfter: every outcome but Stopped leads to a status.
func TestStatusAfter(t *testing.T) {
	for k := Stopped; k <= actionsRejected; k++ {
		if got := statusAfter(Outcome{Kind: k}); (got == "") != (k == Stopped) {
			t.Errorf("statusAfter(%d) = %q", k, got)
		}
	}
}

// answerOnWait is a Webhooks that, told of a conversation waiting for
// confirmation, accepts at once from another goroutine, as a client that
// saw the new status would, and holds the status change up a while so
// that the acceptance comes while the ending run is still recorded.
type answerOnWait struct {
	a       func() *AgentSession
	answers chan error
}

func (*answerOnWait) Event(string, []byte) {}

func (w *answerOnWait) Conversation(info []byte) {
	var c struct {
		Status string `json:"execution_status"`
	}
	if json.Unmarshal(info, &c) != nil || c.Status != StatusWaitingForConfirmation {
		return
	}
	done := make(chan error, 1)
	go func() { done <- w.a().RespondToConfirmation(context.Background(), true, "") }()
	select {
	case err := <-done:
		w.answers <- err
	case <-time.After(200 * time.Millisecond):
		go func() { w.answers <- <-done }()
	}
}

// TestConfirmationAsTheRunEnds: an acceptance sent the moment the status
// says waiting_for_confirmation, while the run that stopped for it is
// still being recorded, starts the confirmed run rather than being
// refused as a conflict.
func TestConfirmationAsTheRunEnds(t *testing.T) {
	ctx := context.Background()
	loop := &scriptedLoop{outcomes: make(chan Outcome, 2), confirmed: make(chan bool, 2), rejected: make(chan string, 1)}
	var a *AgentSession
	hooks := &answerOnWait{answers: make(chan error, 1), a: func() *AgentSession { return a }}
	a = scriptedConversation(t, Options{Loop: loop, Webhooks: hooks})
	loop.outcomes <- Outcome{Kind: Waiting}
	loop.outcomes <- Outcome{Kind: Finished}
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hooks.answers:
		if err != nil {
			t.Fatalf("acceptance as the run ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the acceptance did not return")
	}
	if <-loop.confirmed {
		t.Error("the first run is confirmed")
	}
	if !<-loop.confirmed {
		t.Error("the run after the acceptance is not confirmed")
	}
}
