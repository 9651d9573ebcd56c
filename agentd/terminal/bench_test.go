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

// BenchmarkCommand: a short command, from Exec to its answer. The
// commands with a substitution are read by a bash -n first (see
// unclosedSubst): "plain" is their baseline.
func BenchmarkCommand(b *testing.B) {
	for _, bc := range []struct{ name, cmd string }{
		{"plain", "echo hi"},
		{"substitution", "echo $(echo hi)"},
		{"backquotes", "echo `echo hi`"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			term, err := New("bench", Options{Dir: b.TempDir(), OutputDir: b.TempDir(), UID: -1, GID: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer term.Close()
			for b.Loop() {
				res, err := term.Exec(context.Background(), Request{Command: bc.cmd})
				if err != nil || res.Output != "hi" {
					b.Fatal(res, err)
				}
			}
		})
	}
}
