package agentd

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd/files"
)

func ptr[T any](v T) *T { return &v }

func TestFileRoutes(t *testing.T) {
	_, c := newTestServer(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "deep", "a.txt")

	if _, err := c.WriteFile(ctx(t), p, "one\ntwo\nthree\n"); err != nil {
		t.Fatalf("write with missing parents: %v", err)
	}
	text, err := c.ReadFile(ctx(t), p, 2, 3)
	if err != nil || text.Content != "two\nthree\n" || text.TotalLines != 3 {
		t.Fatalf("read 2-3: %+v, %v", text, err)
	}
	if _, err := c.ReadFile(ctx(t), filepath.Join(dir, "missing"), 0, -1); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("missing: %v, want 404", err)
	}
	if _, err := c.ReadFile(ctx(t), "relative.txt", 0, -1); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("relative path: %v, want 400", err)
	}
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, []byte{0, 1, 2, 0}, 0o644)
	if _, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "view", Path: bin}); agentapi.StatusOf(err) != http.StatusUnsupportedMediaType {
		t.Fatalf("view binary: %v, want 415", err)
	}

	// Editor commands through the API.
	res, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "str_replace", Path: p, OldStr: ptr("two"), NewStr: ptr("TWO")})
	if err != nil || !strings.Contains(res.Output, "TWO") {
		t.Fatalf("str_replace: %+v, %v", res, err)
	}
	os.WriteFile(p, []byte("x\nx\n"), 0o644)
	_, err = c.Edit(ctx(t), agentapi.EditRequest{Command: "str_replace", Path: p, OldStr: ptr("x"), NewStr: ptr("y")})
	if agentapi.StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "[1, 2]") {
		t.Fatalf("ambiguous str_replace: %v, want 409 naming lines 1 and 2", err)
	}
	if _, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "create", Path: p, FileText: ptr("z")}); agentapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("create over a file: %v, want 409", err)
	}
	if _, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "insert", Path: p, InsertLine: ptr(0), NewStr: ptr("top")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "undo_edit", Path: p}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "x\nx\n" {
		t.Fatalf("after undo: %q", got)
	}
	view, err := c.Edit(ctx(t), agentapi.EditRequest{Command: "view", Path: dir})
	if err != nil || !strings.Contains(view.Output, "deep") {
		t.Fatalf("view dir: %+v, %v", view, err)
	}

	// Search.
	g, err := c.Glob(ctx(t), agentapi.GlobRequest{Pattern: "**/*.txt", Dir: dir})
	if err != nil || len(g.Files) != 1 {
		t.Fatalf("glob: %+v, %v", g, err)
	}
	m, err := c.Grep(ctx(t), agentapi.GrepRequest{Pattern: "^x$", Path: dir})
	if err != nil || len(m.Matches) != 2 {
		t.Fatalf("grep: %+v, %v", m, err)
	}
	if _, err := c.Grep(ctx(t), agentapi.GrepRequest{Pattern: "(", Path: dir}); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("bad regexp: %v, want 400", err)
	}
	l, err := c.ListFiles(ctx(t), dir, 2)
	if err != nil || len(l.Entries) != 3 {
		t.Fatalf("list: %+v, %v", l, err)
	}
}

func TestUploadDownloadTree(t *testing.T) {
	_, c := newTestServer(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f.txt"), []byte("hello"), 0o644)
	os.Symlink("b/f.txt", filepath.Join(src, "a", "link"))

	rc, _, err := c.Download(ctx(t), src, false)
	if err != nil {
		t.Fatal(err)
	}
	archive, _ := io.ReadAll(rc)
	rc.Close()
	dst := t.TempDir()
	if _, err := c.UploadTar(ctx(t), dst, bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, filepath.Base(src), "a", "link")); err != nil || string(got) != "hello" {
		t.Fatalf("tree round trip: %q, %v", got, err)
	}

	// A single file, both ways.
	one := filepath.Join(dst, "one.bin")
	if _, err := c.UploadFile(ctx(t), one, bytes.NewReader([]byte{0, 1, 2})); err != nil {
		t.Fatal(err)
	}
	rc, size, err := c.Download(ctx(t), one, false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, []byte{0, 1, 2}) || size != 3 {
		t.Fatalf("file download: %v, length %d", got, size)
	}

	// A tar that climbs out of its destination is refused.
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Name: "../escape.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	if _, err := c.UploadTar(ctx(t), dst, &evil); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Fatalf("escaping tar: %v, want 400", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape.txt")); err == nil {
		t.Fatal("escaping tar wrote outside its destination")
	}
}

