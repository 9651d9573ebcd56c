package agentapitest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
)

func readSnapshot(t *testing.T, f *Files, req agentapi.SnapshotRequest) (map[string]string, agentapi.SnapshotTrailer) {
	t.Helper()
	rc, err := f.Snapshot(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]string{}
	var tr agentapi.SnapshotTrailer
	r := tar.NewReader(rc)
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			return got, tr
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		if hdr.Name == agentapi.SnapshotTrailerName {
			json.Unmarshal(data, &tr)
			continue
		}
		got[hdr.Name] = string(data) + hdr.Linkname
	}
}

func TestFilesSnapshotAndRestore(t *testing.T) {
	f := NewFiles()
	f.Put("/w/a", "a")
	f.Put("/w/b", "b")
	f.Put("/w/skip/x", "x")
	f.Put("/elsewhere", "e")
	req := agentapi.SnapshotRequest{Roots: []string{"/w"}, Exclude: []string{"/w/skip"}}
	got, tr := readSnapshot(t, f, req)
	if diff := cmp.Diff(got, map[string]string{"/w/a": "a", "/w/b": "b"}); diff != "" || !tr.Full {
		t.Fatalf("full (-got +want):\n%s", diff)
	}
	first := tr.Generation
	f.Put("/w/a", "A")
	f.Link("/w/l", "a")
	f.mu.Lock()
	delete(f.files, "/w/b")
	f.mu.Unlock()
	req.Since = first
	got, tr = readSnapshot(t, f, req)
	if diff := cmp.Diff(got, map[string]string{"/w/a": "A", "/w/l": "a"}); diff != "" || tr.Full || !cmp.Equal(tr.Deleted, []string{"/w/b"}) {
		t.Fatalf("incremental (-got +want):\n%s\ntrailer %+v", diff, tr)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h, _ := json.Marshal(agentapi.RestoreHeader{Roots: []string{"/w"}, Exclude: []string{"/w/skip"}, Delete: []string{"/w/l"}})
	tw.WriteHeader(&tar.Header{Name: agentapi.RestoreHeaderName, Typeflag: tar.TypeReg, Size: int64(len(h))})
	tw.Write(h)
	for name, content := range map[string]string{"/w/a": "a", "/w/b": "b"} {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(content))})
		io.WriteString(tw, content)
	}
	tw.Close()
	res, err := f.Restore(context.Background(), bytes.NewReader(buf.Bytes()))
	if err != nil || res.Files != 2 || res.Deleted != 1 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	req.Since = res.Generation
	if got, tr := readSnapshot(t, f, req); len(got) != 0 || len(tr.Deleted) != 0 {
		t.Errorf("since the restore: %v, deleted %v", got, tr.Deleted)
	}

	buf.Reset()
	tw = tar.NewWriter(&buf)
	h, _ = json.Marshal(agentapi.RestoreHeader{Roots: []string{"/w"}})
	tw.WriteHeader(&tar.Header{Name: agentapi.RestoreHeaderName, Typeflag: tar.TypeReg, Size: int64(len(h))})
	tw.Write(h)
	tw.WriteHeader(&tar.Header{Name: "/w/../elsewhere", Typeflag: tar.TypeReg, Size: 1})
	tw.Write([]byte("!"))
	tw.Close()
	if _, err := f.Restore(context.Background(), &buf); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("restore with ..: %v, want 400", err)
	}
	if content, _ := f.ReadFile(context.Background(), "/elsewhere", 0, -1); content.Content != "e" {
		t.Errorf("/elsewhere: %q", content.Content)
	}
}
