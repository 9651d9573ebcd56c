package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

// adjustRefs adds sign to the reference count of every blob of m (once per
// entry) and returns the change of referenced bytes and the blobs whose
// count reached zero (removed from the refs bucket).
func adjustRefs(tx *bbolt.Tx, m Manifest, sign int) (int64, []string, error) {
	refs := tx.Bucket(bucketRefs)
	var delta int64
	var zeroed []string
	for _, e := range m {
		if e.Blob == "" {
			continue
		}
		key := []byte(e.Blob)
		var count, size uint64
		if v := refs.Get(key); len(v) == 16 {
			count, size = binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
		} else {
			size = uint64(e.Size)
		}
		switch {
		case sign > 0:
			if count == 0 {
				delta += int64(size)
			}
			count++
		case count == 0:
			return 0, nil, fmt.Errorf("blob %s: reference count below zero", e.Blob)
		default:
			count--
		}
		if count == 0 {
			delta -= int64(size)
			zeroed = append(zeroed, e.Blob)
			if err := refs.Delete(key); err != nil {
				return 0, nil, err
			}
			continue
		}
		var v [16]byte
		binary.BigEndian.PutUint64(v[:8], count)
		binary.BigEndian.PutUint64(v[8:], size)
		if err := refs.Put(key, v[:]); err != nil {
			return 0, nil, err
		}
	}
	return delta, zeroed, nil
}

// freeing collects, within one update, the blobs it may free. Their names go
// to the garbage bucket in the same commit, so that a kill -9 between the
// commit and the removal of their files leaves [Open] a list to finish.
type freeing struct {
	candidates []string
	delta      int64 // referenced bytes
	count      int64 // checkpoints
}

// begin forgets the garbage of the previous freeing, whose files were
// removed (delMu) or whose removal waits for an unpin (those stay listed, so
// that Open removes them if the server stops first).
func (f *freeing) begin(tx *bbolt.Tx, s *Store) error {
	s.pinMu.Lock()
	keep := make([]string, 0, len(s.deferred))
	for sum := range s.deferred {
		keep = append(keep, sum)
	}
	s.pinMu.Unlock()
	if err := tx.DeleteBucket(bucketGarbage); err != nil {
		return err
	}
	g, err := tx.CreateBucket(bucketGarbage)
	if err != nil {
		return err
	}
	for _, sum := range keep {
		if err := g.Put([]byte(sum), nil); err != nil {
			return err
		}
	}
	return nil
}

func (f *freeing) adjust(tx *bbolt.Tx, m Manifest, sign int) error {
	d, zeroed, err := adjustRefs(tx, m, sign)
	f.delta += d
	f.candidates = append(f.candidates, zeroed...)
	return err
}

// finish keeps the candidates nothing references at the end of the update
// (one may be freed, then referenced again) and lists them as garbage.
func (f *freeing) finish(tx *bbolt.Tx) error {
	refs, garbage := tx.Bucket(bucketRefs), tx.Bucket(bucketGarbage)
	kept := f.candidates[:0]
	seen := map[string]bool{}
	for _, sum := range f.candidates {
		if seen[sum] || refs.Get([]byte(sum)) != nil {
			continue
		}
		seen[sum] = true
		kept = append(kept, sum)
		if err := garbage.Put([]byte(sum), nil); err != nil {
			return err
		}
	}
	f.candidates = kept
	return nil
}

// removeFiles removes the freed blobs' files and updates the usage.
func (s *Store) removeFiles(f *freeing) {
	s.count.Add(f.count)
	s.bytes.Add(f.delta)
	if _, err := s.removeUnreferenced(f.candidates); err != nil {
		s.log.Warn("freed blobs not removed", "err", err)
	}
}