// TestDownloadUnsizedFile downloads files whose stat size is not their
// content's: /proc/version reports 0 bytes, a /sys attribute 4096.
func TestDownloadUnsizedFile(t *testing.T) {
	_, c := newTestServer(t)
	for _, p := range []string{"/proc/version", "/sys/kernel/uevent_seqnum"} {
		want, err := os.ReadFile(p)
		if err != nil || len(want) == 0 {
			t.Logf("%s cannot be read here: %v", p, err)
			continue
		}
		rc, size, err := c.Download(ctx(t), p, false)
		if err != nil {
			t.Fatalf("download %s: %v", p, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("download %s: %v after %d bytes", p, err, len(got))
		}
		// A counter may move on between two reads; its first line is
		// enough to tell the content from nothing.
		line := func(b []byte) string { l, _, _ := bytes.Cut(b, []byte("\n")); return string(l) }
		if len(got) == 0 || line(got) != line(want) {
			t.Errorf("download %s: %d bytes starting %q, want %d starting %q", p, len(got), line(got), len(want), line(want))
		}
		if size >= 0 && size != int64(len(got)) {
			t.Errorf("download %s: length %d sent with %d bytes", p, size, len(got))
		}

		rc, _, err = c.Download(ctx(t), p, true)
		if err != nil {
			t.Fatalf("download %s as tar: %v", p, err)
		}
		tr := tar.NewReader(rc)
		hdr, err := tr.Next()
		if err != nil {
			rc.Close()
			t.Fatalf("download %s as tar: %v", p, err)
		}
		got, err = io.ReadAll(tr)
		rc.Close()
		if err != nil || len(got) == 0 || hdr.Size != int64(len(got)) || line(got) != line(want) {
			t.Errorf("download %s as tar: entry of %d bytes, %d read (%v) starting %q", p, hdr.Size, len(got), err, line(got))
		}
	}
}

// TestHugeWriteRefused writes one byte over the write limit, which is
// refused with 413, and the limit itself, which is written. The limit is
// made small: at the default (64 MiB) the race detector on a loaded
// machine took over a minute to encode and decode the body.
func TestHugeWriteRefused(t *testing.T) {
	const limit = 1 << 20
	fsys, err := files.New(files.Config{MaxWriteBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Token: testToken, WorkDir: t.TempDir(), UID: -1, GID: -1, OutputDir: t.TempDir(), Files: fsys})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c := agentapi.NewClient(hs.URL, testToken)
	big := filepath.Join(t.TempDir(), "big")
	if _, err := c.WriteFile(ctx(t), big, strings.Repeat("x", limit+1)); agentapi.StatusOf(err) != http.StatusRequestEntityTooLarge {
		t.Fatalf("write of %d bytes, the limit %d: %v, want 413", limit+1, limit, err)
	}
	if _, err := os.Stat(big); !os.IsNotExist(err) {
		t.Errorf("the refused write left %s: %v", big, err)
	}
	if _, err := c.WriteFile(ctx(t), big, strings.Repeat("x", limit)); err != nil {
		t.Fatalf("write of exactly the limit: %v", err)
	}
	if st, err := os.Stat(big); err != nil || st.Size() != limit {
		t.Errorf("the write of the limit: %v %v, want %d bytes", st, err, limit)
	}
}
