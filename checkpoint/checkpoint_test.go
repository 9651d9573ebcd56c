package checkpoint

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRecordFullThenIncremental(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	base := mustRecord(t, s, "c1", 3, "", snap(t, SnapshotTrailer{Generation: "g1", Full: true},
		"/w/", "/w/a=alpha", "/w/d/", "/w/d/x=ex", "/w/l->a"))
	if base.Files != 5 || base.Bytes != int64(len("alpha")+len("ex")) || base.Generation != "g1" || base.Seq != 3 {
		t.Errorf("base = %+v", base)
	}
	next := mustRecord(t, s, "c1", 7, base.ID, snap(t, SnapshotTrailer{Generation: "g2", Deleted: []string{"/w/d"}},
		"/w/a=alpha2", "/w/b=ex"))
	// "ex" is stored already: only "alpha2" is new on disk.
	if next.Files != 2 || next.Bytes != int64(len("alpha2")) || next.Parent != base.ID {
		t.Errorf("next = %+v", next)
	}
	if diff := cmp.Diff(state(t, s, "c1", base.ID), want("/w/", "/w/a=alpha", "/w/d/", "/w/d/x=ex", "/w/l->a")); diff != "" {
		t.Errorf("base state (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(state(t, s, "c1", next.ID), want("/w/", "/w/a=alpha2", "/w/b=ex", "/w/l->a")); diff != "" {
		t.Errorf("next state (-got +want):\n%s", diff)
	}
	if got := len(blobFiles(t, s.dir)); got != 3 {
		t.Errorf("%d blobs on disk, want 3 (alpha, ex, alpha2)", got)
	}
	count, used := s.Usage()
	if count != 2 || used != int64(len("alpha")+len("ex")+len("alpha2")) {
		t.Errorf("Usage = %d, %d", count, used)
	}
	if diff := cmp.Diff(s.List("c1"), []Checkpoint{base, next}); diff != "" {
		t.Errorf("List (-got +want):\n%s", diff)
	}
	if s.List("nobody") != nil {
		t.Error("List of an unknown owner is not empty")
	}
}

func TestStateFold(t *testing.T) {
	t.Parallel()
	base := []node{"/w/", "/w/a=1", "/w/d/", "/w/d/x=2", "/w/d/e/", "/w/d/e/y=3", "/w/dx=4"}
	tests := []struct {
		name    string
		trailer SnapshotTrailer
		nodes   []node
		want    []node
	}{
		{"change", SnapshotTrailer{}, []node{"/w/a=one"},
			[]node{"/w/", "/w/a=one", "/w/d/", "/w/d/x=2", "/w/d/e/", "/w/d/e/y=3", "/w/dx=4"}},
		{"delete a file", SnapshotTrailer{Deleted: []string{"/w/d/x"}}, nil,
			[]node{"/w/", "/w/a=1", "/w/d/", "/w/d/e/", "/w/d/e/y=3", "/w/dx=4"}},
		// /w/dx shares the prefix "/w/d" but is not under the folder.
		{"delete a folder takes its subtree", SnapshotTrailer{Deleted: []string{"/w/d"}}, nil,
			[]node{"/w/", "/w/a=1", "/w/dx=4"}},
		{"folder replaced by a file", SnapshotTrailer{}, []node{"/w/d=now a file"},
			[]node{"/w/", "/w/a=1", "/w/d=now a file", "/w/dx=4"}},
		{"folder replaced by a symlink", SnapshotTrailer{}, []node{"/w/d->/tmp"},
			[]node{"/w/", "/w/a=1", "/w/d->/tmp", "/w/dx=4"}},
		{"file replaced by a folder", SnapshotTrailer{}, []node{"/w/a/", "/w/a/in=5"},
			[]node{"/w/", "/w/a/", "/w/a/in=5", "/w/d/", "/w/d/x=2", "/w/d/e/", "/w/d/e/y=3", "/w/dx=4"}},
		{"deleted then made again", SnapshotTrailer{Deleted: []string{"/w/d"}}, []node{"/w/d/", "/w/d/new=6"},
			[]node{"/w/", "/w/a=1", "/w/d/", "/w/d/new=6", "/w/dx=4"}},
		{"a full snapshot replaces the state", SnapshotTrailer{Full: true, Deleted: []string{"/w/b"}}, []node{"/w/", "/w/b=7"},
			[]node{"/w/", "/w/b=7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir(), Options{})
			b := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, base...))
			cp := mustRecord(t, s, "c", 2, b.ID, snap(t, tt.trailer, tt.nodes...))
			if diff := cmp.Diff(state(t, s, "c", cp.ID), want(tt.want...)); diff != "" {
				t.Errorf("state (-got +want):\n%s", diff)
			}
			// A third checkpoint on top folds the whole chain.
			top := mustRecord(t, s, "c", 3, cp.ID, snap(t, SnapshotTrailer{}, "/w/top=8"))
			if diff := cmp.Diff(state(t, s, "c", top.ID), want(append(tt.want, "/w/top=8")...)); diff != "" {
				t.Errorf("state on top (-got +want):\n%s", diff)
			}
		})
	}
}

