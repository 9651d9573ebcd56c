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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
)

// socketAgent serves a real agent on a Unix socket, bound to it for the
// handshake, and returns a client that verifies it.
func socketAgent(t testing.TB) *agentapi.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "agentd-ck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	binding, err := agentapi.SocketBinding(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Token: testToken, Binding: binding, WorkDir: dir, UID: -1, GID: -1, OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c := agentapi.NewUnixClient(sock, testToken)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// snap is a parsed snapshot stream.
type snap struct {
	names   []string               // entry names in order, the trailer left out
	headers map[string]*tar.Header // by cleaned name
	content map[string]string
	trailer agentapi.SnapshotTrailer
}

func takeSnapshot(t testing.TB, c *agentapi.Client, req agentapi.SnapshotRequest) snap {
	t.Helper()
	rc, err := c.Snapshot(context.Background(), req)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rc.Close()
	s, err := readSnap(rc)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

func readSnap(r io.Reader) (snap, error) {
	s := snap{headers: map[string]*tar.Header{}, content: map[string]string{}}
	tr := tar.NewReader(r)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return s, err
		}
		last = hdr.Name
		if hdr.Name == agentapi.SnapshotTrailerName {
			if err := json.Unmarshal(data, &s.trailer); err != nil {
				return s, err
			}
			continue
		}
		name := filepath.Clean(hdr.Name)
		s.names = append(s.names, name)
		s.headers[name] = hdr
		s.content[name] = string(data)
	}
	if last != agentapi.SnapshotTrailerName {
		return s, io.ErrUnexpectedEOF
	}
	return s, nil
}

func sorted(names []string) []string {
	out := append([]string(nil), names...)
	sort.Strings(out)
	return out
}

