package session

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// fullDisk is a checkpoint store whose Copy finds the disk full.
type fullDisk struct{ *checkpoint.Store }

func (fullDisk) Copy(string, string, string) (checkpoint.Checkpoint, error) {
	return checkpoint.Checkpoint{}, fmt.Errorf("write blob: %w", syscall.ENOSPC)
}

// withCheckpoint returns a manager with sandboxes (runtime-agents in the
// test process, all on one workspace folder) and checkpoints in store
// cks, and a conversation of it that wrote a file, checkpointed.
func withCheckpoint(t *testing.T, wrap func(*checkpoint.Store) Checkpoints, create CreateRequest) (*ConversationManager, *AgentSession, *event.Observation) {
	t.Helper()
	work := t.TempDir()
	be := sandboxtest.New(t)
	be.Engine().SetWorkspace(work)
	cks, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cks.Close() })
	var store Checkpoints = cks
	if wrap != nil {
		store = wrap(cks)
	}
	m := newManagerOn(t, openStore(t), Options{Sandboxes: be, Checkpoints: store, CheckpointsDefault: true})
	create.Workspace = &Workspace{WorkingDir: work}
	a, _, err := m.Create(context.Background(), create)
	if err != nil {
		t.Fatal(err)
	}
	say(t, a, "write a")
	if err := os.WriteFile(filepath.Join(work, "a.txt"), []byte("A"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &event.Observation{ToolName: event.ToolTerminal, ToolCallID: "c1", ActionID: "a1",
		Observation: &event.TerminalObservation{Command: "echo A > a.txt"}}
	if err := a.Append(o); err != nil {
		t.Fatal(err)
	}
	return m, a, o
}

// TestCheckpointAfterAction: a stored observation of a tool that changes
// files is followed by a checkpoint at its seq; one of think is not.
func TestCheckpointAfterAction(t *testing.T) {
	m, a, o := withCheckpoint(t, nil, CreateRequest{})
	cks := m.opts.Checkpoints.List(a.ID())
	if len(cks) == 0 || cks[len(cks)-1].Seq != o.Seq {
		t.Fatalf("checkpoints %+v, want the last at seq %d", cks, o.Seq)
	}
	think := &event.Observation{ToolName: event.ToolThink, ToolCallID: "c2", ActionID: "a2", Observation: &event.ThinkObservation{}}
	if err := a.Append(think); err != nil {
		t.Fatal(err)
	}
	if n := len(m.opts.Checkpoints.List(a.ID())); n != len(cks) {
		t.Errorf("%d checkpoints after a think, want %d", n, len(cks))
	}
	st, err := m.opts.Checkpoints.State(a.ID(), cks[len(cks)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st[filepath.Join(a.WorkingDir(), "a.txt")]; !ok {
		t.Errorf("the checkpoint lacks a.txt: %v", st)
	}
}

// TestForkRefusals: the refusals of fork and navigate, and nothing left
// of a fork that failed.
func TestForkRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("checkpoints off", func(t *testing.T) {
		_, a, o := withCheckpoint(t, nil, CreateRequest{Checkpoints: "off"})
		if _, err := a.Fork(ctx, ForkRequest{FromEventID: o.ID}); kindOf(err) != KindConflict {
			t.Errorf("Fork = %v, want a conflict", err)
		}
		if _, err := a.Navigate(ctx, o.ID); kindOf(err) != KindConflict {
			t.Errorf("Navigate = %v, want a conflict", err)
		}
	})
	t.Run("no checkpoint that far back", func(t *testing.T) {
		m, a, o := withCheckpoint(t, nil, CreateRequest{})
		// The user's message comes before the first checkpoint; the events
		// before it may be state or sandbox updates, which are not events
		// to fork from.
		evs, _, _ := a.Events(EventQuery{Limit: 50})
		var first []event.Event
		for _, e := range evs {
			if _, ok := e.(*event.Message); ok {
				first = append(first, e)
				break
			}
		}
		if len(first) == 0 {
			t.Fatal("no message among the first events")
		}
		for _, c := range m.opts.Checkpoints.List(a.ID()) {
			if c.Seq < o.Seq {
				t.Skip("a checkpoint was taken before the first action")
			}
		}
		if _, err := a.Fork(ctx, ForkRequest{FromEventID: first[0].Meta().ID}); kindOf(err) != KindConflict {
			t.Errorf("Fork before the first checkpoint = %v, want a conflict", err)
		}
	})
	t.Run("waiting for confirmation", func(t *testing.T) {
		_, a, o := withCheckpoint(t, nil, CreateRequest{})
		a.mu.Lock()
		a.conv.Status = StatusWaitingForConfirmation
		a.mu.Unlock()
		if _, err := a.Fork(ctx, ForkRequest{FromEventID: o.ID}); kindOf(err) != KindConflict {
			t.Errorf("Fork = %v, want a conflict", err)
		}
		if _, err := a.Navigate(ctx, o.ID); kindOf(err) != KindConflict {
			t.Errorf("Navigate = %v, want a conflict", err)
		}
	})
	t.Run("another fork being made", func(t *testing.T) {
		_, a, o := withCheckpoint(t, nil, CreateRequest{})
		a.forking.Lock()
		defer a.forking.Unlock()
		if _, err := a.Fork(ctx, ForkRequest{FromEventID: o.ID}); kindOf(err) != KindConflict {
			t.Errorf("Fork = %v, want a conflict", err)
		}
		if _, err := a.Navigate(ctx, o.ID); kindOf(err) != KindConflict {
			t.Errorf("Navigate = %v, want a conflict", err)
		}
	})
	t.Run("disk full", func(t *testing.T) {
		m, a, o := withCheckpoint(t, func(s *checkpoint.Store) Checkpoints { return fullDisk{s} }, CreateRequest{})
		if _, err := a.Fork(ctx, ForkRequest{ID: "full", FromEventID: o.ID}); kindOf(err) != KindUnavailable {
			t.Errorf("Fork = %v, want unavailable", err)
		}
		if _, err := m.store.Conversation("full"); err == nil {
			t.Error("the failed fork's conversation is stored")
		}
		if left, _ := m.store.ServerValues(forkPendingKey); len(left) != 0 {
			t.Errorf("pending marks left: %v", left)
		}
		if cks := m.opts.Checkpoints.List("full"); len(cks) != 0 {
			t.Errorf("checkpoints of the failed fork: %v", cks)
		}
	})
}
