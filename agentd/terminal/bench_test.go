package terminal

import (
	"context"
	"testing"
)

// BenchmarkPTYThroughput: `head -c 200M /dev/zero | base64` through the pty
// into a streaming consumer, without HTTP. Reports MB/s.
func BenchmarkPTYThroughput(b *testing.B) {
	term, err := New("bench", Options{Dir: b.TempDir(), OutputDir: b.TempDir(), UID: -1, GID: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer term.Close()
	var total int64
	for b.Loop() {
		res, err := term.Exec(context.Background(), Request{Command: "head -c 200M /dev/zero | base64 -w0", OnOutput: func(p []byte) { total += int64(len(p)) }})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
}
