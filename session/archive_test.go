package session

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/gohands/gohands/agentapi"
)

// tarAgent serves one folder whose tar is made as it is read: a file of
// size zero bytes, and a small one.
type tarAgent struct{ size int64 }

func (a tarAgent) Stat(_ context.Context, p string) (agentapi.FileEntry, error) {
	return agentapi.FileEntry{Path: p, Type: agentapi.TypeDir, Real: p}, nil
}

func (a tarAgent) Run(context.Context, agentapi.RunRequest) (agentapi.RunResult, error) {
	return agentapi.RunResult{}, nil
}

func (a tarAgent) ListFiles(context.Context, string, int) (agentapi.Listing, error) {
	return agentapi.Listing{}, nil
}

func (a tarAgent) Download(_ context.Context, _ string, _ bool) (io.ReadCloser, int64, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Name: "big/", Typeflag: tar.TypeDir, Mode: 0o755})
		tw.WriteHeader(&tar.Header{Name: "big/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: a.size})
		io.CopyN(tw, zeros{}, a.size)
		tw.WriteHeader(&tar.Header{Name: "big/note.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		tw.Write([]byte("hello"))
		pw.CloseWithError(tw.Close())
	}()
	return pr, -1, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestArchiveStreams writes a folder of 256 MiB as tar.gz and as zip and
// checks the content and that what was allocated meanwhile is a small
// part of it: the archive is never held whole.
func TestArchiveStreams(t *testing.T) {
	const size = 256 << 20
	w := NewSandboxWorkspace(tarAgent{size: size}, "/workspace")
	for _, format := range []string{ArchiveTarGz, ArchiveZip} {
		t.Run(format, func(t *testing.T) {
			ar, err := w.Archive(t.Context(), "big", format)
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			if ar.Name != "big."+format {
				t.Errorf("name %q", ar.Name)
			}
			var out bytes.Buffer // compressed zeros are small
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := ar.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
				t.Errorf("%d bytes allocated for a %d-byte folder: the archive is held, not streamed", alloc, size)
			}
			if got := archivedNote(t, format, out.Bytes()); got != "hello" {
				t.Errorf("big/note.txt in the %s: %q", format, got)
			}
		})
	}
	if _, err := w.Archive(t.Context(), "big", "rar"); err == nil {
		t.Error("format rar: no error")
	}
}

func archivedNote(t *testing.T, format string, data []byte) string {
	t.Helper()
	if format == ArchiveZip {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := zr.Open("big/note.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		return string(b)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no big/note.txt: %v", err)
		}
		if h.Name == "big/note.txt" {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}
