package agentd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
)

// entry is one entry of a restore stream made by a test.
type entry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	link     string
	uid, gid int
	mtime    time.Time
}

func restoreStream(t testing.TB, h agentapi.RestoreHeader, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data, _ := json.Marshal(h)
	tw.WriteHeader(&tar.Header{Name: agentapi.RestoreHeaderName, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Uid: e.uid, Gid: e.gid, ModTime: e.mtime, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &buf
}

func TestRestoreWritesAndDeletes(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("restoring owners needs root, as the agent runs in a sandbox")
	}
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/old.txt", "old")
	mustWrite(t, root+"/olddir/deep/x", "x")
	mustWrite(t, root+"/replace/child", "a directory where a file goes")
	mustWrite(t, root+"/f", "before, longer than after")
	os.Symlink("/etc", root+"/olddir/etc") // removing a tree never follows its symlinks

	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	h := agentapi.RestoreHeader{Roots: []string{root}, Delete: []string{root + "/old.txt", root + "/olddir", root + "/never-was"}}
	res, err := c.Restore(context.Background(), restoreStream(t, h,
		entry{name: root + "/sub/", typ: tar.TypeDir, mode: 0o750, uid: 1234, gid: 5678, mtime: mtime},
		entry{name: root + "/sub/a.txt", typ: tar.TypeReg, mode: 0o640, body: "alpha", uid: 1234, gid: 5678, mtime: mtime},
		entry{name: root + "/run.sh", typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\n", mtime: mtime},
		entry{name: root + "/f", typ: tar.TypeReg, mode: 0o600, body: "after", mtime: mtime},
		entry{name: root + "/replace", typ: tar.TypeReg, mode: 0o644, body: "now a file", mtime: mtime},
		entry{name: root + "/l", typ: tar.TypeSymlink, link: "sub/a.txt", mtime: mtime},
		entry{name: strings.TrimPrefix(root, "/") + "/rel/b", typ: tar.TypeReg, mode: 0o644, body: "b"}, // names read from "/"
	))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	want := agentapi.RestoreResult{Generation: res.Generation, Files: 7, Bytes: int64(len("alpha#!/bin/sh\nafternow a fileb")), Deleted: 2}
	if diff := cmp.Diff(res, want); diff != "" || res.Generation == "" {
		t.Errorf("result (-got +want):\n%s", diff)
	}
	for p, content := range map[string]string{"sub/a.txt": "alpha", "run.sh": "#!/bin/sh\n", "f": "after", "replace": "now a file", "rel/b": "b"} {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != content {
			t.Errorf("%s: %q, %v; want %q", p, got, err, content)
		}
	}
	for p, mode := range map[string]fs.FileMode{"sub": fs.ModeDir | 0o750, "sub/a.txt": 0o640, "run.sh": 0o755, "f": 0o600, "l": fs.ModeSymlink | 0o777} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode(), err, mode)
			continue
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), mtime)
		}
	}
	if st, _ := os.Lstat(root + "/sub/a.txt"); st.Sys().(*syscall.Stat_t).Uid != 1234 || st.Sys().(*syscall.Stat_t).Gid != 5678 {
		t.Errorf("sub/a.txt owner %d:%d, want 1234:5678", st.Sys().(*syscall.Stat_t).Uid, st.Sys().(*syscall.Stat_t).Gid)
	}
	if target, _ := os.Readlink(root + "/l"); target != "sub/a.txt" {
		t.Errorf("l -> %q", target)
	}
	for _, p := range []string{"old.txt", "olddir"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want deleted", p, err)
		}
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Errorf("removing a tree with a symlink to /etc: %v", err)
	}

	// The restored state is the new generation: a snapshot since it is
	// empty until something changes.
	req := agentapi.SnapshotRequest{Roots: []string{root}, Since: res.Generation}
	s := takeSnapshot(t, c, req)
	if len(s.names) != 0 || len(s.trailer.Deleted) != 0 || s.trailer.Full {
		t.Errorf("snapshot since the restore: %v, deleted %v, full %v; want empty", s.names, s.trailer.Deleted, s.trailer.Full)
	}
	mustWrite(t, root+"/sub/a.txt", "ALPHA")
	req.Since = s.trailer.Generation
	if s := takeSnapshot(t, c, req); !cmp.Equal(s.names, []string{root + "/sub/a.txt"}) {
		t.Errorf("after an edit: %v", s.names)
	}
}

