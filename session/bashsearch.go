package session

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/gohands/gohands/event"
)

// BashEvents are a stream of bash events kept for search, lookup and
// replay: those of the workspace sandboxes (see WorkspaceBash).
type BashEvents struct {
	hub *bashHub
}

// BashQuery filters and orders a search of bash events, with the
// reference server's filters. Zero fields filter nothing.
type BashQuery struct {
	Kind         string     // kind__eq: BashCommand, BashOutput or BashError
	CommandID    string     // command_id__eq: the command's events (BashOutput, BashError)
	TimestampGTE *time.Time // timestamp__gte
	TimestampLT  *time.Time // timestamp__lt
	OrderGT      *int       // order__gt: BashOutput events after this order
	Desc         bool       // sort_order=TIMESTAMP_DESC: newest first
	PageID       string     // next_page_id of the previous page
	Limit        int        // 1 to 100
}

// bashFields are what the filters read of an event.
type bashFields struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	Timestamp event.Time `json:"timestamp"`
	CommandID string     `json:"command_id"`
	Order     *int       `json:"order"`
}

func (q BashQuery) match(f bashFields) bool {
	switch {
	case q.Kind != "" && f.Kind != q.Kind,
		q.CommandID != "" && f.CommandID != q.CommandID,
		q.TimestampGTE != nil && f.Timestamp.Before(*q.TimestampGTE),
		q.TimestampLT != nil && !f.Timestamp.Before(*q.TimestampLT),
		q.OrderGT != nil && (f.Order == nil || *f.Order <= *q.OrderGT):
		return false
	}
	return true
}

// Search returns a page of the events q selects, and the id of the next
// page ("" after the last).
func (b *BashEvents) Search(q BashQuery) ([]json.RawMessage, string, error) {
	if q.Limit < 1 || q.Limit > 100 {
		return nil, "", invalid("limit: %d is not between 1 and 100", q.Limit)
	}
	from, err := decodeBashPage(q.PageID)
	if err != nil {
		return nil, "", err
	}
	recs, next := b.hub.snapshot()
	if q.PageID != "" && from >= next {
		return nil, "", invalid("page_id: %q names no bash event", q.PageID)
	}
	if q.Desc {
		slices.Reverse(recs)
	}
	out := []json.RawMessage{}
	for _, r := range recs {
		if q.PageID != "" && (!q.Desc && r.n < from || q.Desc && r.n > from) {
			continue
		}
		var f bashFields
		if json.Unmarshal(r.raw, &f) != nil || !q.match(f) {
			continue
		}
		if len(out) == q.Limit {
			return out, encodeBashPage(r.n), nil
		}
		out = append(out, r.raw)
	}
	return out, "", nil
}

// Get returns the event with id, or KindNotFound.
func (b *BashEvents) Get(id string) (json.RawMessage, error) {
	got := b.Batch([]string{id})
	if got[0] == nil {
		return nil, notFound("bash event", id)
	}
	return got[0], nil
}

// Batch returns the events with ids, in their order, nil for one not
// kept.
func (b *BashEvents) Batch(ids []string) []json.RawMessage {
	recs, _ := b.hub.snapshot()
	byID := make(map[string]json.RawMessage, len(recs))
	for _, r := range recs {
		var f bashFields
		if json.Unmarshal(r.raw, &f) == nil {
			byID[f.ID] = r.raw
		}
	}
	out := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// Clear drops every kept event and returns how many there were.
func (b *BashEvents) Clear() int { return b.hub.clear() }

// Subscribe replays the kept events to sub and keeps it live.
func (b *BashEvents) Subscribe(sub Subscriber) (detach func(), err error) {
	return b.hub.attach(sub)
}