func mustWrite(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// settle waits out the timestamp tick, so files just written are not racy
// in the next snapshot (see racyWindow).
func settle() { time.Sleep(racyWindow + 5*time.Millisecond) }

func TestSnapshotFullThenIncremental(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/a.txt", "alpha")
	mustWrite(t, root+"/b.txt", "beta")
	mustWrite(t, root+"/sub/c.txt", "gamma")
	os.Chmod(root+"/b.txt", 0o750)
	if err := os.Symlink("a.txt", root+"/link"); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	mustWrite(t, outside+"/secret", "not in the tree")
	os.Symlink(outside, root+"/sub/out") // sent as a symlink, never walked into
	settle()
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	full := takeSnapshot(t, c, req)
	if !full.trailer.Full || full.trailer.Generation == "" || len(full.trailer.Deleted) != 0 {
		t.Fatalf("first snapshot trailer: %+v, want full with a generation", full.trailer)
	}
	want := []string{root, root + "/a.txt", root + "/b.txt", root + "/link", root + "/sub", root + "/sub/c.txt", root + "/sub/out"}
	if diff := cmp.Diff(full.names, want); diff != "" {
		t.Fatalf("full snapshot entries, parents first (-got +want):\n%s", diff)
	}
	if full.trailer.Files != 7 || full.trailer.Bytes != int64(len("alpha")+len("beta")+len("gamma")) {
		t.Errorf("trailer counts: %+v", full.trailer)
	}
	if h := full.headers[root+"/b.txt"]; full.content[root+"/b.txt"] != "beta" || h.Mode != 0o750 || h.Typeflag != tar.TypeReg {
		t.Errorf("b.txt: %q mode %o type %c", full.content[root+"/b.txt"], h.Mode, h.Typeflag)
	}
	if h := full.headers[root+"/link"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "a.txt" {
		t.Errorf("link: type %c target %q", h.Typeflag, h.Linkname)
	}
	if h := full.headers[root+"/sub"]; h.Typeflag != tar.TypeDir {
		t.Errorf("sub: type %c, want a directory", h.Typeflag)
	}
	fi, _ := os.Stat(root + "/a.txt")
	if got := full.headers[root+"/a.txt"].ModTime; !got.Equal(fi.ModTime()) {
		t.Errorf("a.txt mtime %v, want %v to the nanosecond", got, fi.ModTime())
	}

	// Edit one file (same size), add one, delete one.
	mustWrite(t, root+"/a.txt", "ALPHA")
	mustWrite(t, root+"/new.txt", "fresh")
	os.Remove(root + "/sub/c.txt")
	settle()
	req.Since = full.trailer.Generation
	inc := takeSnapshot(t, c, req)
	if inc.trailer.Full || inc.trailer.Generation == full.trailer.Generation {
		t.Fatalf("incremental trailer: %+v", inc.trailer)
	}
	if diff := cmp.Diff(sorted(inc.names), []string{root + "/a.txt", root + "/new.txt"}); diff != "" {
		t.Errorf("incremental entries (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(inc.trailer.Deleted, []string{root + "/sub/c.txt"}); diff != "" {
		t.Errorf("deleted (-got +want):\n%s", diff)
	}
	if inc.content[root+"/a.txt"] != "ALPHA" || inc.trailer.Files != 2 || inc.trailer.Bytes != 10 {
		t.Errorf("incremental: a.txt %q, trailer %+v", inc.content[root+"/a.txt"], inc.trailer)
	}

	// Nothing changed: nothing sent. A chmod alone is a change.
	req.Since = inc.trailer.Generation
	none := takeSnapshot(t, c, req)
	if len(none.names) != 0 || len(none.trailer.Deleted) != 0 {
		t.Errorf("snapshot of an unchanged tree: %v, deleted %v", none.names, none.trailer.Deleted)
	}
	os.Chmod(root+"/new.txt", 0o600)
	settle()
	req.Since = none.trailer.Generation
	chmod := takeSnapshot(t, c, req)
	if diff := cmp.Diff(chmod.names, []string{root + "/new.txt"}); diff != "" || chmod.headers[root+"/new.txt"].Mode != 0o600 {
		t.Errorf("after chmod (-got +want):\n%s", diff)
	}

	// A whole directory removed lists everything it held.
	mustWrite(t, root+"/gone/x", "x")
	mustWrite(t, root+"/gone/y/z", "z")
	settle()
	req.Since = chmod.trailer.Generation
	added := takeSnapshot(t, c, req)
	os.RemoveAll(root + "/gone")
	req.Since = added.trailer.Generation
	removed := takeSnapshot(t, c, req)
	if diff := cmp.Diff(removed.trailer.Deleted, []string{root + "/gone", root + "/gone/x", root + "/gone/y", root + "/gone/y/z"}); diff != "" {
		t.Errorf("deleted tree (-got +want):\n%s", diff)
	}
}

func TestSnapshotSinceUnknownIsFull(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/a", "a")
	s := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}, Since: "restarted-7"})
	if !s.trailer.Full || len(s.names) != 2 {
		t.Fatalf("unknown since: full %v, entries %v; want a full snapshot", s.trailer.Full, s.names)
	}
	// Another agent (a restart) knows none of this one's generations.
	other := socketAgent(t)
	s2 := takeSnapshot(t, other, agentapi.SnapshotRequest{Roots: []string{root}, Since: s.trailer.Generation})
	if !s2.trailer.Full || len(s2.names) != 2 || s2.trailer.Generation == s.trailer.Generation {
		t.Fatalf("since another agent's generation: %+v %v", s2.trailer, s2.names)
	}
}

func TestSnapshotGenerationsAreBounded(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/a", "a")
	settle()
	var gens []string
	for range maxGenerations + 1 {
		gens = append(gens, takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}}).trailer.Generation)
	}
	if s := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}, Since: gens[0]}); !s.trailer.Full {
		t.Errorf("since a generation %d snapshots old: not full; the agent keeps at most %d", maxGenerations+1, maxGenerations)
	}
	if s := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}, Since: gens[len(gens)-1]}); s.trailer.Full || len(s.names) != 0 {
		t.Errorf("since the newest generation: full %v, entries %v", s.trailer.Full, s.names)
	}
}

