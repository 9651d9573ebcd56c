package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Conversation is what the store keeps of a conversation. Times come back in
// UTC, to the nanosecond.
type Conversation struct {
	ID     string
	Title  string
	Status string // execution_status: idle, running, paused, ...
	// CreatedAt and UpdatedAt are set by the caller; the store fills only
	// zero ones (with the time of the write, and CreatedAt) and never
	// touches UpdatedAt on its own, not even when events are appended.
	CreatedAt time.Time
	UpdatedAt time.Time
	// Spec is the session's settings for the conversation, opaque here. It
	// must be valid JSON, or nil.
	Spec json.RawMessage
	// LastSeq is the seq of the conversation's last event, 0 if it has
	// none. It is filled on read and ignored on write.
	LastSeq uint64
}

// conversationRecord is a Conversation as stored.
type conversationRecord struct {
	ID        string          `json:"id"`
	Title     string          `json:"title,omitempty"`
	Status    string          `json:"status,omitempty"`
	CreatedAt int64           `json:"created_at"` // Unix nanoseconds
	UpdatedAt int64           `json:"updated_at"`
	Spec      json.RawMessage `json:"spec,omitempty"`
}

// ConversationSort orders a listing of conversations.
type ConversationSort string

// The orders of Conversations; "" means ByCreatedDesc.
const (
	ByCreated     ConversationSort = "CREATED_AT"
	ByCreatedDesc ConversationSort = "CREATED_AT_DESC"
	ByUpdated     ConversationSort = "UPDATED_AT"
	ByUpdatedDesc ConversationSort = "UPDATED_AT_DESC"
)

// ConversationQuery selects a page of conversations.
type ConversationQuery struct {
	Status string           // "" = any
	Sort   ConversationSort // "" = ByCreatedDesc
	Limit  int              // <= 0 means 100
	PageID string           // from the previous page; "" for the first
}

// CreateConversation stores a new conversation with no events. An id already
// stored fails with ErrExists.
func (s *Store) CreateConversation(c Conversation) error {
	rec, err := s.record(c)
	if err != nil {
		return fmt.Errorf("storage: create conversation %s: %w", c.ID, err)
	}
	err = s.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketConversations).Get([]byte(c.ID)) != nil {
			return ErrExists
		}
		return writeConversation(tx, nil, rec)
	})
	if err != nil {
		return fmt.Errorf("storage: create conversation %s: %w", c.ID, err)
	}
	return nil
}

