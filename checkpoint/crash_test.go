package checkpoint

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"
)

// TestOpenCollectsCrashLeftovers lays out by hand what a killed server
// leaves: a temporary blob, the journal of a Record that never committed
// (its blobs on disk, one of them a content a checkpoint does reference, a
// torn last line), and blobs a deletion freed in a commit but had not yet
// removed.
func TestOpenCollectsCrashLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	base := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/", "/w/kept=kept"))
	s.Close()

	put := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	blob := func(text string) string { return filepath.Join("blobs", sum(text)[:2], sum(text)) }
	put("tmp/blob-1234", "half a blob")
	put(blob("orphan"), "orphan")
	put(blob("orphan2"), "orphan2")
	put("journal/half-record", sum("orphan")+"\n"+sum("kept")+"\n"+sum("orphan2")+"\n"+sum("torn")[:20])
	put(blob("freed"), "freed")
	db, err := bbolt.Open(filepath.Join(dir, "checkpoints.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		g := tx.Bucket(bucketGarbage)
		g.Put([]byte(sum("freed")), nil)
		g.Put([]byte(sum("kept")), nil) // freed, then referenced again
		return nil
	})
	db.Close()

	s = open(t, dir, Options{})
	if diff := cmp.Diff(files(t, dir), []string{blob("kept")}); diff != "" {
		t.Errorf("files after Open (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(state(t, s, "c", base.ID), want("/w/", "/w/kept=kept")); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
	if count, used := s.Usage(); count != 1 || used != 4 {
		t.Errorf("Usage = %d, %d; want 1, 4", count, used)
	}
}

// TestMain runs the child process of TestKillDuringRecord when asked to:
// it records what its stdin sends until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CHECKPOINT_KILL_DIR"); dir != "" {
		s, err := Open(dir, Options{})
		if err == nil {
			_, err = s.Record("c", 2, "", os.Stdin, 1<<30)
		}
		fmt.Fprintln(os.Stderr, "the snapshot was to be cut by a kill:", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestKillDuringRecord kills (SIGKILL) a process in the middle of a Record,
// once while it writes a big file and once between blobs, and checks that
// Open leaves only what committed checkpoints reference.
func TestKillDuringRecord(t *testing.T) {
	t.Parallel()
	for _, inBigFile := range []bool{false, true} {
		dir := t.TempDir()
		s := open(t, dir, Options{})
		base := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/", "/w/kept=kept"))
		s.Close()
		before := files(t, dir)

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CHECKPOINT_KILL_DIR="+dir)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(stdin)
		var names []string
		for i, body := range []string{"kept", "one", "two", "three"} {
			name := "/w/f" + strings.Repeat("x", i)
			names = append(names, name)
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		if inBigFile {
			tw.WriteHeader(&tar.Header{Name: "/w/big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4 * smallBlob})
			tw.Write(bytes.Repeat([]byte("b"), 2*smallBlob))
		} else {
			// Pushes the last small file out of the tar reader's buffer.
			tw.WriteHeader(&tar.Header{Name: "/w/pad", Typeflag: tar.TypeReg, Mode: 0o644, Size: 128 << 10})
			tw.Write(make([]byte, 128<<10))
		}
		// Wait until the child journaled the three new blobs (and, in a big
		// file, has its temporary file).
		deadline := time.Now().Add(30 * time.Second)
		for {
			journaled := 0
			js, _ := os.ReadDir(filepath.Join(dir, "journal"))
			for _, j := range js {
				data, _ := os.ReadFile(filepath.Join(dir, "journal", j.Name()))
				journaled += strings.Count(string(data), "\n")
			}
			tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
			if journaled >= 3 && (!inBigFile || len(tmps) > 0) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the child wrote no blobs (journaled %d, tmp %d)", journaled, len(tmps))
			}
			time.Sleep(10 * time.Millisecond)
		}
		// kept and the three new ones; between blobs, the child may
		// already have written the pad's too.
		if got := len(blobFiles(t, dir)); got < 4 {
			t.Fatalf("%d blobs before the kill, want at least 4", got)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) {
			t.Fatalf("child ended with %v", err)
		}
		stdin.Close()

		s = open(t, dir, Options{})
		if diff := cmp.Diff(files(t, dir), before); diff != "" {
			t.Errorf("big file %v: files after the kill and Open (-got +want):\n%s", inBigFile, diff)
		}
		if diff := cmp.Diff(state(t, s, "c", base.ID), want("/w/", "/w/kept=kept")); diff != "" {
			t.Errorf("state (-got +want):\n%s", diff)
		}
		if count, _ := s.Usage(); count != 1 {
			t.Errorf("%d checkpoints after the kill", count)
		}
		// The store goes on: the same files record now.
		var buf bytes.Buffer
		tw = tar.NewWriter(&buf)
		for _, name := range names {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
			tw.Write([]byte("z"))
		}
		writeTrailer(t, tw, SnapshotTrailer{})
		tw.Close()
		mustRecord(t, s, "c", 3, base.ID, buf.Bytes())
		s.Close()
	}
}

// Open reads only what a killed process leaves; Sweep finds a stray blob
// anywhere under blobs/.
func TestSweepRemovesStrayBlobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, Options{})
	cp := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=kept", "/w/b=kept too"))
	stray := filepath.Join(dir, "blobs", sum("stray")[:2], sum("stray"))
	os.MkdirAll(filepath.Dir(stray), 0o700)
	if err := os.WriteFile(stray, []byte("stray"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "blobs", "zz", "not-a-blob")
	os.MkdirAll(filepath.Dir(other), 0o700)
	os.WriteFile(other, nil, 0o600)
	n, err := s.Sweep()
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray blob: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not named as a blob was touched: %v", err)
	}
	if diff := cmp.Diff(state(t, s, "c", cp.ID), want("/w/a=kept", "/w/b=kept too")); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
}
