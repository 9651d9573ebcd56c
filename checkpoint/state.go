package checkpoint

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// record is a checkpoint as stored: its description, whether its change list
// is a whole state, and the distinct blob bytes that change list references.
type record struct {
	Checkpoint
	Full bool  `json:"full"`
	Size int64 `json:"size"`
}

// changeList is what one checkpoint changed: the entries new or different
// since its parent, and the paths gone (a folder stands for its subtree).
type changeList struct {
	Changed Manifest `json:"changed"`
	Deleted []string `json:"deleted,omitempty"`
}

// owner is the pair of buckets of one owner.
type owner struct {
	meta    *bbolt.Bucket // id -> record
	changes *bbolt.Bucket // id -> changeList
}

// ownerBuckets opens (or with create, makes) the buckets of an owner; without
// create an unknown owner is ErrNotFound.
func ownerBuckets(tx *bbolt.Tx, name string, create bool) (owner, error) {
	root := tx.Bucket(bucketOwners)
	b := root.Bucket([]byte(name))
	if b == nil {
		if !create {
			return owner{}, fmt.Errorf("owner %s: %w", name, ErrNotFound)
		}
		var err error
		if b, err = root.CreateBucket([]byte(name)); err != nil {
			return owner{}, err
		}
		if _, err := b.CreateBucket(bucketMeta); err != nil {
			return owner{}, err
		}
		if _, err := b.CreateBucket(bucketChanges); err != nil {
			return owner{}, err
		}
	}
	return owner{meta: b.Bucket(bucketMeta), changes: b.Bucket(bucketChanges)}, nil
}

func putRecord(o owner, rec record, cl changeList) error {
	m, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c, err := json.Marshal(cl)
	if err != nil {
		return err
	}
	if err := o.meta.Put([]byte(rec.ID), m); err != nil {
		return err
	}
	return o.changes.Put([]byte(rec.ID), c)
}

func (o owner) record(id string) (record, error) {
	var rec record
	data := o.meta.Get([]byte(id))
	if data == nil {
		return rec, fmt.Errorf("checkpoint %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return rec, nil
}

func (o owner) changeList(id string) (changeList, error) {
	var cl changeList
	data := o.changes.Get([]byte(id))
	if data == nil {
		return cl, fmt.Errorf("changes of %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(data, &cl); err != nil {
		return cl, fmt.Errorf("changes of %s: %w", id, err)
	}
	return cl, nil
}

// records lists the owner's records, oldest first (ids grow).
func (o owner) records() ([]record, error) {
	var out []record
	err := o.meta.ForEach(func(k, v []byte) error {
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("checkpoint %s: %w", k, err)
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// state folds the chain that ends at id.
func (o owner) state(id string) (Manifest, error) {
	var chain []changeList
	for cur := id; ; {
		rec, err := o.record(cur)
		if err != nil {
			return nil, err
		}
		cl, err := o.changeList(cur)
		if err != nil {
			return nil, err
		}
		chain = append(chain, cl)
		if rec.Full || rec.Parent == "" {
			break
		}
		if rec.Parent >= cur {
			// Parents are older, so ids decrease along a chain: a loop
			// here is a damaged database, not a state.
			return nil, fmt.Errorf("checkpoint %s: parent %s is not older", cur, rec.Parent)
		}
		cur = rec.Parent
	}
	m := make(Manifest, len(chain[len(chain)-1].Changed))
	for i := len(chain) - 1; i >= 0; i-- {
		apply(m, chain[i])
	}
	return m, nil
}

// apply folds one change list into a state: deletions first (with their
// subtrees), then the changed entries; a folder replaced by anything else
// loses its subtree.
func apply(m Manifest, cl changeList) {
	gone := make(map[string]bool, len(cl.Deleted))
	for _, p := range cl.Deleted {
		gone[p] = true
	}
	replaced := map[string]bool{}
	for p, e := range cl.Changed {
		if old, ok := m[p]; ok && old.Type == tar.TypeDir && e.Type != tar.TypeDir {
			replaced[p] = true
		}
	}
	if len(gone) > 0 || len(replaced) > 0 {
		for p := range m {
			if gone[p] || underAny(p, gone) || underAny(p, replaced) {
				delete(m, p)
			}
		}
	}
	for p, e := range cl.Changed {
		m[p] = e
	}
}

// underAny reports whether a proper ancestor of p is in set.
func underAny(p string, set map[string]bool) bool {
	if len(set) == 0 {
		return false
	}
	for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
		if set[p[:i]] {
			return true
		}
	}
	return false
}

// State returns the full state of a checkpoint: the fold of its chain.
func (s *Store) State(ownerName, id string) (Manifest, error) {
	var m Manifest
	err := s.db.View(func(tx *bbolt.Tx) error {
		o, err := ownerBuckets(tx, ownerName, false)
		if err != nil {
			return err
		}
		m, err = o.state(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: state of %s/%s: %w", ownerName, id, err)
	}
	return m, nil
}

// meta returns one checkpoint's record.
func (s *Store) meta(ownerName, id string) (record, error) {
	var rec record
	err := s.db.View(func(tx *bbolt.Tx) error {
		o, err := ownerBuckets(tx, ownerName, false)
		if err != nil {
			return err
		}
		rec, err = o.record(id)
		return err
	})
	return rec, err
}

// List returns an owner's checkpoints, oldest first; none for an unknown
// owner.
func (s *Store) List(ownerName string) []Checkpoint {
	var out []Checkpoint
	err := s.db.View(func(tx *bbolt.Tx) error {
		o, err := ownerBuckets(tx, ownerName, false)
		if err != nil {
			return nil
		}
		recs, err := o.records()
		for _, r := range recs {
			out = append(out, r.Checkpoint)
		}
		return err
	})
	if err != nil {
		s.log.Warn("list checkpoints", "owner", ownerName, "err", err)
	}
	return out
}

// Get returns one checkpoint.
func (s *Store) Get(ownerName, id string) (Checkpoint, error) {
	rec, err := s.meta(ownerName, id)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: get %s/%s: %w", ownerName, id, err)
	}
	return rec.Checkpoint, nil
}

// At returns the owner's checkpoint with the greatest Seq at or before seq
// (of two with that Seq, the newer).
func (s *Store) At(ownerName string, seq int64) (Checkpoint, bool) {
	var best Checkpoint
	found := false
	for _, cp := range s.List(ownerName) {
		if cp.Seq <= seq && (!found || cp.Seq >= best.Seq) {
			best, found = cp, true
		}
	}
	return best, found
}

// distinctBytes sums the sizes of the distinct blobs of m.
func distinctBytes(m Manifest) int64 {
	seen := map[string]bool{}
	var n int64
	for _, e := range m {
		if e.Blob != "" && !seen[e.Blob] {
			seen[e.Blob] = true
			n += e.Size
		}
	}
	return n
}
