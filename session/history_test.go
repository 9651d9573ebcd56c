package session

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
)

// kindOf returns the Kind of a session error, KindInternal for others.
func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// say stores a user message and returns it.
func say(t *testing.T, a *AgentSession, text string) *event.Message {
	t.Helper()
	e, err := a.SendMessage(context.Background(), MessageRequest{Content: event.Text(text)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// activeTexts returns the texts of the messages on the active branch.
func activeTexts(t *testing.T, a *AgentSession) []string {
	t.Helper()
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range event.ActiveBranch(evs) {
		if m, ok := e.(*event.Message); ok {
			out = append(out, m.LLMMessage.Content.Text())
		}
	}
	return out
}

// TestNavigate moves the head back, continues from there, and moves back
// to the branch left: the events stay stored, a HeadMovedEvent records
// each move, and the leaf_event_id follows.
func TestNavigate(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	one := say(t, a, "one")
	say(t, a, "two")
	three := say(t, a, "three")
	if got := a.Info().LeafEventID; got == nil || *got != three.ID {
		t.Fatalf("leaf_event_id = %v, want %s", got, three.ID)
	}
	before := a.LastSeq()

	info, err := a.Navigate(ctx, one.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.LeafEventID == nil || *info.LeafEventID != one.ID {
		t.Errorf("leaf_event_id after navigate = %v, want %s", info.LeafEventID, one.ID)
	}
	if a.LastSeq() != before+1 {
		t.Errorf("last seq %d, want %d: the navigate is one event, nothing is deleted", a.LastSeq(), before+1)
	}
	last, err := a.EventsAfter(before, 0)
	if err != nil {
		t.Fatal(err)
	}
	hm, ok := last[0].(*event.HeadMoved)
	if !ok || hm.LeafEventID != one.ID || hm.LeafSeq != one.Seq || hm.PreviousLeafEventID != three.ID || hm.FilesRestored {
		t.Errorf("stored %#v, want a HeadMovedEvent from %s to %s, no files restored (no sandbox)", last[0], three.ID, one.ID)
	}
	if diff := cmp.Diff(activeTexts(t, a), []string{"one"}); diff != "" {
		t.Errorf("active branch after the rewind (-got +want):\n%s", diff)
	}
	four := say(t, a, "four")
	if diff := cmp.Diff(activeTexts(t, a), []string{"one", "four"}); diff != "" {
		t.Errorf("active branch after a new message (-got +want):\n%s", diff)
	}
	if _, err := a.Navigate(ctx, three.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeTexts(t, a), []string{"one", "two", "three"}); diff != "" {
		t.Errorf("active branch back on the first branch (-got +want):\n%s", diff)
	}
	if _, err := a.Navigate(ctx, four.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(activeTexts(t, a), []string{"one", "four"}); diff != "" {
		t.Errorf("active branch back on the second branch (-got +want):\n%s", diff)
	}

	// A conversation loaded again finds its head in the store.
	m.mu.Lock()
	delete(m.convs, a.ID())
	m.mu.Unlock()
	v, err := m.View(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Info().LeafEventID; got == nil || *got != four.ID {
		t.Errorf("stored leaf_event_id = %v, want %s", got, four.ID)
	}

	for _, tt := range []struct {
		id   string
		want Kind
	}{{"no-such-event", KindNotFound}, {"", KindInvalid}} {
		if _, err := a.Navigate(ctx, tt.id); kindOf(err) != tt.want {
			t.Errorf("Navigate(%q) = %v, want %s", tt.id, err, tt.want)
		}
	}
}

// TestFork copies the events up to an event, with their ids and seqs,
// into a new conversation that says where it came from; the original is
// not changed.
func TestFork(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{Title: "original", Tags: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	one := say(t, a, "one")
	two := say(t, a, "two")
	say(t, a, "three")
	origSeq := a.LastSeq()

	infos, err := a.Fork(ctx, ForkRequest{ID: "forked", FromEventID: two.ID, Title: "the fork"})
	if err != nil {
		t.Fatal(err)
	}
	f := infos[0]
	if f.ID != "forked" || f.Title != "the fork" || f.ForkedFromConversationID == nil || *f.ForkedFromConversationID != a.ID() ||
		f.ForkedFromEventID == nil || *f.ForkedFromEventID != two.ID || f.LeafEventID == nil || *f.LeafEventID != two.ID {
		t.Errorf("fork info %+v: want id forked, title, forked_from %s at %s, leaf %s", f, a.ID(), two.ID, two.ID)
	}
	if diff := cmp.Diff(f.Tags, map[string]string{"team": "a"}); diff != "" {
		t.Errorf("fork tags (-got +want):\n%s", diff)
	}
	fa, err := m.Get("forked")
	if err != nil {
		t.Fatal(err)
	}
	fevs, _ := fa.EventsAfter(0, 0)
	aevs, _ := a.EventsAfter(0, int(two.Seq))
	if len(fevs) != len(aevs) {
		t.Fatalf("fork has %d events, want %d", len(fevs), len(aevs))
	}
	for i := range fevs {
		if fevs[i].Meta().ID != aevs[i].Meta().ID || fevs[i].Meta().Seq != aevs[i].Meta().Seq {
			t.Errorf("fork event %d is %s/%d, want %s/%d", i, fevs[i].Meta().ID, fevs[i].Meta().Seq, aevs[i].Meta().ID, aevs[i].Meta().Seq)
		}
	}
	if diff := cmp.Diff(activeTexts(t, fa), []string{"one", "two"}); diff != "" {
		t.Errorf("fork's active branch (-got +want):\n%s", diff)
	}
	if a.LastSeq() != origSeq {
		t.Errorf("the original has %d events after the fork, want %d", a.LastSeq(), origSeq)
	}

	// A whole fork; three at once.
	all, err := a.Fork(ctx, ForkRequest{Count: 3, ResetMetrics: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID == all[1].ID {
		t.Fatalf("count 3 made %d forks: %+v", len(all), all)
	}
	for _, f := range all {
		if f.Title != "" {
			t.Errorf("fork %s without a title asked has title %q, want none (as the reference server)", f.ID, f.Title)
		}
		if f.ForkedFromEventID != nil || f.LeafEventID == nil || *f.LeafEventID != *a.Info().LeafEventID {
			t.Errorf("whole fork %s: forked_from_event_id %v leaf %v", f.ID, f.ForkedFromEventID, f.LeafEventID)
		}
	}

	for _, tt := range []struct {
		name string
		req  ForkRequest
		want Kind
	}{
		{"id taken", ForkRequest{ID: "forked"}, KindConflict},
		{"unknown event", ForkRequest{FromEventID: "nope"}, KindNotFound},
		{"count too high", ForkRequest{Count: DefaultMaxForks + 1}, KindInvalid},
		{"bad tag", ForkRequest{Tags: map[string]string{"Bad Key": "x"}}, KindInvalid},
		{"bad id", ForkRequest{ID: "no spaces"}, KindInvalid},
	} {
		if _, err := a.Fork(ctx, tt.req); kindOf(err) != tt.want {
			t.Errorf("%s: Fork = %v, want %s", tt.name, err, tt.want)
		}
	}
	// An id another fork is making is refused, and that fork keeps it.
	m.reserveFork("busy")
	if _, err := a.Fork(ctx, ForkRequest{ID: "busy"}); kindOf(err) != KindConflict {
		t.Errorf("Fork with the id of a fork being made = %v, want a conflict", err)
	}
	if !m.pendingFork("busy") {
		t.Error("a refused fork released the id another fork is making")
	}
	_ = one
}

// TestRemovePendingForks removes what a server stopped in the middle of
// a fork left: the fork's record and events, and its mark.
func TestRemovePendingForks(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	say(t, a, "one")
	// As a fork whose server died before it was ready.
	if _, err := a.Fork(ctx, ForkRequest{ID: "half"}); err != nil {
		t.Fatal(err)
	}
	if err := m.store.PutServerValues(map[string][]byte{forkPendingKey + "half": []byte(`{"source":"` + a.ID() + `"}`)}); err != nil {
		t.Fatal(err)
	}
	n, err := m.RemovePendingForks(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RemovePendingForks = %d, %v; want 1", n, err)
	}
	if _, err := m.Get("half"); kindOf(err) != KindNotFound {
		t.Errorf("Get(half) after the removal = %v, want not found", err)
	}
	if left, _ := m.store.ServerValues(forkPendingKey); len(left) != 0 {
		t.Errorf("pending marks left: %v", left)
	}
	if _, err := m.Get(a.ID()); err != nil {
		t.Errorf("the original: %v", err)
	}
}
