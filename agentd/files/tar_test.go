package files

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tarEntry is one entry of a crafted tar.
type tarEntry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func makeTar(tb testing.TB, entries ...tarEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: mode, Size: int64(len(e.body)),
			ModTime: time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC), Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// treeOf describes every entry under dir by relative path: "dir", the
// content of a file with its permissions, or "-> target" for a symlink.
func treeOf(tb testing.TB, dir string, skip string) map[string]string {
	tb.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			tree[rel] = "dir " + fi.Mode().Perm().String()
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			tree[rel] = "-> " + t
		default:
			b, _ := os.ReadFile(p)
			tree[rel] = fi.Mode().Perm().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tree
}

func TestTarRoundTrip(t *testing.T) {
	dir := tempDir(t)
	src := dir + "/proj"
	writeFiles(t, dir, map[string]string{
		"proj/main.go":            "package main\n",
		"proj/run.sh":             "#!/bin/sh\necho hi\n",
		"proj/.env":               "SECRET=1\n",
		"proj/pkg/lib/lib.go":     "package lib\n",
		"proj/empty/":             "",
		"proj/bin/tool":           "->../run.sh",
		"proj/pkg/lib/self":       "->lib.go",
		"proj/pkg/lib/dangling":   "->missing.go",
		"proj/binary.dat":         "\x00\x01\x02",
		"proj/pkg/nested/deep/x":  strings.Repeat("x", 100000),
		"proj/pkg/nested/dirlink": "->../lib",
	})
	if err := os.Chmod(src+"/run.sh", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src+"/main.go", src+"/pkg/main-hardlink.go"); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2023, 7, 8, 9, 10, 11, 0, time.UTC)
	if err := os.Chtimes(src+"/main.go", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, Config{})
	var buf bytes.Buffer
	if err := f.Download(context.Background(), src, &buf); err != nil {
		t.Fatal(err)
	}
	res, err := f.Upload(context.Background(), dir+"/copy", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(treeOf(t, dir+"/copy/proj", ""), treeOf(t, src, "")); diff != "" {
		t.Errorf("tree (-got +want):\n%s", diff)
	}
	want := UploadResult{Files: 6, Dirs: 7, Links: 5, Bytes: int64(len("package main\n#!/bin/sh\necho hi\nSECRET=1\npackage lib\n\x00\x01\x02") + 100000), Dest: dir + "/copy"}
	if diff := cmp.Diff(res, want); diff != "" {
		t.Errorf("result (-got +want):\n%s", diff)
	}
	a, _ := os.Stat(dir + "/copy/proj/main.go")
	b, _ := os.Stat(dir + "/copy/proj/pkg/main-hardlink.go")
	if !os.SameFile(a, b) {
		t.Errorf("hard link not kept")
	}
	if !a.ModTime().Equal(mtime) {
		t.Errorf("mtime %v, want %v", a.ModTime(), mtime)
	}
}

func TestDownloadFile(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"a.txt": "hello"})
	var buf bytes.Buffer
	if err := newFS(t, Config{}).Download(context.Background(), dir+"/a.txt", &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "a.txt" || hdr.Size != 5 {
		t.Errorf("entry %q size %d, want a.txt size 5", hdr.Name, hdr.Size)
	}
	err = newFS(t, Config{}).Download(context.Background(), dir+"/none", &buf)
	checkErr(t, err, ErrNotFound, "")
}