func TestSnapshotExcludeAndPaths(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	other := t.TempDir()
	mustWrite(t, root+"/keep/a", "a")
	mustWrite(t, root+"/skip/b", "b")
	mustWrite(t, root+"/skipper", "c") // shares a prefix with skip, not a path
	mustWrite(t, other+"/single/deep", "d")
	settle()
	req := agentapi.SnapshotRequest{
		Roots:   []string{root},
		Paths:   []string{other + "/single", other + "/missing"},
		Exclude: []string{root + "/skip"},
	}
	s := takeSnapshot(t, c, req)
	want := []string{root, root + "/keep", root + "/keep/a", root + "/skipper", other + "/single"}
	if diff := cmp.Diff(s.names, want); diff != "" {
		t.Errorf("entries (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(s.trailer.Deleted, []string{other + "/missing"}); diff != "" {
		t.Errorf("a requested path that does not exist is listed deleted (-got +want):\n%s", diff)
	}
	settle()
	req.Since = s.trailer.Generation
	if s2 := takeSnapshot(t, c, req); len(s2.names) != 0 || len(s2.trailer.Deleted) != 0 {
		t.Errorf("again: %v, deleted %v; a path still missing is not news", s2.names, s2.trailer.Deleted)
	}
}

func TestSnapshotMaxBytes(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/big", string(bytes.Repeat([]byte("x"), 5000)))
	settle()
	_, err := c.Snapshot(context.Background(), agentapi.SnapshotRequest{Roots: []string{root}, MaxBytes: 4999})
	if agentapi.StatusOf(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("over max_bytes: %v, want 413", err)
	}
	s := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}, MaxBytes: 5000})
	if s.trailer.Bytes != 5000 || s.trailer.Truncated {
		t.Fatalf("at max_bytes: %+v", s.trailer)
	}
	mustWrite(t, root+"/more", "more")
	_, err = c.Snapshot(context.Background(), agentapi.SnapshotRequest{Roots: []string{root}, Since: s.trailer.Generation, MaxBytes: 1})
	if agentapi.StatusOf(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("incremental over max_bytes: %v, want 413", err)
	}
	// The refused snapshot kept no generation and moved nothing.
	inc := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{root}, Since: s.trailer.Generation, MaxBytes: 4})
	if diff := cmp.Diff(inc.names, []string{root + "/more"}); diff != "" || inc.trailer.Full {
		t.Errorf("incremental within max_bytes (-got +want):\n%s", diff)
	}
}

func TestSnapshotBadRequests(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(root, link)
	tests := []struct {
		name string
		req  agentapi.SnapshotRequest
		want int
	}{
		{"no roots", agentapi.SnapshotRequest{}, http.StatusUnprocessableEntity},
		{"relative root", agentapi.SnapshotRequest{Roots: []string{"work"}}, http.StatusBadRequest},
		{"unclean root", agentapi.SnapshotRequest{Roots: []string{root + "/../x"}}, http.StatusBadRequest},
		{"negative max", agentapi.SnapshotRequest{Roots: []string{root}, MaxBytes: -1}, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Snapshot(context.Background(), tt.req)
			if got := agentapi.StatusOf(err); got != tt.want {
				t.Errorf("status %d (%v), want %d", got, err, tt.want)
			}
		})
	}
	// A root that is itself a symlink is recorded as one, not followed; one
	// reached only through a symlink is not there.
	mustWrite(t, root+"/x", "x")
	s := takeSnapshot(t, c, agentapi.SnapshotRequest{Roots: []string{link, link + "/x"}})
	if diff := cmp.Diff(s.names, []string{link}); diff != "" || s.headers[link].Typeflag != tar.TypeSymlink {
		t.Errorf("symlink root (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(s.trailer.Deleted, []string{link + "/x"}); diff != "" {
		t.Errorf("a root through a symlink (-got +want):\n%s", diff)
	}
}

// TestSnapshotSeesQuickAndHiddenEdits: an edit right after a snapshot,
// within the timestamp tick, and an edit that puts the old mtime back, are
// both sent.
func TestSnapshotSeesQuickAndHiddenEdits(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	mustWrite(t, root+"/quick", "one")
	mustWrite(t, root+"/hidden", "one")
	settle()
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	s := takeSnapshot(t, c, req)
	fi, _ := os.Stat(root + "/hidden")
	mustWrite(t, root+"/hidden", "two")
	os.Chtimes(root+"/hidden", fi.ModTime(), fi.ModTime())
	for i := range 3 {
		mustWrite(t, root+"/quick", []string{"two", "six", "ten"}[i])
		req.Since = s.trailer.Generation
		s = takeSnapshot(t, c, req)
		if s.content[root+"/quick"] != []string{"two", "six", "ten"}[i] {
			t.Fatalf("edit %d right after a snapshot: sent %v", i, s.names)
		}
		if i == 0 && s.content[root+"/hidden"] != "two" {
			t.Errorf("an edit that kept size and mtime: sent %v", s.names)
		}
	}
}