// TestRestoreRefuses: entries and deletions outside the roots, or through a
// symlink the sandbox planted, are refused, and nothing outside changes.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	file := func(name string) entry { return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: "pwned"} }
	tests := []struct {
		name    string
		roots   func(root, link string) []string
		delete  func(root, outside string) []string
		entries func(root, outside string) []entry
		exclude func(root string) []string
	}{
		{name: "dot-dot entry", entries: func(root, outside string) []entry { return []entry{file("../x")} }},
		{name: "dot-dot inside an absolute entry", entries: func(root, outside string) []entry {
			return []entry{file(root + "/../" + filepath.Base(outside) + "/victim")}
		}},
		{name: "absolute entry outside the roots", entries: func(root, outside string) []entry { return []entry{file(outside + "/victim")} }},
		{name: "file through a planted symlink", entries: func(root, outside string) []entry { return []entry{file(root + "/evil/victim")} }},
		{name: "file through a planted symlink deeper", entries: func(root, outside string) []entry { return []entry{file(root + "/evil/new/x")} }},
		{name: "directory through a planted symlink", entries: func(root, outside string) []entry {
			return []entry{{name: root + "/evil/d/", typ: tar.TypeDir, mode: 0o755}}
		}},
		{name: "symlink made by the stream, then written through", entries: func(root, outside string) []entry {
			return []entry{{name: root + "/l", typ: tar.TypeSymlink, link: outside}, file(root + "/l/victim")}
		}},
		{name: "write in a root that is a symlink", roots: func(root, link string) []string { return []string{link} },
			entries: func(root, outside string) []entry { return []entry{file(filepath.Dir(root) + "/link/victim2")} }},
		{name: "deletion outside the roots", delete: func(root, outside string) []string { return []string{outside + "/victim"} }},
		{name: "deletion with dot-dot", delete: func(root, outside string) []string { return []string{root + "/../outside/victim"} }},
		{name: "deletion of a root", delete: func(root, outside string) []string { return []string{root} }},
		{name: "a bad deletion after a good one", delete: func(root, outside string) []string { return []string{root + "/keep", outside + "/victim"} }},
		{name: "excluded entry", exclude: func(root string) []string { return []string{root + "/agent"} },
			entries: func(root, outside string) []entry { return []entry{file(root + "/agent/x")} }},
		{name: "a root turned into a file", entries: func(root, outside string) []entry { return []entry{file(root)} }},
		{name: "hard link", entries: func(root, outside string) []entry {
			return []entry{{name: root + "/h", typ: tar.TypeLink, link: outside + "/victim"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := base+"/root", base+"/outside"
			mustWrite(t, outside+"/victim", "safe")
			mustWrite(t, root+"/keep", "keep")
			os.Symlink(outside, root+"/evil")
			os.Symlink(root, base+"/link")
			h := agentapi.RestoreHeader{Roots: []string{root}}
			if tt.roots != nil {
				h.Roots = tt.roots(root, base+"/link")
			}
			if tt.delete != nil {
				h.Delete = tt.delete(root, outside)
			}
			if tt.exclude != nil {
				h.Exclude = tt.exclude(root)
			}
			var entries []entry
			if tt.entries != nil {
				entries = tt.entries(root, outside)
			}
			_, err := c.Restore(context.Background(), restoreStream(t, h, entries...))
			if st := agentapi.StatusOf(err); st < 400 || st > 499 {
				t.Errorf("restore: %v, want a 4xx refusal", err)
			}
			got := map[string]string{}
			filepath.WalkDir(outside, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					data, _ := os.ReadFile(p)
					got[strings.TrimPrefix(p, outside)] = string(data)
				}
				return nil
			})
			if diff := cmp.Diff(got, map[string]string{"/victim": "safe"}); diff != "" {
				t.Errorf("outside the root (-got +want):\n%s", diff)
			}
			if data, err := os.ReadFile(root + "/keep"); string(data) != "keep" {
				t.Errorf("keep: %q, %v; a refused restore changed the tree", data, err)
			}
			if _, err := os.Stat(root + "/victim2"); err == nil {
				t.Errorf("wrote through a root that is a symlink")
			}
		})
	}
}

// TestRestoreDeleteThroughSymlink: a deletion whose parent is a planted
// symlink removes nothing outside.
func TestRestoreDeleteThroughSymlink(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	base := t.TempDir()
	root, outside := base+"/root", base+"/outside"
	mustWrite(t, outside+"/victim", "safe")
	os.MkdirAll(root, 0o755)
	os.Symlink(outside, root+"/evil")
	res, err := c.Restore(context.Background(), restoreStream(t, agentapi.RestoreHeader{Roots: []string{root}, Delete: []string{root + "/evil/victim"}}))
	if err != nil || res.Deleted != 0 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	if data, err := os.ReadFile(outside + "/victim"); err != nil || string(data) != "safe" {
		t.Errorf("victim: %q, %v", data, err)
	}
}

