package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// bucketRemovals holds what deleted conversations left outside the store,
// to be removed in the background (made on first write, so that files of
// the current layout take it without a migration): sequence key ->
// removalRecord JSON.
var bucketRemovals = []byte("removals")

// Removal is what a deleted conversation left outside the store: the
// container of its sandbox, a host folder made for it. The delete writes
// it in its own transaction, so that a server killed right after the
// delete still removes them at its next start; whoever removes them
// clears it with DoneRemoval.
type Removal struct {
	// Key names the record, for DoneRemoval; set by the store.
	Key            uint64
	ConversationID string
	// ContainerID is the sandbox's container ("" when it had none).
	ContainerID string
	Image       string
	// Volume is the sandbox's workspace volume ("" when none).
	Volume string
	// HostDir is a folder of the host made for the conversation alone.
	HostDir string
	// At is when the conversation was deleted.
	At time.Time
}

// removalRecord is a Removal as stored.
type removalRecord struct {
	ConversationID string    `json:"conversation_id"`
	ContainerID    string    `json:"container_id,omitempty"`
	Image          string    `json:"image,omitempty"`
	Volume         string    `json:"volume,omitempty"`
	HostDir        string    `json:"host_dir,omitempty"`
	At             time.Time `json:"at"`
}

// DeleteConversationLeaving deletes the conversation as DeleteConversation
// does and, in the same transaction, records left as a pending Removal,
// which it returns with its Key. When left names no container and no
// volume, those of the conversation's sandbox record are taken. Nothing is
// recorded when there is nothing to remove.
func (s *Store) DeleteConversationLeaving(id string, left Removal) (Removal, error) {
	left.ConversationID = id
	if left.At.IsZero() {
		left.At = s.now()
	}
	err := s.deleteConversation(id, func(tx *bbolt.Tx) error {
		r := left
		if r.ContainerID == "" && r.Volume == "" {
			if v := tx.Bucket(bucketSandboxes).Get([]byte(id)); v != nil {
				var rec sandboxRecord
				if err := decodeRecord(v, &rec); err == nil {
					r.ContainerID, r.Image, r.Volume = rec.ContainerID, rec.Image, rec.Volume
				}
			}
		}
		if r.ContainerID == "" && r.Volume == "" && r.HostDir == "" {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(bucketRemovals)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(removalRecord{ConversationID: id, ContainerID: r.ContainerID, Image: r.Image, Volume: r.Volume, HostDir: r.HostDir, At: r.At})
		if err != nil {
			return err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return err
		}
		r.Key = seq
		left = r
		return nil
	})
	if err != nil {
		return Removal{}, err
	}
	if left.ContainerID == "" && left.Volume == "" && left.HostDir == "" {
		return Removal{}, nil
	}
	return left, nil
}

// Removals returns the pending removals, oldest first.
func (s *Store) Removals() ([]Removal, error) {
	var out []Removal
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRemovals)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec removalRecord
			if err := decodeRecord(v, &rec); err != nil {
				return fmt.Errorf("removal %x: %w", k, err)
			}
			out = append(out, Removal{Key: readUint(k), ConversationID: rec.ConversationID, ContainerID: rec.ContainerID,
				Image: rec.Image, Volume: rec.Volume, HostDir: rec.HostDir, At: rec.At})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: removals: %w", err)
	}
	return out, nil
}

// DoneRemoval clears the pending removal of key; an unknown key is not an
// error.
func (s *Store) DoneRemoval(key uint64) error {
	err := s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRemovals)
		if b == nil {
			return nil
		}
		return abort(b.Delete(binary.BigEndian.AppendUint64(nil, key)))
	})
	if err != nil {
		return fmt.Errorf("storage: done removal %d: %w", key, err)
	}
	return nil
}
