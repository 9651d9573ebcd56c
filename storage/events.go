package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
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
	// BodyBudget bounds the time a search with Body reads events before
	// it answers with a partial page (see Store.Events); <= 0 means
	// DefaultBodyBudget. Count ignores it.
	BodyBudget time.Duration
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
// makes a retry of an acknowledged append harmless. Looking for an id
// given costs a binary search per 1,024 events of the conversation and a
// scan of the index entries (16 bytes each) of up to 1,023 more; ids
// filled here are new and not looked for.
//
// An unknown conversation fails with ErrNotFound. Callers keep appends to
// one conversation in order (one at a time); appends to different
// conversations may run at once and then share commits. Concurrent appends
// to one conversation are still safe: each gets its own seqs, in the order
// the commits happen.
func (s *Store) Append(convID string, evs ...event.Event) error {
	_, err := s.AppendJSON(convID, evs...)
	return err
}

// AppendJSON is Append that also returns each event's JSON as stored (what
// event.Marshal gives for it, seq included), so that a caller who passes
// the events on need not encode them again.
func (s *Store) AppendJSON(convID string, evs ...event.Event) ([][]byte, error) {
	js, err := s.appendEvents(convID, evs)
	if err != nil {
		for _, e := range evs {
			if e != nil {
				e.Meta().Seq = 0
			}
		}
		return nil, fmt.Errorf("storage: append %d events to conversation %s: %w", len(evs), convID, err)
	}
	return js, nil
}