// uploadSandbox makes dir/dest (the upload destination) next to
// dir/outside, which holds a secret and a file hard-linked into dest.
func uploadSandbox(tb testing.TB, dir string) (dest string) {
	tb.Helper()
	dest = dir + "/dest"
	for _, d := range []string{dest, dir + "/outside"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(dir+"/outside/secret", []byte("s"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Link(dir+"/outside/secret", dest+"/hardlinked"); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink("../outside", dest+"/out"); err != nil {
		tb.Fatal(err)
	}
	return dest
}

func TestUploadRefuses(t *testing.T) {
	tests := []struct {
		name     string
		entries  []tarEntry
		raw      []byte // instead of entries
		wantKind error
		check    func(t *testing.T, dest string)
	}{
		{name: "dot-dot name", entries: []tarEntry{{name: "../evil", body: "x"}}, wantKind: ErrInvalid},
		{name: "dot-dot inside name", entries: []tarEntry{{name: "a/../../evil", body: "x"}}, wantKind: ErrInvalid},
		{name: "absolute name", entries: []tarEntry{{name: "/tmp/evil", body: "x"}}, wantKind: ErrInvalid},
		{name: "absolute symlink out", entries: []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, wantKind: ErrInvalid},
		{name: "relative symlink out", entries: []tarEntry{{name: "a/l", typ: tar.TypeSymlink, link: "../../outside"}}, wantKind: ErrInvalid},
		{name: "symlink out through a symlink", entries: []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "out/secret"}}, wantKind: ErrInvalid},
		{name: "symlink turned outward later", entries: []tarEntry{
			{name: "e", typ: tar.TypeSymlink, link: "d/.."},
			{name: "d", typ: tar.TypeSymlink, link: "."},
		}, wantKind: ErrInvalid, check: func(t *testing.T, dest string) {
			if _, err := os.Lstat(dest + "/e"); err == nil {
				t.Errorf("the outward symlink was left in place")
			}
		}},
		{name: "symlink then file through it", entries: []tarEntry{
			{name: "l", typ: tar.TypeSymlink, link: "/tmp"},
			{name: "l/evil", body: "x"},
		}, wantKind: ErrInvalid},
		{name: "file through an existing outward symlink", entries: []tarEntry{{name: "out/evil", body: "x"}}, wantKind: ErrInvalid},
		{name: "hard link out", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}}, wantKind: ErrInvalid},
		{name: "hard link through an outward symlink", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "out/secret"}}, wantKind: ErrInvalid},
		{name: "hard link to an outward symlink", entries: []tarEntry{{name: "h", typ: tar.TypeLink, link: "out"}}, wantKind: ErrInvalid},
		{name: "too large", entries: []tarEntry{{name: "a", body: strings.Repeat("x", 600)}, {name: "b", body: strings.Repeat("x", 600)}}, wantKind: ErrTooLarge},
		{name: "too many entries", entries: []tarEntry{{name: "1"}, {name: "2"}, {name: "3"}, {name: "4"}, {name: "5"}, {name: "6"}}, wantKind: ErrTooLarge},
		{name: "not a tar", raw: []byte(strings.Repeat("garbage!", 200)), wantKind: ErrInvalid},
		{name: "cut short", raw: makeTar(t, tarEntry{name: "a", body: strings.Repeat("x", 900)})[:1024], wantKind: ErrInvalid},
		{name: "directory in the way", entries: []tarEntry{{name: "d", typ: tar.TypeDir}, {name: "d", body: "x"}}, wantKind: ErrConflict},
		{name: "existing hard link is replaced, not written through", entries: []tarEntry{{name: "hardlinked", body: "new"}},
			check: func(t *testing.T, dest string) {
				if got := readFile(t, dest+"/hardlinked"); got != "new" {
					t.Errorf("hardlinked = %q, want new", got)
				}
			}},
		{name: "set-user-ID dropped, devices skipped", entries: []tarEntry{
			{name: "suid", body: "x", mode: 0o4755},
			{name: "dev", typ: tar.TypeChar},
			{name: "fifo", typ: tar.TypeFifo},
		}, check: func(t *testing.T, dest string) {
			fi, err := os.Stat(dest + "/suid")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&(fs.ModeSetuid|fs.ModePerm) != 0o755 {
				t.Errorf("mode %v, want 0755 without set-user-ID", fi.Mode())
			}
			for _, n := range []string{"dev", "fifo"} {
				if _, err := os.Lstat(dest + "/" + n); err == nil {
					t.Errorf("%s was extracted", n)
				}
			}
		}},
		{name: "inner dot-dot that stays inside is fine", entries: []tarEntry{{name: "a/../b", body: "x"}, {name: "./c/", typ: tar.TypeDir}, {name: "c/l", typ: tar.TypeSymlink, link: "../b"}},
			check: func(t *testing.T, dest string) {
				if got := readFile(t, dest+"/c/l"); got != "x" {
					t.Errorf("c/l reads %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			dest := uploadSandbox(t, dir)
			before := treeOf(t, dir, dest)
			data := tt.raw
			if data == nil {
				data = makeTar(t, tt.entries...)
			}
			f := newFS(t, Config{MaxUploadBytes: 1000, MaxUploadEntries: 5})
			_, err := f.Upload(context.Background(), dest, bytes.NewReader(data))
			checkErr(t, err, tt.wantKind, "")
			if diff := cmp.Diff(treeOf(t, dir, dest), before); diff != "" {
				t.Errorf("outside the destination (-got +want):\n%s", diff)
			}
			checkLinksInside(t, dest)
			if tt.check != nil {
				tt.check(t, dest)
			}
		})
	}
}

// checkLinksInside fails if a symlink under dest, other than the test's own
// "out", resolves outside dest.
func checkLinksInside(tb testing.TB, dest string) {
	tb.Helper()
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 || p == dest+"/out" {
			return nil
		}
		target, _ := os.Readlink(p)
		abs := target
		if !filepath.IsAbs(abs) {
			abs = filepath.Dir(p) + "/" + target
		}
		r, err := resolveExisting(abs)
		if err == nil && !within(dest, r) {
			tb.Errorf("symlink %s -> %s resolves outside to %s", p, target, r)
		}
		return nil
	})
}

func TestUploadOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := tempDir(t)
	f := newFS(t, Config{Owner: &Owner{UID: 12345, GID: 23456}})
	data := makeTar(t,
		tarEntry{name: "d/", typ: tar.TypeDir},
		tarEntry{name: "d/f", body: "x"},
		tarEntry{name: "a/b/c", body: "x"},
		tarEntry{name: "l", typ: tar.TypeSymlink, link: "d/f"},
	)
	if _, err := f.Upload(context.Background(), dir+"/new/dest", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"new", "new/dest", "new/dest/d", "new/dest/d/f", "new/dest/a", "new/dest/a/b", "new/dest/a/b/c", "new/dest/l"} {
		checkOwner(t, dir+"/"+p, 12345, 23456)
	}
	checkOwner(t, dir, 0, 0)
}

func checkOwner(tb testing.TB, p string, uid, gid int) {
	tb.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		tb.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid {
		tb.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

// FuzzUpload feeds arbitrary bytes to Upload: it must never panic, never
// change anything outside the destination, and never leave a symlink that
// leads out.
func FuzzUpload(f *testing.F) {
	f.Add(makeTar(f, tarEntry{name: "a/b.txt", body: "hi"}, tarEntry{name: "a/l", typ: tar.TypeSymlink, link: "b.txt"}))
	f.Add(makeTar(f, tarEntry{name: "../x", body: "x"}))
	f.Add(makeTar(f, tarEntry{name: "e", typ: tar.TypeSymlink, link: "d/.."}, tarEntry{name: "d", typ: tar.TypeSymlink, link: "."}))
	f.Add(makeTar(f, tarEntry{name: "l", typ: tar.TypeSymlink, link: "out"}, tarEntry{name: "l/secret", body: "x"}))
	f.Add(makeTar(f, tarEntry{name: "h", typ: tar.TypeLink, link: "out"}, tarEntry{name: "h/x", body: "x"}))
	f.Add(makeTar(f, tarEntry{name: "d", typ: tar.TypeDir}, tarEntry{name: "d/../../y", body: "y"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := tempDir(t)
		dest := uploadSandbox(t, dir)
		before := treeOf(t, dir, dest)
		fsys, err := New(Config{MaxUploadBytes: 1 << 16, MaxUploadEntries: 64})
		if err != nil {
			t.Fatal(err)
		}
		fsys.Upload(context.Background(), dest, bytes.NewReader(data))
		if diff := cmp.Diff(treeOf(t, dir, dest), before); diff != "" {
			t.Fatalf("outside the destination (-got +want):\n%s", diff)
		}
		checkLinksInside(t, dest)
	})
}

// TestMeasure checks the lengths sent ahead of a file's content.
func TestMeasure(t *testing.T) {
	big := strings.Repeat("x", SmallFile+10)
	tests := []struct {
		name      string
		content   string
		size, max int64 // size is what stat reported
		wantLen   int64
		want      string
	}{
		{"exact", "hello", 5, 100, 5, "hello"},
		{"reports 0 (/proc)", "Linux version", 0, 100, 13, "Linux version"},
		{"reports 4096 (/sys)", "42\n", 4096, 100, 3, "42\n"},
		{"reports 0, holds more than max", "0123456789", 0, 4, -1, "0123456789"},
		{"big: its reported size", big, SmallFile + 10, 100, SmallFile + 10, big},
		{"big and grown: its reported size", big + "more", SmallFile + 10, 100, SmallFile + 10, big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, err := Measure(strings.NewReader(tt.content), tt.size, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantLen || string(got) != tt.want {
				t.Errorf("length %d, %d bytes; want %d, %d bytes", n, len(got), tt.wantLen, len(tt.want))
			}
		})
	}
}

// TestDownloadProcFile puts /proc/version, which reports 0 bytes, in a tar
// stream with its content.
func TestDownloadProcFile(t *testing.T) {
	want, err := os.ReadFile("/proc/version")
	if err != nil || len(want) == 0 {
		t.Skipf("no /proc/version here: %v", err)
	}
	var buf bytes.Buffer
	if err := newFS(t, Config{}).Download(context.Background(), "/proc/version", &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(tr)
	if err != nil || hdr.Name != "version" || string(got) != string(want) {
		t.Errorf("entry %q of %d bytes: %q (%v), want %q", hdr.Name, hdr.Size, got, err, want)
	}
}
