package checkpoint

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// tree is a source tree of files of random content for disk and time
// measurements: n files of size bytes in folders of 50.
type tree struct {
	files map[string][]byte
	src   *rand.ChaCha8
	rng   *rand.Rand
}

func newTree(n, size int) *tree {
	src := rand.NewChaCha8([32]byte{1})
	tr := &tree{files: map[string][]byte{}, src: src, rng: rand.New(src)}
	for i := range n {
		tr.files[fmt.Sprintf("/w/src/d%03d/f%04d.go", i/50, i)] = tr.random(size)
	}
	return tr
}

func (tr *tree) random(size int) []byte {
	b := make([]byte, size)
	tr.src.Read(b)
	return b
}

// tar of the given paths (all when none), folders first, then the trailer.
func (tr *tree) tar(t testing.TB, trailer SnapshotTrailer, paths ...string) []byte {
	t.Helper()
	if paths == nil {
		for p := range tr.files {
			paths = append(paths, p)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1_700_000_000, 0)
	if trailer.Full {
		dirs := map[string]bool{"/w": true, "/w/src": true}
		for p := range tr.files {
			dirs[p[:len("/w/src/d000")]] = true
		}
		for d := range dirs {
			tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime})
		}
	}
	for _, p := range paths {
		body := tr.files[p]
		tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: mtime})
		tw.Write(body)
	}
	writeTrailer(t, tw, trailer)
	tw.Close()
	return buf.Bytes()
}

// edit gives three files new content and returns their paths and bytes.
func (tr *tree) edit(size int) ([]string, int64) {
	var paths []string
	for _, i := range []int{tr.rng.IntN(len(tr.files)), tr.rng.IntN(len(tr.files)), tr.rng.IntN(len(tr.files))} {
		p := fmt.Sprintf("/w/src/d%03d/f%04d.go", i/50, i)
		if tr.files[p] == nil || contains(paths, p) {
			continue
		}
		tr.files[p] = tr.random(size)
		paths = append(paths, p)
	}
	return paths, int64(len(paths) * size)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// 400 files of 128 KiB: a 50 MiB tree.
const treeFiles, treeFileSize = 400, 128 << 10

func TestDiskUseFollowsContent(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	tr := newTree(treeFiles, treeFileSize)
	empty := diskUse(t, s)
	base := mustRecord(t, s, "c", 1, "", tr.tar(t, SnapshotTrailer{Full: true}))
	content := int64(treeFiles * treeFileSize)
	full := diskUse(t, s) - empty
	t.Logf("50 MiB tree: %d bytes on disk (%.3fx)", full, float64(full)/float64(content))
	if full < content || full > content+content/50+(1<<20) {
		t.Errorf("a %d-byte tree takes %d bytes; want about its size", content, full)
	}
	if base.Bytes != content {
		t.Errorf("Bytes = %d; want %d", base.Bytes, content)
	}

	// The blobs grow by the bytes changed; the database by a few pages a
	// step (its first growth past the full record is a larger step).
	parent := base.ID
	const steps = 10
	var overs []int64
	for step := range steps {
		paths, changed := tr.edit(20 << 10)
		before := diskUse(t, s)
		cp := mustRecord(t, s, "c", int64(step+2), parent, tr.tar(t, SnapshotTrailer{}, paths...))
		parent = cp.ID
		grew := diskUse(t, s) - before
		t.Logf("%d files edited (%d bytes): %d bytes on disk", len(paths), changed, grew)
		if grew < changed || grew > changed+128<<10 {
			t.Errorf("step %d: an edit of %d bytes takes %d bytes; want about the bytes changed", step, changed, grew)
		}
		overs = append(overs, grew-changed)
	}
	// The median, not the mean: the database's growth comes in pages and
	// the file system's allocation in extents, so one or two steps take a
	// larger bite (bounded above) while most take the bytes changed.
	slices.Sort(overs)
	if over := overs[len(overs)/2]; over > 16<<10 {
		t.Errorf("a step takes %d bytes more than it changed, at the median; want at most 16 KiB (steps: %v)", over, overs)
	}
}

// BenchmarkRecordIncremental records the checkpoint of a typical step: three
// files of a 50 MiB tree edited. Blobs and records are synced to disk, as a
// server does.
func BenchmarkRecordIncremental(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tr := newTree(treeFiles, treeFileSize)
	cp, err := s.Record("c", 0, "", bytes.NewReader(tr.tar(b, SnapshotTrailer{Full: true})), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	var seq int64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		paths, _ := tr.edit(8 << 10)
		data := tr.tar(b, SnapshotTrailer{}, paths...)
		seq++
		b.StartTimer()
		if cp, err = s.Record("c", seq, cp.ID, bytes.NewReader(data), 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteRestore writes the restore tar of a whole 50 MiB state (a
// fork's sandbox starting from nothing).
func BenchmarkWriteRestore(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tr := newTree(treeFiles, treeFileSize)
	cp, err := s.Record("c", 0, "", bytes.NewReader(tr.tar(b, SnapshotTrailer{Full: true})), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(treeFiles * treeFileSize)
	for b.Loop() {
		if _, _, err := s.WriteRestore(io.Discard, Manifest{}, "c", cp.ID, []string{"/w"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens a store of 20,000 blobs, none of them left by a crash:
// Open does not walk blobs/.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	tr := newTree(20_000, 64)
	if _, err := s.Record("c", 0, "", bytes.NewReader(tr.tar(b, SnapshotTrailer{Full: true})), 1<<30); err != nil {
		b.Fatal(err)
	}
	s.Close()
	for b.Loop() {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkRecordFull records a whole 50 MiB tree into an empty store (the
// first checkpoint of a conversation, or one after the agent restarted).
func BenchmarkRecordFull(b *testing.B) {
	tr := newTree(treeFiles, treeFileSize)
	data := tr.tar(b, SnapshotTrailer{Full: true})
	b.SetBytes(treeFiles * treeFileSize)
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Record("c", 0, "", bytes.NewReader(data), 1<<30); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
