package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// EventQuery selects events of a conversation. The filters combine with AND.
type EventQuery struct {
	// AfterSeq keeps only events with seq > AfterSeq.
	AfterSeq uint64
	// Kinds keeps events of any of these kinds (short or fully qualified
	// names); empty means all.
	Kinds []event.Kind
	// Source keeps events of this source ("agent", "user",
	// "environment"); "" means all.
	Source string
	// Body keeps events with a piece of text that contains it, ignoring
	// case. The pieces are: each text part of a message's content, of an
	// action's thought and of an observation's content; the action's
	// command, path, pattern, thought, message, URL or patch; an error's
	// text, a rejection's reason, a summary. A match does not span two
	// pieces. "" means all.
	Body string
	// Since keeps events with timestamp >= Since; zero means no bound.
	Since time.Time
	// Until keeps events with timestamp < Until; zero means no bound.
	Until time.Time
	// Desc lists newest (highest seq) first.
	Desc bool
	// Limit is the most events in one page; <= 0 means 100. Count ignores
	// it, and PageID and Desc.
	Limit int
	// PageID is the next-page id of the previous page; "" for the first.
	PageID string
}

// Append stores evs at the end of the conversation's events, in order, and
// returns once they are committed and fsynced: an event acknowledged is an
// event a crash cannot lose. All of evs are stored or none.
//
// Each event gets the next seq (the conversation's LastSeq + 1, + 2, ...),
// set through its Meta before Append returns; on error the seqs are set back
// to 0. An empty ID is filled with event.NewID() and a zero timestamp with
// the current time; timestamps are cut to microseconds in UTC, as they are
// written. An id the conversation already has fails with ErrExists, which
// makes a retry of an acknowledged append harmless.
//
// An unknown conversation fails with ErrNotFound. Callers keep appends to
// one conversation in order (one at a time); appends to different
// conversations may run at once and then share commits. Concurrent appends
// to one conversation are still safe: each gets its own seqs, in the order
// the commits happen.
func (s *Store) Append(convID string, evs ...event.Event) error {
	err := s.appendEvents(convID, evs)
	if err != nil {
		for _, e := range evs {
			if e != nil {
				e.Meta().Seq = 0
			}
		}
		return fmt.Errorf("storage: append %d events to conversation %s: %w", len(evs), convID, err)
	}
	return nil
}

func (s *Store) appendEvents(convID string, evs []event.Event) error {
	now := event.TimeOf(s.now())
	ids := make(map[string]bool, len(evs))
	for i, e := range evs {
		if e == nil {
			return fmt.Errorf("event %d is nil: %w", i, ErrInvalid)
		}
		m := e.Meta()
		if m.ID == "" {
			m.ID = event.NewID()
		}
		if err := checkID("event id", m.ID); err != nil {
			return err
		}
		if ids[m.ID] {
			return fmt.Errorf("event id %s given twice: %w", m.ID, ErrExists)
		}
		ids[m.ID] = true
		if m.Timestamp.IsZero() {
			m.Timestamp = now
		} else {
			m.Timestamp = event.TimeOf(m.Timestamp.Time)
		}
	}
	// Encode outside the writer, in the caller's goroutine, with the seqs
	// that follow the conversation's last one as last seen; the writer
	// checks that it has not moved and encodes again if it has.
	s.seqMu.Lock()
	base, known := s.lastSeqs[convID]
	s.seqMu.Unlock()
	if !known || len(evs) == 0 {
		err := s.view(func(tx *bbolt.Tx) error {
			if err := conversationExists(tx, convID); err != nil {
				return err
			}
			base = lastSeq(tx, convID)
			return nil
		})
		if err != nil || len(evs) == 0 {
			return err
		}
	}
	recs, err := encodeEvents(evs, base)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(convID))
		if b == nil {
			return ErrNotFound
		}
		if last := bucketLastSeq(b); last != base {
			if recs, err = encodeEvents(evs, last); err != nil {
				return err
			}
			base = last
		}
		for _, e := range evs {
			if b.Get(idKey(e.Meta().ID)) != nil {
				return fmt.Errorf("event id %s: %w", e.Meta().ID, ErrExists)
			}
		}
		// Events go at the end of the bucket: fuller pages when they split.
		b.FillPercent = 0.9
		for i, e := range evs {
			seq := base + 1 + uint64(i)
			if err := b.Put(eventKey(seq), recs[i]); err != nil {
				return abort(err)
			}
			if err := b.Put(idKey(e.Meta().ID), seqKey(seq)); err != nil {
				return abort(err)
			}
		}
		s.seqMu.Lock()
		s.lastSeqs[convID] = base + uint64(len(evs))
		s.seqMu.Unlock()
		return nil
	})
}

