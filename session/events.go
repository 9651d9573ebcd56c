package session

import (
	"errors"
	"fmt"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// The queries of the searches, as the store takes them: callers build them
// here without reaching for storage.
type (
	// EventQuery selects a page of a conversation's events; see
	// storage.EventQuery.
	EventQuery = storage.EventQuery
	// ConversationQuery selects a page of conversations; see
	// storage.ConversationQuery.
	ConversationQuery = storage.ConversationQuery
	// ConversationSort orders a search of conversations; "" is newest
	// created first.
	ConversationSort = storage.ConversationSort
)

// Events returns a page of the conversation's stored events and the id of
// the next page ("" after the last).
func (a *AgentSession) Events(q EventQuery) ([]event.Event, string, error) {
	return a.view().Events(q)
}

// CountEvents counts the conversation's stored events that q selects (its
// Limit, PageID and Desc are ignored).
func (a *AgentSession) CountEvents(q EventQuery) (int, error) { return a.view().CountEvents(q) }

// Event returns the stored event with the given id.
func (a *AgentSession) Event(id string) (event.Event, error) { return a.view().Event(id) }

// EventsAfter returns up to limit stored events with a seq above seq, in
// seq order (limit <= 0: all of them). An agent loop reads its history
// with it a page at a time.
func (a *AgentSession) EventsAfter(seq int64, limit int) ([]event.Event, error) {
	raws, err := a.m.store.RawEvents(a.id, uint64(max(seq, 0)), limit)
	if err != nil {
		return nil, err
	}
	evs := make([]event.Event, 0, len(raws))
	for _, raw := range raws {
		e, err := event.Unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("stored event: %w", err)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// readError gives a failed read of the store its kind, in the store's own
// words: a page id that is not one is KindInvalid, a conversation or event
// that is not there KindNotFound, a closed store KindUnavailable. Other
// failures are the server's and are returned as they are.
func readError(err error) error {
	switch {
	case errors.Is(err, storage.ErrBadPage):
		return &Error{Kind: KindInvalid, Detail: "page_id: " + err.Error(), Err: err}
	case errors.Is(err, storage.ErrNotFound):
		return &Error{Kind: KindNotFound, Detail: err.Error(), Err: err}
	case errors.Is(err, storage.ErrUnavailable):
		return &Error{Kind: KindUnavailable, Detail: err.Error(), Err: err}
	}
	return err
}
