package session

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gohands/gohands/event"
)

// Broadcast delivers e to the conversation's live subscribers without
// storing it: for what is not part of the record, such as the
// StreamingDeltaEvents of an answer being written (the finished answer is
// appended as usual). It has no seq, a subscriber that reconnects does not
// get it, and webhooks never see it. Secrets are masked in it as in
// stored events; of a StreamingDeltaEvent, the end that could be the start
// of a secret is held back until the next piece says whether it is one.
func (a *AgentSession) Broadcast(e event.Event) error {
	if d, ok := e.(*event.StreamingDelta); ok && !a.holdBack(d) {
		return nil
	}
	b := e.Meta()
	if b.Source == "" {
		b.Source = event.SourceEnvironment
	}
	b.Seq = 0
	if b.ID == "" {
		b.ID = event.NewID()
	}
	if b.Timestamp.IsZero() {
		b.Timestamp = event.TimeOf(a.m.now())
	}
	raw, err := event.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if !a.masker().Empty() {
		raw = a.masker().MaskJSON(raw)
	}
	return a.stream.broadcast(raw)
}

// heldText is the end of a streamed answer not shown yet, because it
// could be the start of a secret: a secret the model writes across two
// pieces is then masked whole.
type heldText struct {
	mu                 sync.Mutex
	content, reasoning string
}

// holdBack trims d to what can be shown now, keeping back what could be
// the start of a secret; false when nothing is left to show.
func (a *AgentSession) holdBack(d *event.StreamingDelta) bool {
	secrets := a.secretValues()
	a.held.mu.Lock()
	defer a.held.mu.Unlock()
	d.Content = release(&a.held.content, d.Content, secrets)
	d.ReasoningContent = release(&a.held.reasoning, d.ReasoningContent, secrets)
	return d.Content != nil || d.ReasoningContent != nil
}

// dropHeld forgets what was held back: the answer is stored whole.
func (a *AgentSession) dropHeld() {
	a.held.mu.Lock()
	a.held.content, a.held.reasoning = "", ""
	a.held.mu.Unlock()
}

// release appends piece to what was held and returns what may be shown:
// all but the longest end that is the beginning of a secret, which stays
// held. nil when nothing may be shown.
func release(held, piece *string, secrets []string) *string {
	if piece == nil {
		return nil
	}
	all := *held + *piece
	keep := 0
	for _, s := range secrets {
		for n := min(len(s)-1, len(all)); n > keep; n-- {
			if strings.HasSuffix(all, s[:n]) {
				keep = n
				break
			}
		}
	}
	*held = all[len(all)-keep:]
	out := all[:len(all)-keep]
	if out == "" {
		return nil
	}
	return &out
}
