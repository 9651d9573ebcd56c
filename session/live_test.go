package session

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// frames is a Subscriber that keeps the JSON of what it is sent.
type frames struct {
	mu   sync.Mutex
	raws []string
	seqs []int64
}

func (f *frames) Send(d *Delivery) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raws = append(f.raws, string(d.Raw))
	f.seqs = append(f.seqs, d.Seq)
	return true
}
func (f *frames) WaitRoom(ctx context.Context) error { return ctx.Err() }
func (f *frames) Drop(error)                         {}

// TestBroadcastDeltas checks that streamed pieces reach live subscribers
// without a seq and are not stored, and that a secret the model writes
// across several pieces never shows, not even in part.
func TestBroadcastDeltas(t *testing.T) {
	const secret = "s3cr3t-value-xyz"
	m := newManagerOn(t, openStore(t), Options{})
	a, _, err := m.Create(context.Background(), CreateRequest{Secrets: map[string]Secret{"TOKEN": {Value: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	sub := &frames{}
	detach, err := a.Subscribe(context.Background(), sub, a.LastSeq())
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	stored := a.LastSeq()
	var shown strings.Builder
	for _, p := range []string{"the key is s", "3cr", "3t-val", "ue-xyz", " and s3", "o on"} {
		d := &event.StreamingDelta{Content: &p}
		d.Source = event.SourceAgent
		if err := a.Broadcast(d); err != nil {
			t.Fatal(err)
		}
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i, raw := range sub.raws {
		if sub.seqs[i] != 0 || strings.Contains(raw, `"seq"`) {
			t.Errorf("a delta with a seq: %s", raw)
		}
		e, err := event.Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		d := e.(*event.StreamingDelta)
		if d.Content != nil {
			shown.WriteString(*d.Content)
		}
		for _, part := range []string{"s3cr", "3t-val", "ue-xyz"} {
			if strings.Contains(raw, part) {
				t.Errorf("a piece of the secret shows: %s", raw)
			}
		}
	}
	if want := "the key is " + security.HiddenText + " and s3o on"; shown.String() != want {
		t.Errorf("shown %q, want %q", shown.String(), want)
	}
	if a.LastSeq() != stored {
		t.Errorf("deltas were stored: last seq %d, was %d", a.LastSeq(), stored)
	}
}
