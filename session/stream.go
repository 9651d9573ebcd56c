package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/gohands/gohands/event"
)

// Subscriber is one receiver of a conversation's events: a socket, in the
// server. Its methods are called from the stream's goroutines.
type Subscriber interface {
	// Send queues one event for the client and must not block. It reports
	// false when the subscriber's bounded buffer is full: the stream then
	// detaches it and calls Drop.
	Send(d *Delivery) bool
	// WaitRoom blocks until the subscriber's buffer has room for a batch
	// of replayed events, or ctx ends. Replays use it so that a long
	// history does not overflow the buffer.
	WaitRoom(ctx context.Context) error
	// Drop tells the subscriber it was detached because it fell behind
	// (ErrSlowSubscriber) or the conversation went away (ErrDeleted).
	Drop(err error)
}

// Delivery is one event on its way to subscribers: its stored JSON and,
// decoded on first use, the event itself.
type Delivery struct {
	Seq int64
	Raw []byte

	once sync.Once
	ev   event.Event
	err  error
}

// Event returns the event, decoding it if need be.
func (d *Delivery) Event() (event.Event, error) {
	d.once.Do(func() {
		if d.ev == nil {
			d.ev, d.err = event.Unmarshal(d.Raw)
		}
	})
	return d.ev, d.err
}

// replayPage is how many stored events a replay reads at once.
const replayPage = 256

// stream is a conversation's event stream: append to storage, then deliver.
type stream struct {
	conv  string
	store eventStore
	after func(*Delivery) // called for each appended event, under mu, after delivery

	mu     sync.Mutex // held across append and delivery, so that order is kept
	subs   map[*attachment]struct{}
	closed error
}

// eventStore is what a stream needs from storage.
type eventStore interface {
	// Append stores evs and returns each one's JSON as stored.
	Append(convID string, evs ...event.Event) ([][]byte, error)
	RawEvents(convID string, afterSeq int64, limit int) ([]json.RawMessage, error)
}

type attachment struct {
	sub   Subscriber
	live  bool  // replay done: appends deliver to it
	floor int64 // events up to this seq were sent (or not asked for)
}

func newStream(conv string, store eventStore, after func(*Delivery)) *stream {
	return &stream{conv: conv, store: store, after: after, subs: make(map[*attachment]struct{})}
}

// append stores evs (setting their seq, id and timestamp) and delivers
// them to every live subscriber. It returns once they are durable.
func (st *stream) append(evs ...event.Event) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed != nil {
		return st.closed
	}
	raws, err := st.store.Append(st.conv, evs...)
	if err != nil {
		return err
	}
	if len(raws) != len(evs) {
		return fmt.Errorf("storage gave %d encoded events for %d", len(raws), len(evs))
	}
	for i, e := range evs {
		d := &Delivery{Seq: e.Meta().Seq, Raw: raws[i], ev: e}
		st.deliver(d)
		if st.after != nil {
			st.after(d)
		}
	}
	return nil
}

// broadcast delivers an event that is not stored (its JSON, without a
// seq) to every live subscriber, in order with the appended ones.
func (st *stream) broadcast(raw []byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed != nil {
		return st.closed
	}
	st.deliver(&Delivery{Raw: raw})
	return nil
}

// deliver sends d to every live subscriber; st.mu is held.
func (st *stream) deliver(d *Delivery) {
	for a := range st.subs {
		if !a.live || (d.Seq > 0 && d.Seq <= a.floor) {
			continue
		}
		if !a.sub.Send(d) {
			delete(st.subs, a)
			go a.sub.Drop(ErrSlowSubscriber)
		}
	}
}

// attach replays the stored events after seq `after` to sub, then makes it
// live, so that it gets every later event exactly once. It returns a
// function that detaches sub. The replay runs in the caller's goroutine.
func (st *stream) attach(ctx context.Context, sub Subscriber, after int64) (detach func(), err error) {
	a := &attachment{sub: sub}
	cursor := after
	// send delivers a page of stored events. With wait, a full buffer is
	// waited on once before giving up: a page may be larger than a
	// subscriber's whole buffer, and a subscriber that reads must not be
	// dropped for that. Under st.mu (wait false) nothing may block.
	send := func(raws []json.RawMessage, wait bool) error {
		for _, raw := range raws {
			seq, err := seqOf(raw)
			if err != nil {
				return err
			}
			if seq <= cursor {
				continue
			}
			d := &Delivery{Seq: seq, Raw: raw}
			if !sub.Send(d) {
				if !wait {
					return ErrSlowSubscriber
				}
				if err := sub.WaitRoom(ctx); err != nil {
					return err
				}
				if !sub.Send(d) {
					return ErrSlowSubscriber
				}
			}
			cursor = seq
		}
		return nil
	}
	for {
		if err := sub.WaitRoom(ctx); err != nil {
			return nil, err
		}
		raws, err := st.store.RawEvents(st.conv, cursor, replayPage)
		if err != nil {
			return nil, err
		}
		if err := send(raws, true); err != nil {
			return nil, err
		}
		if len(raws) < replayPage {
			break
		}
	}
	// Catch up on what was appended during the replay, with appends held
	// off, then go live: nothing is missed and nothing is sent twice.
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed != nil {
		return nil, st.closed
	}
	for {
		raws, err := st.store.RawEvents(st.conv, cursor, replayPage)
		if err != nil {
			return nil, err
		}
		if err := send(raws, false); err != nil {
			return nil, err
		}
		if len(raws) < replayPage {
			break
		}
	}
	a.live = true
	a.floor = cursor
	st.subs[a] = struct{}{}
	return func() {
		st.mu.Lock()
		delete(st.subs, a)
		st.mu.Unlock()
	}, nil
}

// close detaches every subscriber with err and refuses later appends.
func (st *stream) close(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed != nil {
		return
	}
	st.closed = err
	for a := range st.subs {
		delete(st.subs, a)
		go a.sub.Drop(err)
	}
}

// subscribers returns how many subscribers are attached.
func (st *stream) subscribers() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.subs)
}

// seqOf reads the seq of a stored event without decoding the rest.
func seqOf(raw []byte) (int64, error) {
	var v struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("stored event: %w", err)
	}
	if v.Seq <= 0 {
		return 0, errors.New("stored event has no seq")
	}
	return v.Seq, nil
}
