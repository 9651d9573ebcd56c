package checkpoint

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// enforce squashes the owner's oldest checkpoints while it is past MaxCount
// or MaxBytes, keeping at least one.
func (s *Store) enforce(ownerName string) error {
	over := func(recs []record) bool {
		if len(recs) <= 1 {
			return false
		}
		var size int64
		for _, r := range recs {
			size += r.Size
		}
		return len(recs) > s.maxCount || size > s.maxBytes
	}
	var needed bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		o, err := ownerBuckets(tx, ownerName, false)
		if err != nil {
			return err
		}
		recs, err := o.records()
		needed = over(recs)
		return err
	})
	if err != nil || !needed {
		return err
	}
	s.delMu.Lock()
	defer s.delMu.Unlock()
	var f freeing
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := f.begin(tx, s); err != nil {
			return err
		}
		o, err := ownerBuckets(tx, ownerName, false)
		if err != nil {
			return err
		}
		for {
			recs, err := o.records()
			if err != nil {
				return err
			}
			if !over(recs) {
				break
			}
			if err := squash(tx, o, recs, &f); err != nil {
				return err
			}
		}
		return f.finish(tx)
	})
	if err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	s.removeFiles(&f)
	return nil
}

// squash removes the oldest of recs after making each checkpoint that
// follows it a whole state of its own, so every remaining state is unchanged.
func squash(tx *bbolt.Tx, o owner, recs []record, f *freeing) error {
	oldest := recs[0]
	for _, r := range recs[1:] {
		if r.Parent != oldest.ID {
			continue
		}
		cl, err := o.changeList(r.ID)
		if err != nil {
			return err
		}
		if !r.Full {
			st, err := o.state(r.ID)
			if err != nil {
				return err
			}
			// Count the new references before dropping the old ones, so
			// a blob in both never reaches zero.
			if err := f.adjust(tx, st, +1); err != nil {
				return err
			}
			if err := f.adjust(tx, cl.Changed, -1); err != nil {
				return err
			}
			cl = changeList{Changed: st}
			r.Full, r.Size = true, distinctBytes(st)
		}
		r.Parent = ""
		if err := putRecord(o, r, cl); err != nil {
			return err
		}
	}
	cl, err := o.changeList(oldest.ID)
	if err != nil {
		return err
	}
	if err := f.adjust(tx, cl.Changed, -1); err != nil {
		return err
	}
	if err := o.meta.Delete([]byte(oldest.ID)); err != nil {
		return err
	}
	f.count--
	return o.changes.Delete([]byte(oldest.ID))
}

// Copy makes a checkpoint of toOwner holding the whole state of fromOwner's
// checkpoint id (a fork's first checkpoint), with the same Seq, no parent
// and no Generation (the fork's sandbox has an agent of its own). It
// references the same blobs: no content is copied, and deleting either
// owner keeps the other's.
func (s *Store) Copy(fromOwner, id, toOwner string) (Checkpoint, error) {
	if err := validOwner(toOwner); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: copy: %w", err)
	}
	var cp Checkpoint
	var delta int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		src, err := ownerBuckets(tx, fromOwner, false)
		if err != nil {
			return err
		}
		rec, err := src.record(id)
		if err != nil {
			return err
		}
		st, err := src.state(id)
		if err != nil {
			return err
		}
		dst, err := ownerBuckets(tx, toOwner, true)
		if err != nil {
			return err
		}
		n, err := tx.Bucket(bucketOwners).NextSequence()
		if err != nil {
			return err
		}
		if delta, _, err = adjustRefs(tx, st, +1); err != nil {
			return err
		}
		cp = Checkpoint{ID: fmt.Sprintf("%016x", n), Owner: toOwner, Seq: rec.Seq, Files: len(st), Created: time.Now().UTC()}
		return putRecord(dst, record{Checkpoint: cp, Full: true, Size: distinctBytes(st)}, changeList{Changed: st})
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: copy %s/%s to %s: %w", fromOwner, id, toOwner, err)
	}
	s.count.Add(1)
	s.bytes.Add(delta)
	if err := s.enforce(toOwner); err != nil {
		s.log.Warn("bounds not enforced", "owner", toOwner, "err", err)
	}
	return cp, nil
}

// DeleteOwner removes every checkpoint of owner and the blobs no other
// owner's checkpoints reference. An unknown owner is no error.
func (s *Store) DeleteOwner(ownerName string) error {
	s.delMu.Lock()
	defer s.delMu.Unlock()
	var f freeing
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := f.begin(tx, s); err != nil {
			return err
		}
		o, err := ownerBuckets(tx, ownerName, false)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		err = o.changes.ForEach(func(k, _ []byte) error {
			cl, err := o.changeList(string(k))
			if err != nil {
				return err
			}
			f.count--
			return f.adjust(tx, cl.Changed, -1)
		})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketOwners).DeleteBucket([]byte(ownerName)); err != nil {
			return err
		}
		return f.finish(tx)
	})
	if err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", ownerName, err)
	}
	s.removeFiles(&f)
	return nil
}