// encodeEvents sets the seqs of evs from base+1 on and returns their stored
// records.
func encodeEvents(evs []event.Event, base uint64) ([][]byte, error) {
	if base > math.MaxInt64-uint64(len(evs)) {
		return nil, errors.New("seq overflow")
	}
	recs := make([][]byte, len(evs))
	for i, e := range evs {
		m := e.Meta()
		m.Seq = int64(base) + 1 + int64(i)
		js, err := event.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w: %w", i, ErrInvalid, err)
		}
		recs[i] = encodeEventRecord(e.Kind(), m.Source, m.Timestamp, js)
	}
	return recs, nil
}

// Events returns one page of the conversation's events that match q, in seq
// order (newest first with q.Desc), and the id of the next page, "" after
// the last. A walk through the pages sees every matching event stored when
// it began exactly once. An unknown conversation fails with ErrNotFound.
func (s *Store) Events(convID string, q EventQuery) ([]event.Event, string, error) {
	m, err := newMatcher(q)
	if err != nil {
		return nil, "", fmt.Errorf("storage: events of conversation %s: %w", convID, err)
	}
	var start uint64
	if q.PageID != "" {
		if start, err = decodeEventPage(q.PageID); err != nil {
			return nil, "", fmt.Errorf("storage: events of conversation %s: %w", convID, err)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var (
		out  []event.Event
		next string
	)
	err = s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(convID))
		if b == nil {
			return ErrNotFound
		}
		return scan(b, q.AfterSeq, start, q.Desc, func(seq uint64, rec eventRecord) (bool, error) {
			ok, e, err := m.match(rec)
			if err != nil || !ok {
				return false, err
			}
			if len(out) == limit {
				next = encodeEventPage(seq)
				return true, nil
			}
			if e == nil {
				if e, err = event.Unmarshal(rec.json); err != nil {
					return false, fmt.Errorf("event %d: %w", seq, err)
				}
			}
			out = append(out, e)
			return false, nil
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("storage: events of conversation %s: %w", convID, err)
	}
	return out, next, nil
}

// CountEvents returns how many of the conversation's events match q (its
// Limit, PageID and Desc aside).
func (s *Store) CountEvents(convID string, q EventQuery) (int, error) {
	m, err := newMatcher(q)
	if err != nil {
		return 0, fmt.Errorf("storage: count events of conversation %s: %w", convID, err)
	}
	n := 0
	err = s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(convID))
		if b == nil {
			return ErrNotFound
		}
		return scan(b, q.AfterSeq, 0, false, func(seq uint64, rec eventRecord) (bool, error) {
			ok, _, err := m.match(rec)
			if ok {
				n++
			}
			return false, err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("storage: count events of conversation %s: %w", convID, err)
	}
	return n, nil
}

// Event returns the conversation's event with the id. An unknown
// conversation or event fails with ErrNotFound.
func (s *Store) Event(convID, eventID string) (event.Event, error) {
	var e event.Event
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(convID))
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(idKey(eventID))
		if v == nil {
			return fmt.Errorf("event %s: %w", eventID, ErrNotFound)
		}
		seq := readUint(v)
		rec, err := decodeEventRecord(b.Get(eventKey(seq)))
		if err != nil {
			return fmt.Errorf("event %s (seq %d): %w", eventID, seq, err)
		}
		if e, err = event.Unmarshal(rec.json); err != nil {
			return fmt.Errorf("event %s (seq %d): %w", eventID, seq, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: conversation %s: %w", convID, err)
	}
	return e, nil
}

// RawEvents returns the JSON of the conversation's events after afterSeq, in
// seq order, as stored (with "seq"), for replays that send events on without
// decoding them. limit <= 0 means all. An unknown conversation fails with
// ErrNotFound.
func (s *Store) RawEvents(convID string, afterSeq uint64, limit int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(convID))
		if b == nil {
			return ErrNotFound
		}
		return scan(b, afterSeq, 0, false, func(seq uint64, rec eventRecord) (bool, error) {
			out = append(out, bytes.Clone(rec.json))
			return limit > 0 && len(out) == limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: raw events of conversation %s: %w", convID, err)
	}
	return out, nil
}

// A conversation's bucket in bucketEvents holds two kinds of keys, so that
// an append dirties as few pages as can be (one bucket, not two):
//
//	'e' + seq (8 bytes, big endian)  the event record, in seq order
//	'i' + event id                   the event's seq (8 bytes)
const (
	prefixEvent = 'e'
	prefixID    = 'i'
)

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 9), prefixEvent), seq)
}

