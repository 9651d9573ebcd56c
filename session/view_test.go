package session

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// liveMeter is a Meter that keeps the most conversations it was told were
// live.
type liveMeter struct {
	mu      sync.Mutex
	maxLive int
}

func (*liveMeter) EventAppended(string) {}

func (l *liveMeter) ConversationsLive(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxLive = max(l.maxLive, n)
}

func (l *liveMeter) max() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxLive
}

// TestViewReadsWithoutLoading: the info, events and bash events of stored
// conversations, and a search of them, are read without loading any (the
// live count stays 0), and read as the loaded conversation shows them; a
// later act loads the one it acts on, and works.
func TestViewReadsWithoutLoading(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	open := func(opts Options) *ConversationManager {
		store, err := storage.Open(path, storage.Options{SecretKey: "test-key"})
		if err != nil {
			t.Fatal(err)
		}
		opts.Store = store
		m, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(ctx); store.Close() })
		return m
	}

	// An earlier server made the conversations.
	first := open(Options{})
	const n = 3
	var ids []string
	for i := range n {
		a, _, err := first.Create(ctx, CreateRequest{Title: "t" + string(rune('0'+i)),
			Agent:   &Agent{LLM: LLM{Model: "test-model", APIKey: "test-key"}},
			Secrets: map[string]Secret{"TOKEN": {Value: "s3cret"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"one", "two"} {
			if err := a.Append(message(text)); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.settle(Outcome{Kind: Finished}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID())
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	first.store.Close()

	meter := &liveMeter{}
	m := open(Options{Meter: meter})
	infos := make(map[string]Info)
	for _, id := range ids {
		v, err := m.View(id)
		if err != nil {
			t.Fatal(err)
		}
		infos[id] = v.Info()
		evs, next, err := v.Events(EventQuery{})
		if err != nil || next != "" || len(evs) < 2 {
			t.Fatalf("%s: Events = %d events, %q, %v; want the stored ones", id, len(evs), next, err)
		}
		if got, err := v.CountEvents(EventQuery{}); err != nil || got != len(evs) {
			t.Errorf("%s: CountEvents = %d, %v; want %d", id, got, err, len(evs))
		}
		last := evs[len(evs)-1]
		if e, err := v.Event(last.Meta().ID); err != nil || e.Meta().Seq != last.Meta().Seq {
			t.Errorf("%s: Event(%s) = %v, %v; want the event of seq %d", id, last.Meta().ID, e, err, last.Meta().Seq)
		}
		if bash, next, err := v.BashEvents("", 10); err != nil || len(bash) != 0 || next != "" {
			t.Errorf("%s: BashEvents = %d, %q, %v; want none", id, len(bash), next, err)
		}
		if _, _, err := v.BashEvents("", 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: BashEvents of limit 0: err = %v, want ErrInvalid", id, err)
		}
	}
	found, _, err := m.Search(ConversationQuery{})
	if err != nil || len(found) != n {
		t.Fatalf("Search = %d conversations, %v; want %d", len(found), err, n)
	}
	for _, info := range found {
		if diff := cmp.Diff(info, infos[info.ID]); diff != "" {
			t.Errorf("%s: Search and View disagree (-search +view):\n%s", info.ID, diff)
		}
	}
	if live := len(m.loaded()); live != 0 || meter.max() != 0 {
		t.Fatalf("after reads only: %d conversations live (meter saw up to %d), want 0", live, meter.max())
	}

	// Loaded, each shows what its view showed.
	for _, id := range ids {
		a, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a.Info(), infos[id]); diff != "" {
			t.Errorf("%s: Info of the loaded conversation differs from its view (-loaded +view):\n%s", id, diff)
		}
		if got := infos[id]; got.ExecutionStatus != StatusFinished || len(got.Secrets) != 1 || got.Secrets[0] != "TOKEN" || got.Agent.LLM.APIKey != Masked {
			t.Errorf("%s: view's info = status %q, secrets %v, api key %q; want %q, [TOKEN], %q",
				id, got.ExecutionStatus, got.Secrets, got.Agent.LLM.APIKey, StatusFinished, Masked)
		}
	}
	if live := len(m.loaded()); live != n || meter.max() != n {
		t.Fatalf("after loading each: %d conversations live (meter saw up to %d), want %d", live, meter.max(), n)
	}
}

// TestViewThenAct: a conversation that was only read is loaded by the
// first act on it, which works; its view then reads it live.
func TestViewThenAct(t *testing.T) {
	ctx := context.Background()
	runs := make(chan string, 1)
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	first, err := New(Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := first.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := a.ID()
	first.Close(ctx)

	meter := &liveMeter{}
	m, err := New(Options{Store: store, Loop: finishLoop{runs: runs}, Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	v, err := m.View(id)
	if err != nil {
		t.Fatal(err)
	}
	if st := v.Info().ExecutionStatus; st != StatusIdle {
		t.Fatalf("status before the act = %q, want %q", st, StatusIdle)
	}
	if live := len(m.loaded()); live != 0 {
		t.Fatalf("after a view: %d conversations live, want 0", live)
	}

	a, err = m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	run := true
	if _, err := a.SendMessage(ctx, MessageRequest{Content: event.Text("go"), Run: &run}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-runs:
		if got != id {
			t.Fatalf("the loop ran %s, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not run")
	}
	if live := len(m.loaded()); live != 1 || meter.max() != 1 {
		t.Fatalf("after the act: %d conversations live (meter saw up to %d), want 1", live, meter.max())
	}
	waitFor(t, func() bool { return a.Status() == StatusFinished })

	// The view now reads the live conversation, and the message the act
	// stored.
	v, err = m.View(id)
	if err != nil {
		t.Fatal(err)
	}
	if v.live != a {
		t.Error("the view of a live conversation does not read it live")
	}
	if st := v.Info().ExecutionStatus; st != StatusFinished {
		t.Errorf("status after the run = %q, want %q", st, StatusFinished)
	}
	if n, err := v.CountEvents(EventQuery{Kinds: []event.Kind{event.KindMessage}}); err != nil || n != 1 {
		t.Errorf("CountEvents(messages) = %d, %v; want 1", n, err)
	}
}

// TestViewErrors: a view of an unknown conversation fails as Get does,
// and a closed manager gives none.
func TestViewErrors(t *testing.T) {
	m := newTestManager(t)
	_, getErr := m.Get("nope")
	_, viewErr := m.View("nope")
	if !errors.Is(viewErr, ErrNotFound) || viewErr.Error() != getErr.Error() {
		t.Errorf("View(unknown) = %v, want %v", viewErr, getErr)
	}
	m.Close(context.Background())
	if _, err := m.View("nope"); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: err = %v, want ErrClosed", err)
	}
}

// waitFor waits up to 10s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
