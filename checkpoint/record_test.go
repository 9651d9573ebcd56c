package checkpoint

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rawTar builds a tar entry by entry; a nil body is written as is.
type rawEntry struct {
	hdr  tar.Header
	body string
}

func rawTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		hdr.Mode |= 0o644
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("%s: %v", hdr.Name, err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func file(name, body string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name}, body: body}
}

func trailer(json string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: SnapshotTrailerName}, body: json}
}

func TestRecordRefusesBadSnapshots(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("b", smallBlob+100) // streamed through tmp/, not memory
	full := snap(t, SnapshotTrailer{}, "/w/a=1")
	tests := []struct {
		name    string
		tar     []byte
		limit   int64
		want    error
		entries int // maxEntries, if lowered
	}{
		{"relative name", rawTar(t, file("/w/new", "new"), file("w/a", "x"), trailer(`{}`)), 0, ErrInvalid, 0},
		{"dot-dot", rawTar(t, file("/w/new", "new"), file("/w/../etc/passwd", "x"), trailer(`{}`)), 0, ErrInvalid, 0},
		{"double slash", rawTar(t, file("/w//a", "x"), trailer(`{}`)), 0, ErrInvalid, 0},
		{"dot", rawTar(t, file("/w/./a", "x"), trailer(`{}`)), 0, ErrInvalid, 0},
		{"the root", rawTar(t, rawEntry{hdr: tar.Header{Name: "/", Typeflag: tar.TypeDir}}, trailer(`{}`)), 0, ErrInvalid, 0},
		{"name too long", rawTar(t, file("/"+strings.Repeat("n", MaxNameLen), "x"), trailer(`{}`)), 0, ErrInvalid, 0},
		{"link target too long", rawTar(t, rawEntry{hdr: tar.Header{Name: "/w/l", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("t", MaxNameLen+1)}}, trailer(`{}`)), 0, ErrInvalid, 0},
		{"no trailer", rawTar(t, file("/w/new", "new"), file("/w/big", big)), 0, ErrInvalid, 0},
		{"entries after the trailer", rawTar(t, file("/w/new", "new"), trailer(`{}`), file("/w/b", "x")), 0, ErrInvalid, 0},
		{"two trailers", rawTar(t, trailer(`{}`), trailer(`{}`)), 0, ErrInvalid, 0},
		{"trailer not JSON", rawTar(t, file("/w/new", "new"), trailer(`{"full":`)), 0, ErrInvalid, 0},
		{"trailer a folder", rawTar(t, rawEntry{hdr: tar.Header{Name: SnapshotTrailerName, Typeflag: tar.TypeDir}}), 0, ErrInvalid, 0},
		{"relative deleted path", rawTar(t, file("/w/new", "new"), trailer(`{"deleted":["w/a"]}`)), 0, ErrInvalid, 0},
		{"unclean deleted path", rawTar(t, trailer(`{"deleted":["/w/../.."]}`)), 0, ErrInvalid, 0},
		{"truncated by the agent", rawTar(t, file("/w/new", "new"), trailer(`{"truncated":true}`)), 0, ErrTruncated, 0},
		{"past the limit", rawTar(t, file("/w/new", "new"), file("/w/big", big), trailer(`{}`)), smallBlob, ErrTooLarge, 0},
		{"limit counts all files", rawTar(t, file("/w/new", "new"), file("/w/more", "more"), trailer(`{}`)), 5, ErrTooLarge, 0},
		{"too many entries", rawTar(t, file("/w/new", "new"), file("/w/b", "b"), file("/w/c", "c"), trailer(`{}`)), 0, ErrInvalid, 2},
		{"too many deletions", rawTar(t, file("/w/new", "new"), trailer(`{"deleted":["/w/x","/w/y"]}`)), 0, ErrInvalid, 2},
		{"cut short in a big file", rawTar(t, file("/w/new", "new"), file("/w/big", big), trailer(`{}`))[:smallBlob], 0, ErrInvalid, 0},
		{"cut short in a header", full[:700], 0, ErrInvalid, 0},
		{"not a tar", []byte("this is not a tar stream at all, but it is long enough to look at" + strings.Repeat("!", 600)), 0, ErrInvalid, 0},
		{"empty", nil, 0, ErrInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir(), Options{})
			base := mustRecord(t, s, "c", 1, "", snap(t, SnapshotTrailer{Full: true}, "/w/a=shared"))
			before := files(t, s.dir)
			if tt.entries > 0 {
				s.maxEntries = tt.entries
			}
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 30
			}
			_, err := s.Record("c", 2, base.ID, bytes.NewReader(tt.tar), limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Record = %v; want %v", err, tt.want)
			}
			if diff := cmp.Diff(files(t, s.dir), before); diff != "" {
				t.Errorf("files after a refused snapshot (-got +want):\n%s", diff)
			}
			if got := len(s.List("c")); got != 1 {
				t.Errorf("%d checkpoints after a refused snapshot", got)
			}
			if count, used := s.Usage(); count != 1 || used != int64(len("shared")) {
				t.Errorf("Usage = %d, %d", count, used)
			}
		})
	}
}