func (s *Store) appendEvents(convID string, evs []event.Event) ([][]byte, error) {
	now := event.TimeOf(s.now())
	var seen map[string]bool // ids of this call, when it has several
	if len(evs) > 1 {
		seen = make(map[string]bool, len(evs))
	}
	// given are the ids the caller chose, which may be stored already. An
	// id filled here is a random UUID, which no stored event has.
	var given []string
	hashes := make([]uint64, len(evs))
	for i, e := range evs {
		if e == nil {
			return nil, fmt.Errorf("event %d is nil: %w", i, ErrInvalid)
		}
		m := e.Meta()
		if m.ID == "" {
			m.ID = event.NewID()
		} else {
			given = append(given, m.ID)
		}
		if err := checkID("event id", m.ID); err != nil {
			return nil, err
		}
		if seen[m.ID] {
			return nil, fmt.Errorf("event id %s given twice: %w", m.ID, ErrExists)
		}
		if seen != nil {
			seen[m.ID] = true
		}
		hashes[i] = idHash(m.ID)
		if m.Timestamp.IsZero() {
			m.Timestamp = now
		} else {
			m.Timestamp = event.TimeOf(m.Timestamp.Time)
		}
	}
	// Encode outside the writer, in the caller's goroutine, with the seqs
	// that follow the conversation's last one as last seen; the writer
	// checks that it has not moved and encodes again if it has. Ids the
	// caller chose are looked for here too, and the writer looks only at
	// the events appended since.
	s.seqMu.Lock()
	base, known := s.lastSeqs[convID]
	s.seqMu.Unlock()
	deletions := s.deletions.Load()
	if !known || len(given) > 0 || len(evs) == 0 {
		err := s.view(func(tx *bbolt.Tx) error {
			if err := conversationExists(tx, convID); err != nil {
				return err
			}
			ix := openIndex(tx)
			base = ix.lastSeq(convID)
			return ix.checkIDs(convID, given, 1)
		})
		if err != nil || len(evs) == 0 {
			return nil, err
		}
	}
	recs, js, err := encodeEvents(evs, base)
	if err != nil {
		return nil, err
	}
	if s.afterLook != nil {
		s.afterLook()
	}
	err = s.update(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		ix := openIndex(tx)
		tail, err := ix.lastChunk(convID)
		if err != nil {
			return err
		}
		last := tail.lastSeq()
		if s.deletions.Load() != deletions {
			// Perhaps deleted and made again since the caller looked.
			if err := ix.checkIDs(convID, given, 1); err != nil {
				return err
			}
		} else if last != base {
			// Appended to since the caller looked.
			if err := ix.checkIDs(convID, given, min(base, last)+1); err != nil {
				return err
			}
		}
		if last != base {
			if recs, js, err = encodeEvents(evs, last); err != nil {
				return err
			}
			base = last
		}
		inTails, err := ix.append(convID, &tail, recs, hashes, false)
		if err != nil {
			return err
		}
		s.tails.touch(convID, inTails)
		if err := s.settleTails(ix); err != nil {
			return err
		}
		s.seqMu.Lock()
		s.lastSeqs[convID] = base + uint64(len(evs))
		s.seqMu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return js, nil
}

// encodeEvents sets the seqs of evs from base+1 on and returns their stored
// records and their JSON.
func encodeEvents(evs []event.Event, base uint64) (recs, js [][]byte, err error) {
	if base > math.MaxInt64-uint64(len(evs)) {
		return nil, nil, errors.New("seq overflow")
	}
	recs = make([][]byte, len(evs))
	js = make([][]byte, len(evs))
	for i, e := range evs {
		m := e.Meta()
		m.Seq = int64(base) + 1 + int64(i)
		if js[i], err = marshal(e); err != nil {
			return nil, nil, fmt.Errorf("event %d: %w: %w", i, ErrInvalid, err)
		}
		recs[i] = encodeEventRecord(e.Kind(), m.Source, m.Timestamp, js[i])
	}
	return recs, js, nil
}

// eventPkg is the import path of package event.
var eventPkg = reflect.TypeFor[event.Message]().PkgPath()

// marshal returns what event.Marshal(e) does, with one pass over the JSON
// less. event.Marshal checks that e is one of package event's types and
// hands it to encoding/json, which calls e's MarshalJSON and then compacts
// the result again (and so on at each level of MarshalJSON within). For
// those types marshal calls MarshalJSON itself: on a typical observation
// that saves about a quarter of the encoding time, which an append spends
// most of its CPU on. The bytes are the same (see TestMarshalAsEvent).
func marshal(e event.Event) ([]byte, error) {
	if m, ok := e.(json.Marshaler); ok {
		if t := reflect.TypeOf(e); t.Kind() == reflect.Pointer && t.Elem().PkgPath() == eventPkg && !reflect.ValueOf(e).IsNil() {
			return m.MarshalJSON()
		}
	}
	return event.Marshal(e)
}

// Events returns one page of the conversation's events that match q, in seq
// order (newest first with q.Desc), and the id of the next page, "" after
// the last. A walk through the pages sees every matching event stored when
// it began exactly once. An unknown conversation fails with ErrNotFound.
//
// A filter on kind or source reads the records only of the events whose
// index entries have the kind and source (codes.go). A search with Body
// reads and decodes records, and stops after q.BodyBudget (DefaultBodyBudget
// if zero) with the page it has so far, fewer than q.Limit events, maybe
// none, and the id of the page that goes on from where it stopped: a page
// with fewer than Limit events and a next page id is partial.
func (s *Store) Events(convID string, q EventQuery) ([]event.Event, string, error) {
	m, err := newMatcher(q, s.actionTexts)
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
	var deadline time.Time
	if q.Body != "" {
		budget := q.BodyBudget
		if budget <= 0 {
			budget = DefaultBodyBudget
		}
		deadline = time.Now().Add(budget)
	}
	var (
		out  []event.Event
		next string
	)
	err = s.view(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		ix := openIndex(tx)
		seen := 0
		return scan(ix, convID, q.AfterSeq, start, q.Desc, s.entryFilter(ix, m), func(seq uint64, rec eventRecord) (bool, error) {
			if seen++; !deadline.IsZero() && seen%64 == 0 && time.Now().After(deadline) {
				next = encodeEventPage(seq)
				return true, nil
			}
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

// DefaultBodyBudget is how long an event search with a Body reads events
// before it answers with what it has (see Store.Events).
const DefaultBodyBudget = 100 * time.Millisecond

// entryFilter returns the filter of m that the index entries can test, nil
// when they rule nothing out or the store was told to read every record.
func (s *Store) entryFilter(ix index, m *matcher) func(entry) bool {
	if s.scanRecords {
		return nil
	}
	f, ok := newCodeFilter(ix, m)
	if !ok {
		return nil
	}
	return f.pass
}

// CountEvents returns how many of the conversation's events match q (its
// Limit, PageID and Desc aside). It has no time budget.
func (s *Store) CountEvents(convID string, q EventQuery) (int, error) {
	m, err := newMatcher(q, s.actionTexts)
	if err != nil {
		return 0, fmt.Errorf("storage: count events of conversation %s: %w", convID, err)
	}
	n := 0
	err = s.view(func(tx *bbolt.Tx) error {
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		ix := openIndex(tx)
		return scan(ix, convID, q.AfterSeq, 0, false, s.entryFilter(ix, m), func(seq uint64, rec eventRecord) (bool, error) {
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
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		seq, rec, ok, err := openIndex(tx).find(convID, eventID, 1)
		if err != nil {
			return fmt.Errorf("event %s: %w", eventID, err)
		}
		if !ok {
			return fmt.Errorf("event %s: %w", eventID, ErrNotFound)
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
		if err := conversationExists(tx, convID); err != nil {
			return err
		}
		return scan(openIndex(tx), convID, afterSeq, 0, false, nil, func(seq uint64, rec eventRecord) (bool, error) {
			out = append(out, bytes.Clone(rec.json))
			return limit > 0 && len(out) == limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: raw events of conversation %s: %w", convID, err)
	}
	return out, nil
}

// scan calls fn on the conversation's events with seq > afterSeq, from
// start (0: from the first, or the last when desc) on, until fn says stop
// or fails. With pass, it skips the events whose index entry pass rules
// out, without reading their records.
func scan(ix index, conv string, afterSeq, start uint64, desc bool, pass func(entry) bool, fn func(seq uint64, rec eventRecord) (bool, error)) error {
	if afterSeq == math.MaxUint64 {
		return nil
	}
	from := start
	if !desc {
		from = max(afterSeq+1, start)
	}
	return ix.walk(conv, from, desc, func(seq uint64, e entry) (bool, error) {
		if seq <= afterSeq {
			return true, nil
		}
		if pass != nil && !pass(e) {
			return false, nil
		}
		rec, err := ix.record(seq, e.pos())
		if err != nil {
			return false, err
		}
		return fn(seq, rec)
	})
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