// removeUnreferenced removes the files of those blobs no checkpoint
// references and no Record in progress uses (those wait for their unpin).
// The check and the removal happen under pinMu, so that no Record finds a
// blob on disk that is then removed under it.
func (s *Store) removeUnreferenced(sums []string) (int, error) {
	if len(sums) == 0 {
		return 0, nil
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	var orphans []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		refs := tx.Bucket(bucketRefs)
		for _, sum := range sums {
			if refs.Get([]byte(sum)) != nil {
				continue
			}
			if s.pins[sum] > 0 {
				s.deferred[sum] = true
				continue
			}
			orphans = append(orphans, sum)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	removed := 0
	for _, sum := range orphans {
		err := os.Remove(s.blobPath(sum))
		switch {
		case err == nil:
			removed++
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// Sweep walks the whole of blobs/ and removes the blobs no checkpoint
// references and no Record in progress uses: the full collection Open does
// not do (Open reads only what a killed process can leave). It is for a
// store whose database was replaced, or lost blobs' names some other way;
// it returns how many it removed.
func (s *Store) Sweep() (int, error) {
	removed := 0
	dirs, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
	if err != nil {
		return 0, fmt.Errorf("checkpoint: sweep: %w", err)
	}
	for _, d := range dirs {
		names, err := os.ReadDir(filepath.Join(s.dir, "blobs", d.Name()))
		if err != nil {
			return removed, fmt.Errorf("checkpoint: sweep: %w", err)
		}
		var sums []string
		for _, n := range names {
			if validSum(n.Name()) && n.Name()[:2] == d.Name() {
				sums = append(sums, n.Name())
			}
		}
		n, err := s.removeUnreferenced(sums)
		removed += n
		if err != nil {
			return removed, fmt.Errorf("checkpoint: sweep: %w", err)
		}
	}
	return removed, nil
}

// recover collects what a killed process left: temporary files, blobs of
// Records that never committed (their journals), and blobs freed by a commit
// whose files were not yet removed (the garbage bucket). Then it counts the
// usage. It reads tmp/ and journal/, never the whole of blobs/.
func (s *Store) recover() error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketOwners, bucketRefs, bucketGarbage} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	tmps, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return err
	}
	for _, t := range tmps {
		if err := os.RemoveAll(filepath.Join(s.dir, "tmp", t.Name())); err != nil {
			return err
		}
	}
	journals, err := os.ReadDir(filepath.Join(s.dir, "journal"))
	if err != nil {
		return err
	}
	for _, j := range journals {
		name := filepath.Join(s.dir, "journal", j.Name())
		sums, err := readJournal(name)
		if err != nil {
			return err
		}
		if _, err := s.removeUnreferenced(sums); err != nil {
			return err
		}
		if err := os.Remove(name); err != nil {
			return err
		}
	}
	var garbage []string
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketGarbage).ForEach(func(k, _ []byte) error {
			if validSum(string(k)) {
				garbage = append(garbage, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if _, err := s.removeUnreferenced(garbage); err != nil {
		return err
	}
	if len(journals) > 0 || len(garbage) > 0 || len(tmps) > 0 {
		s.log.Info("collected what a stopped server left", "temp_files", len(tmps), "journals", len(journals), "freed_blobs", len(garbage))
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		var f freeing
		if err := f.begin(tx, s); err != nil {
			return err
		}
		var count, bytes int64
		err := tx.Bucket(bucketOwners).ForEachBucket(func(k []byte) error {
			n := tx.Bucket(bucketOwners).Bucket(k).Bucket(bucketMeta).Stats().KeyN
			count += int64(n)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketRefs).ForEach(func(_, v []byte) error {
			if len(v) == 16 {
				bytes += int64(binary.BigEndian.Uint64(v[8:]))
			}
			return nil
		})
		s.count.Store(count)
		s.bytes.Store(bytes)
		return err
	})
}

// readJournal reads the blob names of a journal; a torn last line is
// ignored (its blob was not yet renamed into place).
func readJournal(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sums []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if validSum(sc.Text()) {
			sums = append(sums, sc.Text())
		}
	}
	return sums, sc.Err()
}

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
