package session

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
)

// TestRestoreHeaderRewrite: the store's restore tar gets the working
// folder as its root, the outside paths as single paths, no deletion
// outside the folder, and a fork's earlier folders mapped to its own.
func TestRestoreHeaderRewrite(t *testing.T) {
	var src bytes.Buffer
	tw := tar.NewWriter(&src)
	head, _ := json.Marshal(agentapi.RestoreHeader{Delete: []string{"/src/old.txt", "/home/u/untracked"}})
	tw.WriteHeader(&tar.Header{Name: agentapi.RestoreHeaderName, Typeflag: tar.TypeReg, Size: int64(len(head)), Mode: 0o600})
	tw.Write(head)
	for _, e := range []struct{ name, body string }{{"/src/a.txt", "A"}, {"/home/u/r.txt", "R"}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Size: int64(len(e.body)), Mode: 0o644})
		tw.Write([]byte(e.body))
	}
	tw.WriteHeader(&tar.Header{Name: "/src/link", Typeflag: tar.TypeSymlink, Linkname: "/src/a.txt"})
	tw.Close()

	h := restoreHeader{fm: folderMap{from: []string{"/src"}, to: "/src.fork-x"}, root: "/src.fork-x", paths: []string{"/home/u/r.txt"}}
	var out bytes.Buffer
	if err := h.rewrite(&out, &src); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	var names []string
	var got agentapi.RestoreHeader
	for {
		th, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if th.Name == agentapi.RestoreHeaderName {
			if err := json.NewDecoder(tr).Decode(&got); err != nil {
				t.Fatal(err)
			}
			continue
		}
		names = append(names, th.Name+">"+th.Linkname)
	}
	want := agentapi.RestoreHeader{Delete: []string{"/src.fork-x/old.txt"}, Roots: []string{"/src.fork-x"},
		Paths: []string{"/home/u/r.txt"}, Exclude: snapshotExclude}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("header (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(names, []string{"/src.fork-x/a.txt>", "/home/u/r.txt>", "/src.fork-x/link>/src.fork-x/a.txt"}); diff != "" {
		t.Errorf("entries (-got +want):\n%s", diff)
	}
}