func TestWriteRestoreIsTheDifference(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	a := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true},
		"/w/", "/w/same=s", "/w/edit=old", "/w/gone=g", "/w/d/", "/w/d/x=x", "/w/l->same", "/w/f=file", "/etc/", "/etc/conf=c1"))
	b := mustRecord(t, s, "c", 2, a.ID, snap(t, SnapshotTrailer{Deleted: []string{"/w/gone", "/w/d"}},
		"/w/edit=new", "/w/new=n", "/w/l->edit", "/w/f/", "/w/f/in=i", "/etc/conf=c2"))
	from, err := s.State("c", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		roots      []string
		wantDelete []string
		wantWrite  []node
	}{
		{"all paths", nil,
			[]string{"/w/d", "/w/f", "/w/gone"},
			[]node{"/etc/conf=c2", "/w/edit=new", "/w/f/", "/w/f/in=i", "/w/l->edit", "/w/new=n"}},
		{"under a root", []string{"/w"},
			[]string{"/w/d", "/w/f", "/w/gone"},
			[]node{"/w/edit=new", "/w/f/", "/w/f/in=i", "/w/l->edit", "/w/new=n"}},
		{"another root", []string{"/etc"}, nil, []node{"/etc/conf=c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			files, n, err := s.WriteRestore(&buf, from, "c", b.ID, tt.roots)
			if err != nil {
				t.Fatal(err)
			}
			head, order, got := readRestore(t, &buf)
			if diff := cmp.Diff(head.Delete, tt.wantDelete); diff != "" {
				t.Errorf("deletions (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(got, want(tt.wantWrite...)); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
			var bytesWant int64
			for _, v := range got {
				if v != "dir" && !strings.HasPrefix(v, "link:") {
					bytesWant += int64(len(v))
				}
			}
			if files != len(got) || n != bytesWant {
				t.Errorf("WriteRestore = %d files, %d bytes; tar has %d, %d", files, n, len(got), bytesWant)
			}
			for i := 1; i < len(order); i++ {
				if order[i-1] >= order[i] {
					t.Errorf("entries out of order: %q before %q", order[i-1], order[i])
				}
			}
		})
	}

	// The tar applied to the old state as the agent would gives the new one.
	var buf bytes.Buffer
	if _, _, err := s.WriteRestore(&buf, from, "c", b.ID, nil); err != nil {
		t.Fatal(err)
	}
	head, _, written := readRestore(t, &buf)
	sandbox := view(t, s, from)
	for p := range sandbox {
		for _, d := range head.Delete {
			if p == d || strings.HasPrefix(p, d+"/") {
				delete(sandbox, p)
			}
		}
	}
	for p, v := range written {
		sandbox[p] = v
	}
	if diff := cmp.Diff(sandbox, state(t, s, "c", b.ID)); diff != "" {
		t.Errorf("old state + restore (-got +want):\n%s", diff)
	}

	// From a state to itself: nothing.
	to, _ := s.State("c", b.ID)
	buf.Reset()
	files, n, err := s.WriteRestore(&buf, to, "c", b.ID, nil)
	if err != nil || files != 0 || n != 0 {
		t.Errorf("restore to the same state = %d, %d, %v", files, n, err)
	}
	if _, _, err := s.WriteRestore(&buf, nil, "c", "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("restore to an unknown checkpoint: %v", err)
	}
	if _, _, err := s.WriteRestore(&buf, nil, "c", b.ID, []string{"w"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("restore under a relative root: %v", err)
	}
}

func TestWriteRestoreKeepsMetadata(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	cp := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=alpha"))
	var buf bytes.Buffer
	if _, _, err := s.WriteRestore(&buf, nil, "c", cp.ID, nil); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	tr.Next()
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := s.State("c", cp.ID)
	e := src["/w/a"]
	if hdr.Mode != 0o644 || hdr.Uid != 1000 || hdr.Gid != 1000 || !hdr.ModTime.Equal(e.ModTime) || e.ModTime.Nanosecond() != 123456789 {
		t.Errorf("restored header %+v; entry %+v", hdr, e)
	}
}

func TestAt(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	a := mustRecord(t, s, "c", 4, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=1"))
	b := mustRecord(t, s, "c", 9, a.ID, snap(t, SnapshotTrailer{}, "/w/a=2"))
	tests := []struct {
		seq    int64
		want   string
		wantOK bool
	}{{3, "", false}, {4, a.ID, true}, {8, a.ID, true}, {9, b.ID, true}, {100, b.ID, true}}
	for _, tt := range tests {
		cp, ok := s.At("c", tt.seq)
		if ok != tt.wantOK || cp.ID != tt.want {
			t.Errorf("At(%d) = %s, %v; want %s, %v", tt.seq, cp.ID, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCopyThenDeleteOriginal(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	a := mustRecord(t, s, "orig", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/", "/w/a=shared", "/w/b=only-old"))
	b := mustRecord(t, s, "orig", 2, a.ID, snap(t, SnapshotTrailer{Deleted: []string{"/w/b"}}, "/w/c=also shared"))
	later := mustRecord(t, s, "orig", 3, b.ID, snap(t, SnapshotTrailer{}, "/w/d=after the fork"))
	wantState := want("/w/", "/w/a=shared", "/w/c=also shared")

	blobsBefore := len(blobFiles(t, s.dir))
	_, usedBefore := s.Usage()
	fork, err := s.Copy("orig", b.ID, "fork")
	if err != nil {
		t.Fatal(err)
	}
	if fork.Owner != "fork" || fork.Seq != 2 || fork.Parent != "" || fork.Bytes != 0 {
		t.Errorf("copy = %+v", fork)
	}
	if got := len(blobFiles(t, s.dir)); got != blobsBefore {
		t.Errorf("copy wrote blobs: %d, was %d", got, blobsBefore)
	}
	if _, used := s.Usage(); used != usedBefore {
		t.Errorf("copy changed the referenced bytes: %d, was %d", used, usedBefore)
	}
	if err := s.DeleteOwner("orig"); err != nil {
		t.Fatal(err)
	}
	if s.List("orig") != nil {
		t.Error("deleted owner still lists checkpoints")
	}
	if _, err := s.State("orig", later.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("state of a deleted owner: %v", err)
	}
	if diff := cmp.Diff(state(t, s, "fork", fork.ID), wantState); diff != "" {
		t.Errorf("fork state after the original was deleted (-got +want):\n%s", diff)
	}
	// Only the fork's two contents remain.
	if diff := cmp.Diff(blobFiles(t, s.dir), sorted(sum("shared"), sum("also shared"))); diff != "" {
		t.Errorf("blobs (-got +want):\n%s", diff)
	}
	var buf bytes.Buffer
	if _, _, err := s.WriteRestore(&buf, nil, "fork", fork.ID, nil); err != nil {
		t.Fatalf("restore of the fork: %v", err)
	}
	if err := s.DeleteOwner("fork"); err != nil {
		t.Fatal(err)
	}
	if got := blobFiles(t, s.dir); len(got) != 0 {
		t.Errorf("blobs left after both owners were deleted: %v", got)
	}
	if count, used := s.Usage(); count != 0 || used != 0 {
		t.Errorf("Usage = %d, %d after both owners were deleted", count, used)
	}
	if err := s.DeleteOwner("never"); err != nil {
		t.Errorf("DeleteOwner of an unknown owner: %v", err)
	}
	if _, err := s.Copy("orig", b.ID, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("copy from a deleted owner: %v", err)
	}
}

func sorted(s ...string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestSquashPastMaxCountKeepsStates(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{MaxCount: 3})
	states := map[string]map[string]string{}
	cp := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/", "/w/keep=k", "/w/v=v1", "/w/tmp/", "/w/tmp/t=t1"))
	states[cp.ID] = state(t, s, "c", cp.ID)
	steps := []struct {
		trailer SnapshotTrailer
		nodes   []node
	}{
		{SnapshotTrailer{}, []node{"/w/v=v2"}},
		{SnapshotTrailer{Deleted: []string{"/w/tmp"}}, []node{"/w/v=v3"}},
		{SnapshotTrailer{}, []node{"/w/v=v4", "/w/n=n4"}},
		{SnapshotTrailer{Deleted: []string{"/w/n"}}, []node{"/w/v=v5"}},
		{SnapshotTrailer{}, []node{"/w/v=v6"}},
	}
	for i, st := range steps {
		cp = mustRecord(t, s, "c", int64(i+2), cp.ID, snap(t, st.trailer, st.nodes...))
		states[cp.ID] = state(t, s, "c", cp.ID)
	}
	list := s.List("c")
	if len(list) != 3 {
		t.Fatalf("%d checkpoints kept, want 3", len(list))
	}
	for i, c := range list {
		if c.Seq != int64(i+4) {
			t.Errorf("kept checkpoint %d has seq %d, want %d (the newest)", i, c.Seq, i+4)
		}
		if diff := cmp.Diff(state(t, s, "c", c.ID), states[c.ID]); diff != "" {
			t.Errorf("state of %s changed by the squash (-got +want):\n%s", c.ID, diff)
		}
	}
	// Contents only the squashed checkpoints had are gone from the disk.
	if diff := cmp.Diff(blobFiles(t, s.dir), sorted(sum("k"), sum("v4"), sum("n4"), sum("v5"), sum("v6"))); diff != "" {
		t.Errorf("blobs (-got +want):\n%s", diff)
	}
	if count, used := s.Usage(); count != 3 || used != 9 {
		t.Errorf("Usage = %d, %d; want 3, 9", count, used)
	}
	// And a reopened store agrees.
	s.Close()
	s2 := open(t, s.dir, Options{MaxCount: 3})
	if count, used := s2.Usage(); count != 3 || used != 9 {
		t.Errorf("Usage after reopen = %d, %d; want 3, 9", count, used)
	}
}

func TestSquashPastMaxBytes(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{MaxBytes: 25})
	cp := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=0123456789"))
	cp = mustRecord(t, s, "c", 2, cp.ID, snap(t, SnapshotTrailer{}, "/w/b=abcdefghij"))
	if len(s.List("c")) != 2 {
		t.Fatal("squashed within the bound")
	}
	cp = mustRecord(t, s, "c", 3, cp.ID, snap(t, SnapshotTrailer{}, "/w/c=ABCDEFGHIJ"))
	list := s.List("c")
	if len(list) != 1 || list[0].ID != cp.ID {
		t.Fatalf("kept %+v; want only the newest", list)
	}
	if diff := cmp.Diff(state(t, s, "c", cp.ID), want("/w/a=0123456789", "/w/b=abcdefghij", "/w/c=ABCDEFGHIJ")); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
}

// A rewind makes a tree: two checkpoints with the same parent. Squashing the
// parent keeps both branches.
func TestSquashKeepsBranches(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{MaxCount: 3})
	a := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=1"))
	b1 := mustRecord(t, s, "c", 2, a.ID, snap(t, SnapshotTrailer{}, "/w/b=one"))
	b2 := mustRecord(t, s, "c", 3, a.ID, snap(t, SnapshotTrailer{}, "/w/b=two"))
	c := mustRecord(t, s, "c", 4, b2.ID, snap(t, SnapshotTrailer{}, "/w/c=3"))
	if len(s.List("c")) != 3 {
		t.Fatalf("kept %d", len(s.List("c")))
	}
	for id, w := range map[string]map[string]string{
		b1.ID: want("/w/a=1", "/w/b=one"),
		b2.ID: want("/w/a=1", "/w/b=two"),
		c.ID:  want("/w/a=1", "/w/b=two", "/w/c=3"),
	} {
		if diff := cmp.Diff(state(t, s, "c", id), w); diff != "" {
			t.Errorf("state of %s (-got +want):\n%s", id, diff)
		}
	}
}

func TestRecordUnknownParent(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	_, err := s.Record("c", 1, "0000000000000009", bytes.NewReader(snap(t, SnapshotTrailer{}, "/w/a=1")), 1<<20)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Record with an unknown parent: %v", err)
	}
	if _, err := s.Record("", 1, "", bytes.NewReader(snap(t, SnapshotTrailer{}, "/w/a=1")), 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("Record without an owner: %v", err)
	}
}
