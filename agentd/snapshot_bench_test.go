package agentd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// benchTree makes a source tree like a mid-sized repository: 3000 files of
// 50 MB in all, in 100 directories two levels deep. It returns the files.
func benchTree(b *testing.B) (string, []string) {
	b.Helper()
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const files, total = 3000, 50 << 20
	buf := make([]byte, 2*total/files)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	var paths []string
	for i := range files {
		p := filepath.Join(root, fmt.Sprintf("pkg%02d/sub%d/file%04d.go", i%10, i%100/10, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf[:rng.IntN(len(buf))], 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	return root, paths
}

// drain reads a snapshot stream to its end and returns its trailer and the
// bytes it carried.
func drain(b *testing.B, rc io.ReadCloser) (agentapi.SnapshotTrailer, int64) {
	b.Helper()
	defer rc.Close()
	var tr agentapi.SnapshotTrailer
	var n int64
	r := tar.NewReader(rc)
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			return tr, n
		}
		if err != nil {
			b.Fatal(err)
		}
		if hdr.Name == agentapi.SnapshotTrailerName {
			if err := json.NewDecoder(r).Decode(&tr); err != nil {
				b.Fatal(err)
			}
			continue
		}
		m, _ := io.Copy(io.Discard, r)
		n += m
	}
}

func reportP50(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	}
}

// BenchmarkSnapshotIncremental: the checkpoint after a typical step, an
// edit of three files in the tree, through a real agent on its socket.
func BenchmarkSnapshotIncremental(b *testing.B) {
	root, paths := benchTree(b)
	c := socketAgent(b)
	ctx := context.Background()
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	rc, err := c.Snapshot(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	tr, _ := drain(b, rc)
	var took []time.Duration
	var sent, entries int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := range 3 {
			p := paths[(i*3+k*997)%len(paths)]
			if err := os.WriteFile(p, fmt.Appendf(nil, "package edit // step %d\n", i), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		req.Since = tr.Generation
		rc, err := c.Snapshot(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		tr, n = drain(b, rc)
		took = append(took, time.Since(start))
		if tr.Full {
			b.Fatal("an incremental snapshot came back full")
		}
		sent += n
		entries += int64(tr.Files)
	}
	b.StopTimer()
	reportP50(b, took)
	b.ReportMetric(float64(entries)/float64(len(took)), "entries/op")
	b.ReportMetric(float64(sent)/float64(len(took)), "content-B/op")
}

// BenchmarkSnapshotFull: the first checkpoint of a sandbox, or one after
// the agent restarted: the whole 50 MB tree.
func BenchmarkSnapshotFull(b *testing.B) {
	root, _ := benchTree(b)
	c := socketAgent(b)
	ctx := context.Background()
	var took []time.Duration
	b.SetBytes(50 << 20)
	for b.Loop() {
		start := time.Now()
		rc, err := c.Snapshot(ctx, agentapi.SnapshotRequest{Roots: []string{root}})
		if err != nil {
			b.Fatal(err)
		}
		if tr, _ := drain(b, rc); !tr.Full || tr.Files < 3000 {
			b.Fatalf("full snapshot: %+v", tr)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	reportP50(b, took)
}

// BenchmarkSnapshotUnchanged: the walk alone, when a step changed nothing.
func BenchmarkSnapshotUnchanged(b *testing.B) {
	root, _ := benchTree(b)
	c := socketAgent(b)
	ctx := context.Background()
	time.Sleep(racyWindow * 2)
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	rc, err := c.Snapshot(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	tr, _ := drain(b, rc)
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		req.Since = tr.Generation
		rc, err := c.Snapshot(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		tr, _ = drain(b, rc)
		took = append(took, time.Since(start))
		if tr.Files != 0 {
			b.Fatalf("unchanged tree: %d entries sent", tr.Files)
		}
	}
	b.StopTimer()
	reportP50(b, took)
}

// restoreOf turns a snapshot stream into a restore stream for roots.
func restoreOf(b *testing.B, snapshot io.Reader, roots []string) []byte {
	b.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeJSONEntry(tw, agentapi.RestoreHeaderName, agentapi.RestoreHeader{Roots: roots}); err != nil {
		b.Fatal(err)
	}
	tr := tar.NewReader(snapshot)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if hdr.Name == agentapi.SnapshotTrailerName {
			continue
		}
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	tw.Close()
	return buf.Bytes()
}

// BenchmarkRestoreStep: rewinding one step, three files written back, and
// the walk that makes the new generation.
func BenchmarkRestoreStep(b *testing.B) {
	benchRestore(b, 3, false)
}

// BenchmarkRestoreFull: the whole 50 MB tree written again over itself.
func BenchmarkRestoreFull(b *testing.B) {
	benchRestore(b, 0, false)
}

// BenchmarkRestoreFullEmpty: the whole 50 MB tree written into an empty
// folder, as into a new sandbox.
func BenchmarkRestoreFullEmpty(b *testing.B) {
	benchRestore(b, 0, true)
}

func benchRestore(b *testing.B, files int, empty bool) {
	root, paths := benchTree(b)
	c := socketAgent(b)
	ctx := context.Background()
	req := agentapi.SnapshotRequest{Roots: []string{root}}
	if files > 0 {
		req.Paths = paths[:files]
		req.Roots = nil
	}
	rc, err := c.Snapshot(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	stream := restoreOf(b, rc, []string{root})
	rc.Close()
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		if empty {
			// Moved aside rather than removed: freeing 50 MB costs the
			// file system more than writing it, and would weigh on the
			// restore that follows.
			if err := os.Rename(root, fmt.Sprintf("%s.%d", root, i)); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		res, err := c.Restore(ctx, bytes.NewReader(stream))
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		if files > 0 && res.Files != files {
			b.Fatalf("restored %d entries, want %d", res.Files, files)
		}
	}
	b.StopTimer()
	reportP50(b, took)
}
