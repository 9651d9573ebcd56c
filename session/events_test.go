package session

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// TestEventsAfter checks that an agent loop reads the stored events after a
// seq, a page at a time, in order.
func TestEventsAfter(t *testing.T) {
	m := newTestManager(t)
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if err := a.Append(message(text)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := a.EventsAfter(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1].Meta().Seq
	got, err := a.EventsAfter(last-2, 1)
	if err != nil || len(got) != 1 || got[0].Meta().Seq != last-1 {
		t.Fatalf("EventsAfter(%d, 1) = %v, %v; want the event of seq %d", last-2, got, err, last-1)
	}
	if text := got[0].(*event.Message).LLMMessage.Content.Text(); text != "two" {
		t.Errorf("EventsAfter(%d, 1) gave %q, want %q", last-2, text, "two")
	}
	if got, err := a.EventsAfter(last, 10); err != nil || len(got) != 0 {
		t.Errorf("EventsAfter(last, 10) = %v, %v; want none", got, err)
	}
}

// TestReadErrorKinds checks the kinds (and so the statuses) of failed
// reads: the server answers them as it did when it read the store itself,
// in the store's own words.
func TestReadErrorKinds(t *testing.T) {
	m := newTestManager(t)
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		read       func() error
		wantKind   Kind
		wantIs     error
		wantDetail string // prefix
	}{
		{"bad events page", func() error { _, _, err := a.Events(EventQuery{PageID: "!!"}); return err },
			KindInvalid, storage.ErrBadPage, "page_id: storage: "},
		{"bad conversations page", func() error { _, _, err := m.Search(ConversationQuery{PageID: "!!"}); return err },
			KindInvalid, storage.ErrBadPage, "page_id: list conversations: "},
		{"no such event", func() error { _, err := a.Event("nope"); return err },
			KindNotFound, storage.ErrNotFound, "storage: "},
		// Last: it closes the store.
		{"closed store", func() error { m.store.Close(); _, err := a.CountEvents(EventQuery{}); return err },
			KindUnavailable, storage.ErrUnavailable, "storage: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want an *Error", err, err)
			}
			if se.Kind != tt.wantKind || !errors.Is(err, tt.wantIs) || !strings.HasPrefix(se.Detail, tt.wantDetail) {
				t.Errorf("err = %v %q, want %v wrapping %v, detail starting %q", se.Kind, se.Detail, tt.wantKind, tt.wantIs, tt.wantDetail)
			}
		})
	}
}