func TestRecordSkipsDevicesAndCopiesHardLinks(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	data := rawTar(t,
		rawEntry{hdr: tar.Header{Name: "/w/", Typeflag: tar.TypeDir}},
		file("/w/a", "alpha"),
		rawEntry{hdr: tar.Header{Name: "/w/hard", Typeflag: tar.TypeLink, Linkname: "/w/a"}},
		rawEntry{hdr: tar.Header{Name: "/w/dangling", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}},
		rawEntry{hdr: tar.Header{Name: "/w/fifo", Typeflag: tar.TypeFifo}},
		rawEntry{hdr: tar.Header{Name: "/w/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
		rawEntry{hdr: tar.Header{Name: "/w/disk", Typeflag: tar.TypeBlock, Devmajor: 8}},
		trailer(`{"full":true,"generation":"g"}`),
	)
	cp, err := s.Record("c", 1, "", bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(state(t, s, "c", cp.ID), want("/w/", "/w/a=alpha", "/w/hard=alpha")); diff != "" {
		t.Errorf("state (-got +want):\n%s", diff)
	}
}

func TestRecordBigFileStreamed(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), Options{})
	big := strings.Repeat("0123456789abcdef", (3*smallBlob)/16)
	cp := mustRecord(t, s, "c", 1, "", rawTar(t, file("/w/big", big), file("/w/big2", big), trailer(`{"full":true}`)))
	if cp.Bytes != int64(len(big)) {
		t.Errorf("Bytes = %d; want %d (one copy)", cp.Bytes, len(big))
	}
	if diff := cmp.Diff(blobFiles(t, s.dir), []string{sum(big)}); diff != "" {
		t.Errorf("blobs (-got +want):\n%s", diff)
	}
	if got := state(t, s, "c", cp.ID); got["/w/big"] != big || got["/w/big2"] != big {
		t.Error("big files do not read back")
	}
}

func FuzzRecord(f *testing.F) {
	f.Add(snap(f, SnapshotTrailer{Full: true, Generation: "g"}, "/w/", "/w/a=alpha", "/w/l->a"))
	f.Add(snap(f, SnapshotTrailer{Deleted: []string{"/w/a"}}, "/w/b=beta"))
	f.Add(rawTar(f, file("/w/a", "x"), trailer(`{"truncated":true}`)))
	f.Add(rawTar(f, file("w/../a", "x"), trailer(`{}`)))
	f.Add([]byte("garbage"))
	dir := f.TempDir()
	s, err := Open(dir, Options{NoSync: true, MaxCount: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	base, err := s.Record("c", 0, "", bytes.NewReader(snap(f, SnapshotTrailer{Full: true}, "/w/a=alpha")), 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := files(t, dir)
		count, used := s.Usage()
		cp, err := s.Record("fuzz", 1, "", bytes.NewReader(data), 1<<16)
		if err != nil {
			if diff := cmp.Diff(files(t, dir), before); diff != "" {
				t.Fatalf("files after %v (-got +want):\n%s", err, diff)
			}
			if c, u := s.Usage(); c != count || u != used {
				t.Fatalf("Usage %d, %d after %v; was %d, %d", c, u, err, count, used)
			}
			return
		}
		m, err := s.State("fuzz", cp.ID)
		if err != nil {
			t.Fatal(err)
		}
		for p := range m {
			if validPath(p) != nil {
				t.Fatalf("stored path %q", p)
			}
		}
		var buf bytes.Buffer
		if _, _, err := s.WriteRestore(&buf, Manifest{}, "fuzz", cp.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteOwner("fuzz"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.State("c", base.ID); err != nil {
			t.Fatal(err)
		}
	})
}