func TestRestoreBadStreams(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	var noHeader bytes.Buffer
	tw := tar.NewWriter(&noHeader)
	tw.WriteHeader(&tar.Header{Name: root + "/a", Typeflag: tar.TypeReg, Size: 1})
	tw.Write([]byte("a"))
	tw.Close()

	cut := restoreStream(t, agentapi.RestoreHeader{Roots: []string{root}}, entry{name: root + "/big", typ: tar.TypeReg, body: strings.Repeat("x", 4096)})
	cutBytes := cut.Bytes()[:cut.Len()-1024-2048]

	tests := []struct {
		name string
		body []byte
		want int
	}{
		{"not a tar", []byte("hello"), http.StatusBadRequest},
		{"no header first", noHeader.Bytes(), http.StatusBadRequest},
		{"no roots", restoreStream(t, agentapi.RestoreHeader{}).Bytes(), http.StatusUnprocessableEntity},
		{"relative root", restoreStream(t, agentapi.RestoreHeader{Roots: []string{"work"}}).Bytes(), http.StatusBadRequest},
		{"cut inside a file", cutBytes, http.StatusBadRequest},
		{"root whose parent is missing", restoreStream(t, agentapi.RestoreHeader{Roots: []string{root + "/no/such"}},
			entry{name: root + "/no/such/a", typ: tar.TypeReg, mode: 0o644, body: "a"}).Bytes(), http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Restore(context.Background(), bytes.NewReader(tt.body))
			if got := agentapi.StatusOf(err); got != tt.want {
				t.Errorf("status %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

func FuzzRestorePath(f *testing.F) {
	for _, s := range []string{"/a/b", "a/b", "../x", "/a/../b", "//a//b/", "/a/./b", "", "/", "a\x00b", "/a/..b", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := restorePath(name)
		if err != nil {
			return
		}
		if p == "" || p[0] != '/' || filepath.Clean(p) != p || containsNUL(p) {
			t.Fatalf("restorePath(%q) = %q: not a clean absolute path", name, p)
		}
		for _, c := range strings.Split(name, "/") {
			if c == ".." {
				t.Fatalf("restorePath(%q) = %q: a name with \"..\" passed", name, p)
			}
		}
	})
}

// TestRestoreRacingSymlinks: a sandbox process that keeps swapping a
// directory of the tree for a symlink to outside never gets a restore to
// write or delete there.
func TestRestoreRacingSymlinks(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	base := t.TempDir()
	root, outside := base+"/root", base+"/outside"
	mustWrite(t, outside+"/victim", "safe")
	mustWrite(t, outside+"/sub/victim", "safe")
	os.MkdirAll(root+"/d/sub", 0o755)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Rename(root+"/d", root+"/d.real")
			os.Symlink(outside, root+"/d")
			os.Remove(root + "/d")
			os.Rename(root+"/d.real", root+"/d")
		}
	}()
	var written, refused int
	for i := range 200 {
		h := agentapi.RestoreHeader{Roots: []string{root}, Delete: []string{root + "/d/sub/victim"}}
		_, err := c.Restore(context.Background(), restoreStream(t, h,
			entry{name: root + "/d/victim", typ: tar.TypeReg, mode: 0o644, body: fmt.Sprint("pwned ", i)},
			entry{name: root + "/d/sub/victim", typ: tar.TypeReg, mode: 0o644, body: "pwned"},
		))
		switch st := agentapi.StatusOf(err); {
		case err == nil:
			written++
		case st >= 400 && st < 500:
			refused++
		default:
			t.Fatalf("restore %d: %v", i, err)
		}
	}
	close(stop)
	<-done
	for _, p := range []string{"/victim", "/sub/victim"} {
		if data, err := os.ReadFile(outside + p); err != nil || string(data) != "safe" {
			t.Errorf("outside%s: %q, %v; want untouched", p, data, err)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 2 {
		t.Errorf("outside holds %d entries, want 2", len(entries))
	}
	t.Logf("%d restores written, %d refused", written, refused)
}

// TestRestoreRewritesInPlaceOnlyWhenSafe: a file is rewritten in place
// (same inode) only when it has no other hard link and keeps its mode and
// owner; else it is replaced, and a hard link elsewhere keeps its content.
func TestRestoreRewritesInPlaceOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	base := t.TempDir()
	root, outside := base+"/root", base+"/outside"
	mustWrite(t, outside+"/victim", "safe")
	mustWrite(t, root+"/same", "a longer old content")
	mustWrite(t, root+"/tighter", "old")
	if err := os.Link(outside+"/victim", root+"/hardlink"); err != nil {
		t.Fatal(err)
	}
	// Descriptors a sandbox process holds open across the restore.
	held := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	same, tighter := held(root+"/same"), held(root+"/tighter")
	uid, gid := os.Getuid(), os.Getgid()
	_, err := c.Restore(context.Background(), restoreStream(t, agentapi.RestoreHeader{Roots: []string{root}},
		entry{name: root + "/same", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, body: "new"},
		entry{name: root + "/tighter", typ: tar.TypeReg, mode: 0o600, uid: uid, gid: gid, body: "secret"},
		entry{name: root + "/hardlink", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, body: "pwned"},
	))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{root + "/same": "new", root + "/tighter": "secret", root + "/hardlink": "pwned", outside + "/victim": "safe"} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	if got, _ := io.ReadAll(same); string(got) != "new" {
		t.Errorf("same mode and owner: a descriptor held reads %q; the file was replaced, not rewritten in place", got)
	}
	if got, _ := io.ReadAll(tighter); string(got) != "old" {
		t.Errorf("a tighter mode: a descriptor held reads %q; the file was rewritten in place", got)
	}
}