func idKey(id string) []byte {
	return append(append(make([]byte, 0, 1+len(id)), prefixID), id...)
}

// eventSeq returns the seq of an event key, or 0 for another key.
func eventSeq(k []byte) uint64 {
	if len(k) != 9 || k[0] != prefixEvent {
		return 0
	}
	return binary.BigEndian.Uint64(k[1:])
}

// lastEvent positions c on the last event key of its bucket.
func lastEvent(c *bbolt.Cursor) (k, v []byte) {
	if k, _ = c.Seek([]byte{prefixEvent + 1}); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if eventSeq(k) == 0 {
		return nil, nil
	}
	return k, v
}

// bucketLastSeq returns the seq of the last event in a conversation's
// bucket, 0 if none.
func bucketLastSeq(b *bbolt.Bucket) uint64 {
	k, _ := lastEvent(b.Cursor())
	return eventSeq(k)
}

// scan calls fn on the events of b with seq > afterSeq, from start (0:
// from the first, or the last when desc) on, until fn says stop or fails.
func scan(b *bbolt.Bucket, afterSeq, start uint64, desc bool, fn func(seq uint64, rec eventRecord) (bool, error)) error {
	if afterSeq == math.MaxUint64 {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case !desc:
		k, v = c.Seek(eventKey(max(afterSeq+1, start)))
	case start == 0:
		k, v = lastEvent(c)
	default:
		// The last event key <= start.
		if k, v = c.Seek(eventKey(start)); k == nil {
			k, v = c.Last()
		} else if eventSeq(k) != start {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = nextKV(c, desc) {
		seq := eventSeq(k)
		if seq <= afterSeq { // 0: past the events
			return nil
		}
		rec, err := decodeEventRecord(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", seq, err)
		}
		stop, err := fn(seq, rec)
		if err != nil || stop {
			return err
		}
	}
	return nil
}

func nextKV(c *bbolt.Cursor, desc bool) ([]byte, []byte) {
	if desc {
		return c.Prev()
	}
	return c.Next()
}

// An event is stored as a small header, which the filters on kind, source
// and time read without decoding JSON, followed by the event's JSON:
//
//	1 byte    record version (1)
//	1 byte    length of kind, then kind
//	1 byte    length of source, then source
//	8 bytes   timestamp, Unix microseconds, big endian, two's complement
//	the rest  JSON, as event.Marshal writes it (with "seq")
const eventRecordV1 = 1

type eventRecord struct {
	kind   []byte
	source []byte
	micros int64
	json   []byte
}

func encodeEventRecord(kind event.Kind, source event.Source, ts event.Time, js []byte) []byte {
	k, src := kind[:min(len(kind), 255)], source[:min(len(source), 255)]
	b := make([]byte, 0, 3+len(k)+len(src)+8+len(js))
	b = append(b, eventRecordV1, byte(len(k)))
	b = append(b, k...)
	b = append(b, byte(len(src)))
	b = append(b, src...)
	b = binary.BigEndian.AppendUint64(b, uint64(ts.UnixMicro()))
	return append(b, js...)
}

// decodeEventRecord splits a stored event; the slices point into v.
func decodeEventRecord(v []byte) (eventRecord, error) {
	var r eventRecord
	bad := errors.New("damaged event record")
	if len(v) < 2 || v[0] != eventRecordV1 {
		return r, bad
	}
	n := int(v[1])
	v = v[2:]
	if len(v) < n+1 {
		return r, bad
	}
	r.kind, v = v[:n], v[n:]
	n = int(v[0])
	v = v[1:]
	if len(v) < n+8 {
		return r, bad
	}
	r.source, v = v[:n], v[n:]
	r.micros = int64(binary.BigEndian.Uint64(v))
	r.json = v[8:]
	return r, nil
}
