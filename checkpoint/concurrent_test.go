package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

// TestConcurrentRecordCopyDelete runs Records (some refused half-way),
// Copies and DeleteOwners of several owners at once over a small pool of
// contents, so that blobs are shared, freed and stored again all the time.
// At the end every state reads back and the blobs on disk are exactly those
// referenced.
func TestConcurrentRecordCopyDelete(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{MaxCount: 4})
	pool := []string{"a", "b", "c", "d", "e", "f"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			owner := fmt.Sprintf("c%d", g)
			parent := ""
			for i := range 40 {
				x, y := pool[(g+i)%len(pool)], pool[(g*i+1)%len(pool)]
				nodes := []node{node("/w/x=" + x), node("/w/y=" + y), node(fmt.Sprintf("/w/own=%d", i%3))}
				data := snap(t, SnapshotTrailer{Full: parent == ""}, nodes...)
				if i%5 == 4 {
					data = data[:len(data)-1024-512] // the trailer cut: refused after its blobs were written
				}
				cp, err := s.Record(owner, int64(i), parent, bytes.NewReader(data), 1<<20)
				if i%5 == 4 {
					if err == nil {
						t.Errorf("%s: a cut snapshot was recorded", owner)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", owner, err)
					return
				}
				parent = cp.ID
				switch i % 7 {
				case 3:
					if _, err := s.Copy(owner, cp.ID, owner+"-fork"); err != nil {
						t.Error(err)
					}
				case 6:
					if err := s.DeleteOwner(owner); err != nil {
						t.Error(err)
					}
					parent = ""
				}
			}
		})
	}
	wg.Wait()

	referenced := map[string]bool{}
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRefs).ForEach(func(k, _ []byte) error {
			referenced[string(k)] = true
			return nil
		})
	})
	var want []string
	for sum := range referenced {
		want = append(want, sum)
	}
	sort.Strings(want)
	if diff := cmp.Diff(blobFiles(t, s.dir), want); diff != "" {
		t.Errorf("blobs on disk (-got +want referenced):\n%s", diff)
	}
	for _, owner := range []string{"c0", "c1", "c2", "c3", "c0-fork", "c1-fork", "c2-fork", "c3-fork"} {
		for _, cp := range s.List(owner) {
			m, err := s.State(owner, cp.ID)
			if err != nil {
				t.Fatal(err)
			}
			for p, e := range m {
				if _, err := os.Stat(s.blobPath(e.Blob)); e.Blob != "" && err != nil {
					t.Errorf("%s/%s: %s: %v", owner, cp.ID, p, err)
				}
			}
		}
	}
	if files := files(t, s.dir); len(files) != len(want) {
		t.Errorf("files beyond the blobs: %v", files)
	}
}

// A Record that found a content on disk keeps it, even when the only
// checkpoint that referenced it is deleted before the Record commits.
func TestDeleteBeforeCommitKeepsFoundBlob(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	mustRecord(t, s, "old", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=shared", "/w/b=only old"))
	s.beforeCommit = func() {
		if err := s.DeleteOwner("old"); err != nil {
			t.Error(err)
		}
	}
	cp := mustRecord(t, s, "new", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/x=shared"))
	s.beforeCommit = nil
	if diff := cmp.Diff(state(t, s, "new", cp.ID), want("/w/x=shared")); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(blobFiles(t, s.dir), []string{sum("shared")}); diff != "" {
		t.Errorf("blobs (-got +want):\n%s", diff)
	}

	// And a Record that fails after finding it (its parent deleted
	// meanwhile) leaves nothing behind.
	s.beforeCommit = func() {
		if err := s.DeleteOwner("new"); err != nil {
			t.Error(err)
		}
	}
	if _, err := s.Record("new", 2, cp.ID, bytes.NewReader(snap(t, SnapshotTrailer{}, "/w/x=shared", "/w/y=new")), 1<<20); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Record on a parent deleted meanwhile: %v", err)
	}
	s.beforeCommit = nil
	if got := files(t, s.dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}
