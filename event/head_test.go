package event

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// logOf numbers evs as a stored log: seq from 1, id "e<seq>".
func logOf(evs ...Event) []Event {
	for i, e := range evs {
		e.Meta().Seq = int64(i + 1)
		e.Meta().ID = fmt.Sprintf("e%d", i+1)
	}
	return evs
}

func seqsOf(evs []Event) []int64 {
	out := []int64{}
	for _, e := range evs {
		out = append(out, e.Meta().Seq)
	}
	return out
}

func TestActiveBranch(t *testing.T) {
	t.Parallel()
	msg := func() Event { return &Message{LLMMessage: LLMMessage{Role: "user"}} }
	status := func() Event { return &StateUpdate{Key: StateKeyExecutionStatus} }
	move := func(seq int64) Event { return &HeadMoved{LeafSeq: seq} }
	tests := []struct {
		name     string
		log      []Event
		wantHead int64
		want     []int64
	}{
		{"linear", logOf(msg(), msg(), status(), msg()), 4, []int64{1, 2, 3, 4}},
		{"rewound", logOf(msg(), msg(), msg(), move(1)), 1, []int64{1, 4}},
		// 1 2 3, back to 1, then 5 follows 1; the status update 3 is kept
		// as off every branch.
		{"new branch", logOf(msg(), msg(), status(), move(1), msg()), 5, []int64{1, 3, 4, 5}},
		// Back to the old branch's last event.
		{"back again", logOf(msg(), msg(), msg(), move(1), msg(), move(3)), 3, []int64{1, 2, 3, 4, 6}},
		// Forward onto the new branch, then a new event follows it.
		{"branch of a branch", logOf(msg(), msg(), move(1), msg(), move(2), move(4), msg()), 7, []int64{1, 3, 4, 5, 6, 7}},
		// A move to an unknown seq or to a status update does nothing.
		{"bad move", logOf(msg(), status(), move(2), move(9)), 1, []int64{1, 2, 3, 4}},
		{"empty tree", logOf(msg(), move(0), msg()), 3, []int64{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := NewTree(tt.log)
			if got := tree.Head(); got != tt.wantHead {
				t.Errorf("Head() = %d, want %d", got, tt.wantHead)
			}
			if diff := cmp.Diff(seqsOf(ActiveBranch(tt.log)), tt.want); diff != "" {
				t.Errorf("ActiveBranch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestTreePath(t *testing.T) {
	t.Parallel()
	m := func() Event { return &Message{} }
	tree := NewTree(logOf(m(), m(), m(), &HeadMoved{LeafSeq: 1}, m(), m()))
	if diff := cmp.Diff(tree.Path(6), []int64{1, 5, 6}); diff != "" {
		t.Errorf("Path(6) (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(tree.Path(3), []int64{1, 2, 3}); diff != "" {
		t.Errorf("Path(3) (-got +want):\n%s", diff)
	}
	if got := tree.Path(4); got != nil {
		t.Errorf("Path(4) of a head move = %v, want nil", got)
	}
	if s, ok := tree.Seq("e5"); !ok || s != 5 {
		t.Errorf("Seq(e5) = %d, %v", s, ok)
	}
}
