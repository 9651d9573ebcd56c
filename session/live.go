package session

import (
	"fmt"

	"github.com/gohands/gohands/event"
)

// Broadcast delivers e to the conversation's live subscribers without
// storing it: for what is not part of the record, such as the
// StreamingDeltaEvents of an answer being written (the finished answer is
// appended as usual). It has no seq, a subscriber that reconnects does not
// get it, and webhooks never see it. Secrets are masked in it as in
// stored events; a secret cut in two by the model's pieces is not
// recognised in either half.
func (a *AgentSession) Broadcast(e event.Event) error {
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
