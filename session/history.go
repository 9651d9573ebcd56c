package session

import (
	"context"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/storage"
)

// A conversation's events are one append-only log, numbered by seq; its
// history is a tree in that log. Each event on a branch follows the head
// as it was when the event was stored, and a HeadMovedEvent moves the
// head (a rewind, or a move back to a branch left before). The model is
// shown the active branch, the path from the first event to the head
// (event.ActiveBranch); the other events stay stored and replayable, by
// seq, as they were.

// moveLeaf follows the head through events just stored.
func (a *AgentSession) moveLeaf(evs []event.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range evs {
		if h, ok := e.(*event.HeadMoved); ok {
			a.leaf, a.leafSeq = h.LeafEventID, h.LeafSeq
		} else if event.OnBranch(e) {
			a.leaf, a.leafSeq = e.Meta().ID, e.Meta().Seq
		}
	}
}

// Leaf returns the conversation's head: the id and seq of the event the
// next one follows ("" and 0 before the first).
func (a *AgentSession) Leaf() (string, int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leaf, a.leafSeq
}

// storedLeaf reads a conversation's head from its newest events: the
// newest event on a branch, unless a head move came after it.
func (m *ConversationManager) storedLeaf(id string) (string, int64, error) {
	// The last event is nearly always on the branch: a first page of a
	// few reads a few records, not a hundred (a GET of each of many
	// conversations would page most of the store in).
	q := storage.EventQuery{Desc: true, Limit: 4}
	for {
		evs, next, err := m.store.Events(id, q)
		if err != nil {
			return "", 0, err
		}
		for _, e := range evs {
			if h, ok := e.(*event.HeadMoved); ok {
				return h.LeafEventID, h.LeafSeq, nil
			}
			if event.OnBranch(e) {
				return e.Meta().ID, e.Meta().Seq, nil
			}
		}
		if next == "" {
			return "", 0, nil
		}
		q.PageID, q.Limit = next, 100
	}
}

// tree reads the conversation's whole log into its tree of branches.
func (a *AgentSession) tree() (*event.Tree, []event.Event, error) {
	evs, err := a.EventsAfter(0, 0)
	if err != nil {
		return nil, nil, readError(err)
	}
	return event.NewTree(evs), evs, nil
}

// Navigate moves the conversation's head to the event id (a rewind, or a
// move to an event of a branch left before): the running command, if any,
// is stopped first (an interrupt), the sandbox's files are brought back to
// the checkpoint at that event, and a HeadMovedEvent records the move.
// The events after it stay stored; a new message continues from it.
//
// An unknown event is KindNotFound; one that is not on a branch (a state
// or sandbox update) KindInvalid; one with no checkpoint, while
// checkpoints are taken, or while the conversation waits for a
// confirmation or is being forked, KindConflict.
func (a *AgentSession) Navigate(ctx context.Context, eventID string) (Info, error) {
	if eventID == "" {
		return Info{}, invalid("event_id: required")
	}
	if !a.forking.TryLock() {
		return Info{}, conflict("conversation %s is being forked; try again when the fork is made", a.id)
	}
	defer a.forking.Unlock()
	if a.Status() == StatusWaitingForConfirmation {
		return Info{}, conflict("conversation %s waits for the confirmation of an action: confirm or reject it first", a.id)
	}
	t, _, err := a.tree()
	if err != nil {
		return Info{}, err
	}
	seq, ok := t.Seq(eventID)
	if !ok {
		if _, err := a.Event(eventID); err == nil {
			return Info{}, invalid("event_id: %s is a state or sandbox update, not an event the conversation can go back to", eventID)
		}
		return Info{}, notFound("event", eventID)
	}
	restore := a.m.opts.Sandboxes != nil
	if restore && !a.CheckpointsOn() {
		return Info{}, conflict("conversation %s takes no checkpoints (checkpoints: off), so its files cannot be brought back to event %s", a.id, eventID)
	}
	if a.Running() {
		if err := a.Interrupt(ctx); err != nil {
			return Info{}, err
		}
	}
	prev, _ := a.Leaf()
	moved := &event.HeadMoved{LeafEventID: eventID, LeafSeq: seq, PreviousLeafEventID: prev}
	moved.Source = event.SourceUser
	if restore {
		if err := a.rewindFiles(ctx, seq, moved); err != nil {
			return Info{}, err
		}
	}
	if err := a.Append(moved); err != nil {
		return Info{}, err
	}
	a.publishInfo()
	return a.Info(), nil
}

// rewindFiles checkpoints the files as they are (so that the branch left
// can be come back to), then restores those of the checkpoint at the event
// seq, and notes what it did in moved.
func (a *AgentSession) rewindFiles(ctx context.Context, seq int64, moved *event.HeadMoved) error {
	a.ck.mu.Lock()
	defer a.ck.mu.Unlock()
	cur, err := a.checkpointLocked(ctx, a.LastSeq())
	if err != nil {
		return err
	}
	// The log as it is now: the checkpoint just taken follows the head.
	t, evs, err := a.tree()
	if err != nil {
		return err
	}
	target, ok := checkpointFor(t, evs, seq, a.m.opts.Checkpoints.List(a.id))
	if !ok {
		return conflict("event %s has no checkpoint of the sandbox's files (none was taken before it, or it was collected)", moved.LeafEventID)
	}
	files := 0
	if target.ID != cur.ID {
		if files, err = a.restoreFiles(ctx, cur.ID, target); err != nil {
			return err
		}
	}
	moved.FilesRestored, moved.CheckpointSeq, moved.RestoredFiles = true, target.Seq, files
	return nil
}
