package checkpoint

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// node is one entry of a test snapshot: "/w/a=text" is a file, "/w/d/" a
// folder, "/w/l->target" a symlink.
type node string

// snap builds a snapshot tar of nodes followed by a trailer.
func snap(t testing.TB, trailer SnapshotTrailer, nodes ...node) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1_700_000_000, 123456789)
	for _, n := range nodes {
		s := string(n)
		hdr := &tar.Header{Mode: 0o644, Uid: 1000, Gid: 1000, ModTime: mtime, Format: tar.FormatPAX}
		var body []byte
		switch {
		case strings.HasSuffix(s, "/"):
			hdr.Name, hdr.Typeflag, hdr.Mode = s, tar.TypeDir, 0o755
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			hdr.Name, hdr.Typeflag, hdr.Linkname = name, tar.TypeSymlink, target
		default:
			name, text, _ := strings.Cut(s, "=")
			hdr.Name, hdr.Typeflag, body = name, tar.TypeReg, []byte(text)
			hdr.Size = int64(len(body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	writeTrailer(t, tw, trailer)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTrailer(t testing.TB, tw *tar.Writer, trailer SnapshotTrailer) {
	t.Helper()
	data, err := json.Marshal(trailer)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: SnapshotTrailerName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
}

// view renders a state as path -> "dir", "link:target" or the file's text
// (read back from its blob), so tests compare what a sandbox would see.
func view(t testing.TB, s *Store, m Manifest) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, e := range m {
		switch e.Type {
		case tar.TypeDir:
			out[p] = "dir"
		case tar.TypeSymlink:
			out[p] = "link:" + e.Link
		case tar.TypeReg:
			data, err := os.ReadFile(s.blobPath(e.Blob))
			if err != nil {
				t.Fatalf("blob of %s: %v", p, err)
			}
			out[p] = string(data)
		default:
			t.Fatalf("%s: type %q", p, e.Type)
		}
	}
	return out
}

// want renders nodes as view does.
func want(nodes ...node) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		s := string(n)
		switch {
		case strings.HasSuffix(s, "/"):
			out[strings.TrimSuffix(s, "/")] = "dir"
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			out[name] = "link:" + target
		default:
			name, text, _ := strings.Cut(s, "=")
			out[name] = text
		}
	}
	return out
}

func open(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	opts.NoSync = true
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustRecord(t testing.TB, s *Store, owner string, seq int64, parent string, tarData []byte) Checkpoint {
	t.Helper()
	cp, err := s.Record(owner, seq, parent, bytes.NewReader(tarData), 1<<30)
	if err != nil {
		t.Fatalf("record %s seq %d: %v", owner, seq, err)
	}
	return cp
}

func state(t testing.TB, s *Store, owner, id string) map[string]string {
	t.Helper()
	m, err := s.State(owner, id)
	if err != nil {
		t.Fatal(err)
	}
	return view(t, s, m)
}

// files lists the regular files under the store's folder but the database,
// relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() != "checkpoints.db" {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// blobFiles are the blob names on disk.
func blobFiles(t testing.TB, dir string) []string {
	var out []string
	for _, f := range files(t, dir) {
		if strings.HasPrefix(f, "blobs/") {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}

func sum(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// diskUse is what the store takes on disk: the blocks of its files but the
// database, plus the database's pages in use (its file grows in large
// preallocated steps, which say nothing of one checkpoint).
func diskUse(t testing.TB, s *Store) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "checkpoints.db" {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return err
		}
		n += st.Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bbolt.Tx) error {
		n += tx.Size()
		return nil
	})
	return n
}

// readRestore parses a restore tar: its header and its entries with content.
func readRestore(t testing.TB, r io.Reader) (RestoreHeader, []string, map[string]string) {
	t.Helper()
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != RestoreHeaderName {
		t.Fatalf("first entry %v, %v; want %s", hdr, err, RestoreHeaderName)
	}
	var head RestoreHeader
	if err := json.NewDecoder(tr).Decode(&head); err != nil {
		t.Fatal(err)
	}
	var order []string
	got := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			got[hdr.Name] = "dir"
		case tar.TypeSymlink:
			got[hdr.Name] = "link:" + hdr.Linkname
		default:
			data, _ := io.ReadAll(tr)
			got[hdr.Name] = string(data)
		}
	}
	return head, order, got
}
