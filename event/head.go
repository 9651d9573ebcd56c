package event

// HeadMoved records that a conversation's head moved to an earlier event
// (a rewind, POST .../navigate) or back to an event of a branch left
// before (GoHands only; the SDK moves its leaf_event_id without an
// event). The events after the new head stay stored, but leave the
// active branch: the history the model is shown is the path from the
// first event to the head (see ActiveBranch). The event itself is not
// part of any branch.
type HeadMoved struct {
	Base
	// LeafEventID is the event the head is now at; the next event
	// follows it.
	LeafEventID string `json:"leaf_event_id"`
	// LeafSeq is that event's seq.
	LeafSeq int64 `json:"leaf_seq"`
	// PreviousLeafEventID is the event the head was at before.
	PreviousLeafEventID string `json:"previous_leaf_event_id,omitempty"`
	// FilesRestored says the sandbox's files were brought back to the
	// checkpoint taken after the event CheckpointSeq (0: before the
	// first event); RestoredFiles counts the files the restore wrote.
	FilesRestored bool  `json:"files_restored,omitempty"`
	CheckpointSeq int64 `json:"checkpoint_seq,omitempty"`
	RestoredFiles int   `json:"restored_files,omitempty"`
}

func (*HeadMoved) Kind() Kind { return KindHeadMoved }

// MarshalJSON writes e with its kind.
func (e HeadMoved) MarshalJSON() ([]byte, error) {
	type plain HeadMoved
	return withKind(e.Kind(), plain(e))
}

// OnBranch reports whether e is a node of a conversation's tree of
// branches: everything but head moves and the state and sandbox status
// updates, which say what happened to the conversation rather than in it
// and neither move the head nor belong to a branch.
func OnBranch(e Event) bool {
	switch e.(type) {
	case *HeadMoved, *StateUpdate, *SandboxStatus:
		return false
	}
	return true
}

// Tree is the branch structure of a conversation's events, read from
// its log in seq order: each event on a branch follows the head as it
// was when the event was stored, and a HeadMoved moves the head.
type Tree struct {
	parent map[int64]int64 // seq -> seq of the event it follows (0: none)
	after  map[int64]int64 // seq -> the head once that event was stored
	ids    map[string]int64
	head   int64
}

// NewTree reads evs, in seq order, into a Tree.
func NewTree(evs []Event) *Tree {
	t := &Tree{parent: make(map[int64]int64, len(evs)), after: make(map[int64]int64, len(evs)),
		ids: make(map[string]int64, len(evs))}
	for _, e := range evs {
		t.Add(e)
	}
	return t
}

// Add reads the next event of the log.
func (t *Tree) Add(e Event) {
	m := e.Meta()
	defer func() { t.after[m.Seq] = t.head }()
	if h, ok := e.(*HeadMoved); ok {
		if _, known := t.parent[h.LeafSeq]; known || h.LeafSeq == 0 {
			t.head = h.LeafSeq
		}
		return
	}
	if !OnBranch(e) {
		return
	}
	t.parent[m.Seq] = t.head
	t.ids[m.ID] = m.Seq
	t.head = m.Seq
}

// HeadAfter returns the head as it was once the event seq was stored (0
// for seq 0): what the conversation's state was at that point follows.
func (t *Tree) HeadAfter(seq int64) int64 { return t.after[seq] }

// Head returns the seq of the head, 0 when no event is on a branch yet.
func (t *Tree) Head() int64 { return t.head }

// Seq returns the seq of the event id if it is on a branch.
func (t *Tree) Seq(id string) (int64, bool) {
	s, ok := t.ids[id]
	return s, ok
}

// Path returns the seqs of the branch that ends at seq, first event
// first, or nil when seq is not on a branch.
func (t *Tree) Path(seq int64) []int64 {
	if _, ok := t.parent[seq]; !ok {
		return nil
	}
	var rev []int64
	for s := seq; s != 0; s = t.parent[s] {
		rev = append(rev, s)
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// ActiveBranch returns the events of evs (a conversation's log, in seq
// order) that are on the path to the head, in order, the events off every
// branch (state and sandbox updates) among them where they were stored.
// A log whose head never moved is returned as it is.
func ActiveBranch(evs []Event) []Event {
	moved := false
	for _, e := range evs {
		if _, ok := e.(*HeadMoved); ok {
			moved = true
			break
		}
	}
	if !moved {
		return evs
	}
	t := NewTree(evs)
	on := make(map[int64]bool)
	for _, s := range t.Path(t.Head()) {
		on[s] = true
	}
	out := make([]Event, 0, len(on))
	for _, e := range evs {
		if !OnBranch(e) || on[e.Meta().Seq] {
			out = append(out, e)
		}
	}
	return out
}
