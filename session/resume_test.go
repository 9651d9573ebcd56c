package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// finishLoop is a Loop that finishes at once, counting its runs.
type finishLoop struct{ runs chan string }

func (l finishLoop) Run(ctx context.Context, a *AgentSession, _ bool) (Outcome, error) {
	l.runs <- a.ID()
	return Outcome{Kind: Finished}, nil
}

func (finishLoop) Reject(context.Context, *AgentSession, string) error        { return nil }
func (finishLoop) Ask(context.Context, *AgentSession, string) (string, error) { return "", nil }
func (finishLoop) Title(context.Context, *AgentSession, int) (string, error)  { return "", nil }
func (finishLoop) Condense(context.Context, *AgentSession) error              { return nil }

// TestResumeAfterRestart: a conversation stored as running (the server
// died mid-run) is resumed by the next manager with a loop, and ends in
// error with an event saying why under a manager without one.
func TestResumeAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	ctx := context.Background()
	open := func(loop Loop) (*ConversationManager, func()) {
		store, err := storage.Open(path, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(Options{Store: store, Loop: loop})
		if err != nil {
			t.Fatal(err)
		}
		return m, func() { m.Close(ctx); store.Close() }
	}
	m, closeM := open(nil)
	var ids []string
	for range 2 {
		a, _, err := m.Create(ctx, CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		// What a server killed mid-run leaves behind.
		if err := a.setStatus(StatusRunning); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID())
	}
	closeM()

	// A manager without a loop ends the first in error.
	m, closeM = open(nil)
	if n, err := m.Resume(ctx); err != nil || n != 0 {
		t.Fatalf("Resume without a loop = %d, %v", n, err)
	}
	a, err := m.Get(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if a.Status() != StatusError {
		t.Errorf("status %s, want error", a.Status())
	}
	evs, _, _ := m.store.Events(ids[0], storage.EventQuery{Kinds: []event.Kind{event.KindConversationError}})
	if len(evs) != 1 || evs[0].(*event.ConversationError).Code != "ServerRestarted" {
		t.Errorf("error events %v, want one ServerRestarted", evs)
	}
	// The second ended in error too; make it running again for the next
	// manager.
	b, _ := m.Get(ids[1])
	b.mu.Lock()
	b.conv.Status = StatusIdle
	b.mu.Unlock()
	if err := b.setStatus(StatusRunning); err != nil {
		t.Fatal(err)
	}
	closeM()

	loop := finishLoop{runs: make(chan string, 4)}
	m, closeM = open(loop)
	defer closeM()
	if n, err := m.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("Resume = %d, %v; want 1", n, err)
	}
	select {
	case id := <-loop.runs:
		if id != ids[1] {
			t.Errorf("resumed %s, want %s", id, ids[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running conversation was not resumed")
	}
	b, _ = m.Get(ids[1])
	deadline := time.Now().Add(10 * time.Second)
	for b.Status() != StatusFinished && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.Status() != StatusFinished {
		t.Errorf("status %s, want finished", b.Status())
	}
}
