package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/gohands/gohands/agentapi"
	"golang.org/x/sys/unix"
)

// startAgentTCP runs the built binary on a loopback port and waits for it.
func startAgentTCP(b *testing.B) (*agentapi.Client, int) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := b.TempDir()
	cmd := exec.Command(agentBin, "--listen", "tcp://"+addr, "--workdir", filepath.Join(dir, "w"), "--output-dir", filepath.Join(dir, "o"))
	cmd.Env = append(os.Environ(), agentapi.TokenEnv+"=bench")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := agentapi.NewClient("http://"+addr, "bench")
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

// BenchmarkEchoRoundTrip: `echo hi` through the agent's API on loopback,
// sample by sample against the loopback floor: a bare net/http server in
// this process answering a small JSON body over a kept-alive connection.
// Reports p50 and p99 in microseconds, the floor's p50, and the ratio of
// the two p50s.
func BenchmarkEchoRoundTrip(b *testing.B) {
	c, _ := startAgentTCP(b)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "main", agentapi.ExecRequest{Command: "true"}); err != nil {
		b.Fatal(err)
	}
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"output":"hi","exit_code":0}`)
	}))
	defer floor.Close()
	echo := func() {
		resp, err := floor.Client().Post(floor.URL, "application/json", strings.NewReader(`{"command":"echo hi"}`))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	echo()
	lat := make([]time.Duration, 0, b.N)
	base := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		res, err := c.Exec(ctx, "main", agentapi.ExecRequest{Command: "echo hi"})
		lat = append(lat, time.Since(t0))
		if err != nil || res.Output != "hi" {
			b.Fatalf("%+v %v", res, err)
		}
		t0 = time.Now()
		echo()
		base = append(base, time.Since(t0))
	}
	slices.Sort(lat)
	slices.Sort(base)
	p50, floor50 := lat[len(lat)/2], base[len(base)/2]
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(floor50.Microseconds()), "loopback-p50-µs")
	b.ReportMetric(float64(p50)/float64(floor50), "x-loopback")
}

// BenchmarkStreamThroughput streams 200 MB of base64 through the agent's
// pty and API, and through a bare pseudo-terminal with the agent's settings
// read by a minimal Go reader (the floor this kernel allows), one after the
// other in each round. "lines" is plain base64, which a tty makes write one
// 77-byte line per syscall; "w0" is base64 -w0, which writes in blocks.
// Reports the agent's MB/s of output received, the floor's, and their ratio.
func BenchmarkStreamThroughput(b *testing.B) {
	for _, tc := range []struct{ name, cmd string }{
		{"lines", "head -c 200M /dev/zero | base64"},
		{"w0", "head -c 200M /dev/zero | base64 -w0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, _ := startAgentTCP(b)
			ctx := context.Background()
			var agentBytes, bareBytes int64
			var agentTime, bareTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				bareBytes += barePTY(b, tc.cmd)
				bareTime += time.Since(t0)

				t0 = time.Now()
				var n int64
				res, err := c.ExecStream(ctx, "main", agentapi.ExecRequest{Command: tc.cmd, Timeout: 60}, func(s string) { n += int64(len(s)) })
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("%+v %v", res, err)
				}
				if n < 200_000_000 {
					b.Fatalf("received %d bytes, want all of it", n)
				}
				agentBytes += n
				agentTime += time.Since(t0)
			}
			agent := float64(agentBytes) / 1e6 / agentTime.Seconds()
			bare := float64(bareBytes) / 1e6 / bareTime.Seconds()
			b.ReportMetric(agent, "MB/s")
			b.ReportMetric(bare, "bare-pty-MB/s")
			b.ReportMetric(agent/bare, "x-bare-pty")
		})
	}
}

// barePTY runs cmd on a new pty set up as the agent sets up its own (no
// echo, no output post-processing) and reads it to the end.
func barePTY(b *testing.B, cmd string) int64 {
	ptmx, tty, err := pty.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer ptmx.Close()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		b.Fatal(err)
	}
	tio.Lflag &^= unix.ECHO | unix.ECHONL
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, tio); err != nil {
		b.Fatal(err)
	}
	c := exec.Command("sh", "-c", cmd)
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	tty.Close()
	n, _ := io.Copy(io.Discard, ptmx)
	c.Wait()
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
		if _, err := c.Exec(context.Background(), "main", agentapi.ExecRequest{Command: "echo ready"}); err != nil {
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

// BenchmarkNewConnection: what the handshake adds to a call on a new
// connection. Over the agent's Unix socket, sample by sample, /health on a
// new connection of the Go client (open the socket file, connect, the
// handshake, the call) against /health on a new connection of a bare
// net/http client (connect, the call). Kept-alive connections, which carry
// nearly every call, pay nothing. Reports both p50s and their ratio.
func BenchmarkNewConnection(b *testing.B) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ctx := context.Background()
	start, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := startOnSocket(start, b, sock, "bench", exec.Command(agentBin, "--listen", "unix://"+sock, "--workdir", filepath.Join(dir, "w"), "--output-dir", filepath.Join(dir, "o")))
	bare := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	health := func() {
		resp, err := bare.Get("http://agent/health")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	lat := make([]time.Duration, 0, b.N)
	base := make([]time.Duration, 0, b.N)
	for b.Loop() {
		c.CloseIdleConnections()
		t0 := time.Now()
		if err := c.Health(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		bare.CloseIdleConnections()
		t0 = time.Now()
		health()
		base = append(base, time.Since(t0))
	}
	slices.Sort(lat)
	slices.Sort(base)
	p50, base50 := lat[len(lat)/2], base[len(base)/2]
	b.ReportMetric(float64(p50.Microseconds()), "verified-p50-µs")
	b.ReportMetric(float64(base50.Microseconds()), "bare-p50-µs")
	b.ReportMetric(float64(p50)/float64(base50), "x-bare")
}
