package session

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// bashHubSize is how many bash events a conversation keeps for replays and
// searches.
const bashHubSize = 1000

// bashHubBytesPerLimit is how many times the per-command output bound a
// conversation's bash events may take in all: the oldest go first.
const bashHubBytesPerLimit = 8

// bashHub keeps a conversation's recent bash events and fans them out to
// the /sockets/bash-events subscribers. What it keeps is bounded in count
// and in bytes; a deleted conversation's hub keeps nothing.
type bashHub struct {
	maxBytes int

	mu     sync.Mutex
	events []bashRecord
	bytes  int    // of the events kept
	next   uint64 // the number the next event gets
	subs   map[Subscriber]struct{}
	closed bool
}

// bashRecord is one kept event and its number, from 1 in publishing order;
// page ids name these numbers.
type bashRecord struct {
	n   uint64
	raw json.RawMessage
}

func newBashHub(maxBytes int) *bashHub {
	return &bashHub{maxBytes: maxBytes, next: 1, subs: make(map[Subscriber]struct{})}
}

// size returns the bytes of the events h keeps.
func (h *bashHub) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes
}

// publish keeps raw, the JSON of a bash event, and sends it to every
// subscriber.
func (h *bashHub) publish(raw json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.events = append(h.events, bashRecord{n: h.next, raw: raw})
	h.next++
	h.bytes += len(raw)
	drop := 0
	for len(h.events)-drop > bashHubSize || (h.bytes > h.maxBytes && len(h.events)-drop > 1) {
		h.bytes -= len(h.events[drop].raw)
		drop++
	}
	if drop > 0 {
		// Copied down, so that the array does not keep the dropped
		// events and does not grow.
		n := copy(h.events, h.events[drop:])
		clear(h.events[n:])
		h.events = h.events[:n]
	}
	d := &Delivery{Raw: raw}
	for s := range h.subs {
		if !s.Send(d) {
			delete(h.subs, s)
			go s.Drop(ErrSlowSubscriber)
		}
	}
}

func (h *bashHub) attach(sub Subscriber) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrDeleted
	}
	for _, e := range h.events {
		if !sub.Send(&Delivery{Raw: e.raw}) {
			return nil, ErrSlowSubscriber
		}
	}
	h.subs[sub] = struct{}{}
	return func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}, nil
}

// page returns up to limit events, oldest first, from the one pageID
// names ("" for the oldest kept), and the id of the next page ("" after
// the last). A page whose first event was dropped since starts at the
// oldest kept: a walk through the pages sees no event twice.
func (h *bashHub) page(pageID string, limit int) ([]json.RawMessage, string, error) {
	from, err := decodeBashPage(pageID)
	if err != nil {
		return nil, "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if from >= h.next && pageID != "" {
		return nil, "", invalid("page_id: %q names no bash event of this conversation", pageID)
	}
	i := 0
	if len(h.events) > 0 && from > h.events[0].n {
		i = int(from - h.events[0].n)
	}
	end := min(i+limit, len(h.events))
	out := make([]json.RawMessage, 0, max(end-i, 0))
	for _, e := range h.events[min(i, end):end] {
		out = append(out, e.raw)
	}
	next := ""
	if end < len(h.events) {
		next = encodeBashPage(h.events[end].n)
	}
	return out, next, nil
}

// bashPagePrefix starts the page ids of bash event searches.
const bashPagePrefix = "b"

func encodeBashPage(n uint64) string { return bashPagePrefix + strconv.FormatUint(n, 10) }

// decodeBashPage returns the number of the event a page id starts at; 0
// for "".
func decodeBashPage(id string) (uint64, error) {
	if id == "" {
		return 0, nil
	}
	digits, ok := strings.CutPrefix(id, bashPagePrefix)
	n, err := strconv.ParseUint(digits, 10, 64)
	if !ok || err != nil || n == 0 || encodeBashPage(n) != id {
		return 0, invalid("page_id: %q is not the next_page_id of a bash event search", id)
	}
	return n, nil
}

func (h *bashHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// close detaches every subscriber and lets go of the events: the hub of a
// deleted conversation may still be reachable from a request in flight,
// and must not hold its output.
func (h *bashHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.events, h.bytes = nil, 0
	for s := range h.subs {
		delete(h.subs, s)
		go s.Drop(ErrDeleted)
	}
}

// snapshot returns a copy of the kept events, oldest first, and the
// number the next event will get.
func (h *bashHub) snapshot() ([]bashRecord, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events), h.next
}

// clear drops the kept events (subscribers stay) and returns how many
// there were.
func (h *bashHub) clear() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.events)
	h.events, h.bytes = nil, 0
	return n
}
