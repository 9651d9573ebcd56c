package session

import (
	"encoding/json"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// View is a conversation as read by a caller that changes nothing: its
// info, its events, its bash events. A conversation the server holds is
// read live; another is read from storage, and is not loaded to be read,
// so that the memory of the server does not grow with the conversations
// that were ever listed or looked at. What acts on a conversation (a
// message, a run, a subscriber, its sandbox, a change of settings) takes
// it from Get.
type View struct {
	m    *ConversationManager
	id   string
	live *AgentSession // nil when the server does not hold the conversation

	// The stored conversation, when it is not live.
	conv     storage.Conversation
	settings Settings
	secrets  map[string]string
}

// View returns the conversation id names for reading: the live one if the
// server holds it, else what storage has, without holding it.
func (m *ConversationManager) View(id string) (*View, error) {
	m.mu.Lock()
	a := m.convs[id]
	closed := m.closed
	m.mu.Unlock()
	if m.pendingFork(id) {
		return nil, notFound("conversation", id)
	}
	if a != nil {
		return a.view(), nil
	}
	if closed {
		return nil, ErrClosed
	}
	conv, s, secrets, err := m.load(id)
	if err != nil {
		return nil, err
	}
	return &View{m: m, id: id, conv: conv, settings: s, secrets: secrets}, nil
}

// view reads a live conversation.
func (a *AgentSession) view() *View { return &View{m: a.m, id: a.id, live: a} }

// ID returns the conversation's id.
func (v *View) ID() string { return v.id }

// Info returns the conversation as clients see it, secrets masked. For a
// conversation the server does not hold, it is the stored one, with its
// saved sandbox, if any.
func (v *View) Info() Info {
	if v.live != nil {
		return v.live.Info()
	}
	info := v.m.info(v.conv, v.settings, v.secrets)
	v.m.addStoredSandbox(&info)
	if id, _, err := v.m.storedLeaf(v.id); err == nil && id != "" {
		info.LeafEventID = &id
	}
	return info
}

// Events returns a page of the conversation's stored events and the id of
// the next page ("" after the last).
func (v *View) Events(q EventQuery) ([]event.Event, string, error) {
	evs, next, err := v.m.store.Events(v.id, q)
	if err != nil {
		return nil, "", readError(err)
	}
	return evs, next, nil
}

// CountEvents counts the conversation's stored events that q selects (its
// Limit, PageID and Desc are ignored).
func (v *View) CountEvents(q EventQuery) (int, error) {
	n, err := v.m.store.CountEvents(v.id, q)
	if err != nil {
		return 0, readError(err)
	}
	return n, nil
}

// Event returns the stored event with the given id.
func (v *View) Event(id string) (event.Event, error) {
	e, err := v.m.store.Event(v.id, id)
	if err != nil {
		return nil, readError(err)
	}
	return e, nil
}

// BashEvents returns a page of the conversation's recent bash events
// (BashEvents of AgentSession). They are kept in memory only: a
// conversation the server does not hold has none.
func (v *View) BashEvents(pageID string, limit int) ([]json.RawMessage, string, error) {
	if v.live != nil {
		return v.live.BashEvents(pageID, limit)
	}
	if limit < 1 {
		return nil, "", invalid("limit: %d is less than 1", limit)
	}
	return newBashHub(0).page(pageID, limit)
}