// TestSnapshotsWhileFilesChange: snapshots taken while a process edits,
// adds, removes and swaps files are all whole streams, and folded
// together they end equal to the tree once it is still.
func TestSnapshotsWhileFilesChange(t *testing.T) {
	t.Parallel()
	c := socketAgent(t)
	root := t.TempDir()
	for i := range 50 {
		mustWrite(t, fmt.Sprintf("%s/d%d/f%d", root, i%5, i), "start")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	halt := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(halt)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := fmt.Sprintf("%s/d%d/f%d", root, i%5, i%50)
			switch i % 4 {
			case 0:
				os.WriteFile(p, []byte(strings.Repeat("x", i%300)), 0o644)
			case 1:
				os.Remove(p)
			case 2:
				os.RemoveAll(p)
				os.MkdirAll(p+"/inner", 0o755)
				os.WriteFile(p+"/inner/g", []byte("g"), 0o644)
			case 3:
				os.RemoveAll(p)
				os.Symlink("../elsewhere", p)
			}
		}
	}()
	state := map[string]string{}
	fold := func(s snap) {
		if s.trailer.Full {
			clear(state)
		}
		for _, p := range s.trailer.Deleted {
			delete(state, p)
		}
		for _, p := range s.names {
			h := s.headers[p]
			state[p] = fmt.Sprintf("%c %o %s%s", h.Typeflag, h.Mode, h.Linkname, s.content[p])
		}
	}
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	for range 20 {
		s := takeSnapshot(t, c, req)
		fold(s)
		req.Since = s.trailer.Generation
	}
	halt()
	settle()
	fold(takeSnapshot(t, c, req))

	want := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		switch {
		case d.IsDir():
			want[p] = fmt.Sprintf("%c %o ", tar.TypeDir, fi.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			want[p] = fmt.Sprintf("%c %o %s", tar.TypeSymlink, fi.Mode().Perm(), target)
		default:
			data, _ := os.ReadFile(p)
			want[p] = fmt.Sprintf("%c %o %s", tar.TypeReg, fi.Mode().Perm(), data)
		}
		return nil
	})
	if diff := cmp.Diff(state, want); diff != "" {
		t.Errorf("folded snapshots against the tree (-got +want):\n%s", diff)
	}
}

// TestSnapshotFileGrowsPastMaxBytes: a file that grows between the walk and
// its sending, past MaxBytes, stops the stream (the trailer then says
// Truncated); within it, its new size is sent, and it is sent again next
// time.
func TestSnapshotFileGrowsPastMaxBytes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mustWrite(t, root+"/f", "0123456789")
	d := newDirs()
	defer d.close()
	wk := newWalker(d, nil, nil)
	if err := wk.root(root); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, root+"/f", "0123456789 and more")
	var buf bytes.Buffer
	s := &sender{tw: tar.NewWriter(&buf), dirs: d, wk: wk, max: 15}
	if err := s.send(root + "/f"); !errors.Is(err, errOverBudget) {
		t.Fatalf("send of a file grown past max_bytes: %v, want errOverBudget", err)
	}

	wk = newWalker(d, nil, nil)
	if err := wk.root(root); err != nil {
		t.Fatal(err)
	}
	s = &sender{tw: tar.NewWriter(&buf), dirs: d, wk: wk}
	if err := s.send(root + "/f"); err != nil || s.bytes != 19 {
		t.Fatalf("send: %v, %d bytes", err, s.bytes)
	}
	if !wk.cur[root+"/f"].racy {
		t.Errorf("a file sent right after it changed is not marked to be sent again")
	}
}