// PutConversation stores c, replacing the conversation of that id if there
// is one (its events, secrets and sandbox record stay).
func (s *Store) PutConversation(c Conversation) error {
	rec, err := s.record(c)
	if err != nil {
		return fmt.Errorf("storage: put conversation %s: %w", c.ID, err)
	}
	err = s.update(func(tx *bbolt.Tx) error {
		old, err := readConversation(tx, c.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err != nil {
			return writeConversation(tx, nil, rec)
		}
		return writeConversation(tx, &old, rec)
	})
	if err != nil {
		return fmt.Errorf("storage: put conversation %s: %w", c.ID, err)
	}
	return nil
}

// UpdateConversation changes the conversation id atomically: fn gets the
// stored conversation, changes it, and the result is stored unless fn
// returns an error, which UpdateConversation then returns. fn may be called
// more than once, must not change the id, and must not call the store. An
// unknown id fails with ErrNotFound. It returns the conversation as stored.
func (s *Store) UpdateConversation(id string, fn func(*Conversation) error) (Conversation, error) {
	var out Conversation
	err := s.update(func(tx *bbolt.Tx) error {
		old, err := readConversation(tx, id)
		if err != nil {
			return err
		}
		c := old.conversation()
		if err := fn(&c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("update changed the id to %q: %w", c.ID, ErrInvalid)
		}
		rec, err := s.record(c)
		if err != nil {
			return err
		}
		if err := writeConversation(tx, &old, rec); err != nil {
			return err
		}
		out = rec.conversation()
		out.LastSeq = lastSeq(tx, id)
		return nil
	})
	if err != nil {
		return Conversation{}, fmt.Errorf("storage: update conversation %s: %w", id, err)
	}
	return out, nil
}

// Conversation returns the conversation id, or ErrNotFound.
func (s *Store) Conversation(id string) (Conversation, error) {
	var c Conversation
	err := s.view(func(tx *bbolt.Tx) error {
		rec, err := readConversation(tx, id)
		if err != nil {
			return err
		}
		c = rec.conversation()
		c.LastSeq = lastSeq(tx, id)
		return nil
	})
	if err != nil {
		return Conversation{}, fmt.Errorf("storage: conversation %s: %w", id, err)
	}
	return c, nil
}

// Conversations returns one page of conversations in the order q.Sort asks,
// and the page id of the next page, "" after the last. Conversations stored
// or changed between pages may be missed or seen twice, as in any listing
// by a changing field; one that did not change is seen exactly once.
func (s *Store) Conversations(q ConversationQuery) ([]Conversation, string, error) {
	index, desc, err := sortIndex(q.Sort)
	if err != nil {
		return nil, "", fmt.Errorf("storage: list conversations: %w", err)
	}
	if q.Sort == "" {
		q.Sort = ByCreatedDesc
	}
	var start []byte
	if q.PageID != "" {
		if start, err = decodeConversationPage(q.PageID, q.Sort); err != nil {
			return nil, "", fmt.Errorf("storage: list conversations: %w", err)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var (
		items []Conversation
		next  string
	)
	err = s.view(func(tx *bbolt.Tx) error {
		convs := tx.Bucket(bucketConversations)
		c := tx.Bucket(index).Cursor()
		k := first(c, start, desc)
		for ; k != nil; k = step(c, desc) {
			if len(k) <= 8 {
				return fmt.Errorf("bad index key %x", k)
			}
			id := k[8:]
			var rec conversationRecord
			if err := decodeRecord(convs.Get(id), &rec); err != nil {
				return fmt.Errorf("conversation %s: %w", id, err)
			}
			if q.Status != "" && rec.Status != q.Status {
				continue
			}
			if len(items) == limit {
				next = encodeConversationPage(q.Sort, k)
				return nil
			}
			conv := rec.conversation()
			conv.LastSeq = lastSeq(tx, conv.ID)
			items = append(items, conv)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("storage: list conversations: %w", err)
	}
	return items, next, nil
}

// CountConversations returns how many conversations have the status, or how
// many there are for "".
func (s *Store) CountConversations(status string) (int, error) {
	n := 0
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConversations).ForEach(func(k, v []byte) error {
			if status == "" {
				n++
				return nil
			}
			var rec conversationRecord
			if err := decodeRecord(v, &rec); err != nil {
				return fmt.Errorf("conversation %s: %w", k, err)
			}
			if rec.Status == status {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("storage: count conversations: %w", err)
	}
	return n, nil
}

// DeleteConversation deletes the conversation with its events, secrets and
// sandbox record. An unknown id fails with ErrNotFound.
func (s *Store) DeleteConversation(id string) error {
	return s.deleteConversation(id, nil)
}

// deleteConversation is DeleteConversation; also, when it is not nil, runs
// in the same transaction, before the sandbox record is deleted (it may
// read it), and its error aborts the delete. It may run again in a new
// transaction.
func (s *Store) deleteConversation(id string, also func(tx *bbolt.Tx) error) error {
	s.secMu.Lock()
	defer s.secMu.Unlock()
	err := s.update(func(tx *bbolt.Tx) error {
		old, err := readConversation(tx, id)
		if err != nil {
			return err
		}
		// First: it reads the index before it writes, and may fail.
		if err := openIndex(tx).deleteConversation(id); err != nil {
			return err
		}
		delete(s.tails.last, id)
		// Counted now, for the appends later in this transaction, and once
		// committed, for those that looked before the commit.
		s.deletions.Add(1)
		tx.OnCommit(func() { s.deletions.Add(1) })
		key := []byte(id)
		if err := tx.Bucket(bucketConversations).Delete(key); err != nil {
			return abort(err)
		}
		if err := tx.Bucket(bucketByCreated).Delete(timeKey(old.CreatedAt, id)); err != nil {
			return abort(err)
		}
		if err := tx.Bucket(bucketByUpdated).Delete(timeKey(old.UpdatedAt, id)); err != nil {
			return abort(err)
		}
		if err := tx.Bucket(bucketSecrets).DeleteBucket(key); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return abort(err)
		}
		if also != nil {
			if err := also(tx); err != nil {
				return abort(err)
			}
		}
		return abort(tx.Bucket(bucketSandboxes).Delete(key))
	})
	if err != nil {
		return fmt.Errorf("storage: delete conversation %s: %w", id, err)
	}
	delete(s.memSecrets, id)
	s.seqMu.Lock()
	delete(s.lastSeqs, id)
	s.seqMu.Unlock()
	return nil
}

// record checks c and turns it into what is stored, filling zero times.
func (s *Store) record(c Conversation) (conversationRecord, error) {
	if err := checkID("conversation id", c.ID); err != nil {
		return conversationRecord{}, err
	}
	if c.Spec != nil && !json.Valid(c.Spec) {
		return conversationRecord{}, fmt.Errorf("spec is not valid JSON: %w", ErrInvalid)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	var spec json.RawMessage
	if c.Spec != nil {
		var buf bytes.Buffer
		json.Compact(&buf, c.Spec) // valid, checked above
		spec = buf.Bytes()
	}
	return conversationRecord{
		ID:        c.ID,
		Title:     c.Title,
		Status:    c.Status,
		CreatedAt: c.CreatedAt.UnixNano(),
		UpdatedAt: c.UpdatedAt.UnixNano(),
		Spec:      spec,
	}, nil
}

func (r conversationRecord) conversation() Conversation {
	return Conversation{
		ID:        r.ID,
		Title:     r.Title,
		Status:    r.Status,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(),
		UpdatedAt: time.Unix(0, r.UpdatedAt).UTC(),
		Spec:      r.Spec,
	}
}

// readConversation reads the stored record of id, or ErrNotFound.
func readConversation(tx *bbolt.Tx, id string) (conversationRecord, error) {
	var rec conversationRecord
	v := tx.Bucket(bucketConversations).Get([]byte(id))
	if v == nil {
		return rec, ErrNotFound
	}
	if err := decodeRecord(v, &rec); err != nil {
		return rec, err
	}
	return rec, nil
}

// decodeRecord decodes a stored JSON record. A record that does not decode
// is damage, not a caller's mistake.
func decodeRecord(v []byte, rec any) error {
	if v == nil {
		return errors.New("record missing")
	}
	if err := json.Unmarshal(v, rec); err != nil {
		return fmt.Errorf("damaged record: %w", err)
	}
	return nil
}

// conversationExists returns ErrNotFound for an unknown conversation.
func conversationExists(tx *bbolt.Tx, id string) error {
	if tx.Bucket(bucketConversations).Get([]byte(id)) == nil {
		return ErrNotFound
	}
	return nil
}

// writeConversation stores rec, replacing old (nil for a new conversation):
// the record and its two index keys.
func writeConversation(tx *bbolt.Tx, old *conversationRecord, rec conversationRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err // before any write
	}
	id := rec.ID
	if err := tx.Bucket(bucketConversations).Put([]byte(id), v); err != nil {
		return abort(err)
	}
	created, updated := tx.Bucket(bucketByCreated), tx.Bucket(bucketByUpdated)
	if old != nil {
		if err := created.Delete(timeKey(old.CreatedAt, id)); err != nil {
			return abort(err)
		}
		if err := updated.Delete(timeKey(old.UpdatedAt, id)); err != nil {
			return abort(err)
		}
	}
	if err := created.Put(timeKey(rec.CreatedAt, id), nil); err != nil {
		return abort(err)
	}
	if err := updated.Put(timeKey(rec.UpdatedAt, id), nil); err != nil {
		return abort(err)
	}
	return nil
}

// lastSeq returns the seq of the conversation's last event, 0 if none.
func lastSeq(tx *bbolt.Tx, id string) uint64 {
	return openIndex(tx).lastSeq(id)
}

// timeKey is an index key: the time in Unix nanoseconds as a big-endian
// uint64 with the sign bit flipped (so that keys sort by time, before 1970
// too), then the id.
func timeKey(nanos int64, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(nanos)^(1<<63))
	return append(k, id...)
}

// sortIndex returns the index bucket and direction of a sort order.
func sortIndex(sort ConversationSort) (bucket []byte, desc bool, err error) {
	switch sort {
	case ByCreated:
		return bucketByCreated, false, nil
	case ByCreatedDesc, "":
		return bucketByCreated, true, nil
	case ByUpdated:
		return bucketByUpdated, false, nil
	case ByUpdatedDesc:
		return bucketByUpdated, true, nil
	}
	return nil, false, fmt.Errorf("sort order %q: %w", sort, ErrInvalid)
}

// first positions c on the first key of a walk from start (nil: from the
// beginning) in the given direction, and returns it (nil: none).
func first(c *bbolt.Cursor, start []byte, desc bool) []byte {
	switch {
	case start == nil && desc:
		k, _ := c.Last()
		return k
	case start == nil:
		k, _ := c.First()
		return k
	case !desc:
		k, _ := c.Seek(start)
		return k
	}
	// The last key <= start.
	k, _ := c.Seek(start)
	if k == nil {
		k, _ = c.Last()
		return k
	}
	if bytes.Compare(k, start) > 0 {
		k, _ = c.Prev()
	}
	return k
}

// step moves c one key on in the given direction.
func step(c *bbolt.Cursor, desc bool) []byte {
	var k []byte
	if desc {
		k, _ = c.Prev()
	} else {
		k, _ = c.Next()
	}
	return k
}
