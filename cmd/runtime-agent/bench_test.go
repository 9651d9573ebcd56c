package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gohands/gohands/agentd"
)

// startAgentTCP runs the built binary on a loopback port and waits for it.
func startAgentTCP(b *testing.B) (*agentd.Client, int) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	cmd := exec.Command(agentBin, "--listen", "tcp://"+addr, "--workdir", filepath.Join(dir, "w"), "--output-dir", filepath.Join(dir, "o"))
	cmd.Env = append(os.Environ(), TokenEnv+"=bench")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := agentd.NewClient("http://"+addr, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for c.Health(ctx) != nil {
		if ctx.Err() != nil {
			b.Fatal("agent did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c, cmd.Process.Pid
}

// BenchmarkEchoRoundTrip: `echo hi` through the agent's API on loopback.
// Reports p50 and p99 in microseconds.
func BenchmarkEchoRoundTrip(b *testing.B) {
	c, _ := startAgentTCP(b)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "main", agentd.ExecRequest{Command: "true"}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		res, err := c.Exec(ctx, "main", agentd.ExecRequest{Command: "echo hi"})
		lat = append(lat, time.Since(t0))
		if err != nil || res.Output != "hi" {
			b.Fatalf("%+v %v", res, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkStreamThroughput streams 200 MB of base64 through the agent's
// pty and API, and through a bare pseudo-terminal read by a minimal Go reader
// (the floor this kernel allows), in the same run. "lines" is plain base64,
// which a tty makes write one 77-byte line per syscall; "w0" is base64 -w0,
// which writes in blocks. Reports MB/s of output received.
func BenchmarkStreamThroughput(b *testing.B) {
	for _, tc := range []struct{ name, cmd string }{
		{"lines", "head -c 200M /dev/zero | base64"},
		{"w0", "head -c 200M /dev/zero | base64 -w0"},
	} {
		b.Run(tc.name+"/bare-pty", func(b *testing.B) {
			var total int64
			for b.Loop() {
				total += barePTY(b, tc.cmd)
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
		b.Run(tc.name+"/agent", func(b *testing.B) {
			c, _ := startAgentTCP(b)
			ctx := context.Background()
			var total int64
			b.ResetTimer()
			for b.Loop() {
				var n int64
				res, err := c.ExecStream(ctx, "main", agentd.ExecRequest{Command: tc.cmd, Timeout: 60}, func(s string) { n += int64(len(s)) })
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("%+v %v", res, err)
				}
				if n < 200_000_000 {
					b.Fatalf("received %d bytes, want all of it", n)
				}
				total += n
			}
			b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}

// barePTY runs cmd on a new pty and reads it to the end.
func barePTY(b *testing.B, cmd string) int64 {
	ptmx, err := pty.Start(exec.Command("sh", "-c", cmd))
	if err != nil {
		b.Fatal(err)
	}
	defer ptmx.Close()
	n, _ := io.Copy(io.Discard, ptmx)
	if n < 200_000_000 {
		b.Fatalf("bare pty read %d bytes", n)
	}
	return n
}

// BenchmarkIdleMemory: resident memory of an idle agent with one terminal
// (the agent process only, not its shell).
func BenchmarkIdleMemory(b *testing.B) {
	for b.Loop() {
		c, pid := startAgentTCP(b)
		if _, err := c.Exec(context.Background(), "main", agentd.ExecRequest{Command: "echo ready"}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		kb, err := rssKiB(pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(kb)/1024, "RSS-MiB")
	}
}

func rssKiB(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
