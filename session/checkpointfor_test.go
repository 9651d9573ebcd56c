package session

import (
	"fmt"
	"testing"

	"github.com/gohands/gohands/event"
)

// TestCheckpointFor picks the checkpoint of an event: nearest on its
// branch, never across an observation that may have changed files.
func TestCheckpointFor(t *testing.T) {
	msg := func() event.Event { return &event.Message{} }
	obs := func(tool string) event.Event { return &event.Observation{ToolName: tool} }
	// 1 msg, 2 terminal obs, 3 msg, 4 terminal obs, 5 think obs, 6 back to 3, 7 terminal obs
	evs := []event.Event{msg(), obs(event.ToolTerminal), msg(), obs(event.ToolTerminal), obs(event.ToolThink),
		&event.HeadMoved{LeafSeq: 3}, obs(event.ToolTerminal)}
	for i, e := range evs {
		e.Meta().Seq, e.Meta().ID = int64(i+1), fmt.Sprintf("e%d", i+1)
	}
	tree := event.NewTree(evs)
	cks := []Checkpoint{{ID: "base", Seq: 0}, {ID: "c2", Seq: 2}, {ID: "c4", Seq: 4}, {ID: "c6", Seq: 6}, {ID: "c7", Seq: 7}}
	tests := []struct {
		target int64
		in     []Checkpoint
		want   string // "" for none
	}{
		{1, cks, "base"},
		{2, cks, "c2"},
		{3, cks, "c6"},     // taken at the rewind to 3, nearest
		{3, cks[:3], "c2"}, // before it, nothing changed in between
		{5, cks, "c4"},     // a think changes nothing
		{4, cks[:2], ""},   // the checkpoint after 4 is gone
		{7, cks, "c7"},     // on the second branch
		{7, cks[:4], ""},   // 7 changed files after c6
		{1, cks[1:], ""},   // no checkpoint before the first change
		{3, []Checkpoint{{ID: "c4", Seq: 4}}, ""}, // after a change
	}
	for _, tt := range tests {
		got, ok := checkpointFor(tree, evs, tt.target, tt.in)
		if !ok {
			got.ID = ""
		}
		if got.ID != tt.want {
			t.Errorf("checkpointFor(%d, %d checkpoints) = %q, want %q", tt.target, len(tt.in), got.ID, tt.want)
		}
	}
}
