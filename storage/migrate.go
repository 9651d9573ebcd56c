package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// Schema 1 kept each conversation's events in its own bucket inside
// "events", under two kinds of keys:
//
//	'e' + seq (8 bytes, big endian)  the event record, in seq order
//	'i' + event id                   the event's seq (8 bytes)
var bucketEventsV1 = []byte("events")

const (
	prefixEventV1 = 'e'
	prefixIDV1    = 'i'
)

// migrateEventLog takes a file from schema 1 to 2: it moves the events of
// each conversation, in seq order, from its bucket in "events" to the log
// and its chunks (index.go), copying the records as they are, budget
// events at most per transaction. Each conversation's last chunk goes to
// seqs, so that tails starts empty.
//
// A migration from schema 1 that a server of schema 2 began, and did not
// finish, left chunks of schema 2: they are brought to schema 3 first
// (migrateEntryCodes), since this one writes chunks of schema 3.
func migrateEventLog(tx *bbolt.Tx, budget int) (bool, error) {
	if more, err := migrateEntryCodes(tx, budget); err != nil || more {
		return more, err
	}
	old := tx.Bucket(bucketEventsV1)
	if old == nil {
		return false, nil
	}
	ix := openIndex(tx)
	for budget > 0 {
		k, v := old.Cursor().First()
		if k == nil {
			break
		}
		if v != nil {
			return false, fmt.Errorf("events: key %q is not a conversation's bucket", k)
		}
		moved, more, err := migrateConversation(ix, old.Bucket(k), string(k), budget)
		if err != nil {
			return false, fmt.Errorf("events of conversation %s: %w", k, err)
		}
		if more {
			return true, nil
		}
		if err := old.DeleteBucket(k); err != nil {
			return false, err
		}
		budget -= moved
	}
	if k, _ := old.Cursor().First(); k != nil {
		return true, nil
	}
	return false, tx.DeleteBucket(bucketEventsV1)
}

// migrateConversation moves up to budget of the events left in b, the
// conversation's bucket of schema 1, to the log, and deletes them from b. It
// reports whether b has more.
func migrateConversation(ix index, b *bbolt.Bucket, conv string, budget int) (moved int, more bool, err error) {
	c := b.Cursor()
	hashes := make(map[uint64]uint64) // seq -> hash of the event's id
	for k, v := c.Seek([]byte{prefixIDV1}); k != nil && k[0] == prefixIDV1; k, v = c.Next() {
		hashes[readUint(v)] = idHash(string(k[1:]))
	}
	tail, err := ix.lastChunk(conv)
	if err != nil {
		return 0, false, err
	}
	var (
		recs, keys [][]byte
		hs         []uint64
	)
	next := tail.lastSeq() + 1
	for k, v := c.Seek([]byte{prefixEventV1}); len(k) == 9 && k[0] == prefixEventV1; k, v = c.Next() {
		if len(recs) == budget {
			more = true
			break
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if seq != next {
			return 0, false, fmt.Errorf("event %d where %d was due", seq, next)
		}
		h, ok := hashes[seq]
		if !ok {
			// Not in the id keys: take the id from the event itself.
			rec, err := decodeEventRecord(v)
			if err != nil {
				return 0, false, fmt.Errorf("event %d: %w", seq, err)
			}
			var probe struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(rec.json, &probe); err != nil {
				return 0, false, fmt.Errorf("event %d: %w", seq, err)
			}
			h = idHash(probe.ID)
		}
		recs = append(recs, bytes.Clone(v))
		keys = append(keys, bytes.Clone(k))
		hs = append(hs, h)
		next++
	}
	if _, err := ix.append(conv, &tail, recs, hs, true); err != nil {
		return 0, false, err
	}
	if more {
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return 0, false, err
			}
		}
	}
	return len(recs), more, nil
}
