package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gohands/gohands/sandbox"
)

// Connect returns a Docker engine client configured from the environment
// (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY)
// that negotiates the API version with the engine, so it works with API
// 1.41 (Debian's docker.io 20.10) and anything newer. It pings the engine
// once; an engine that does not answer gives an error wrapping ErrEngineDown.
// The caller closes the client.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, engineErr(cli, err)
	}
	cli.NegotiateAPIVersion(ctx)
	return cli, nil
}

// engineErr marks connection failures with ErrEngineDown and names the host.
func engineErr(engine client.APIClient, err error) error {
	if client.IsErrConnectionFailed(err) || isConnRefused(err) {
		return fmt.Errorf("%w at %s (is dockerd running? DOCKER_HOST is honoured): %w", sandbox.ErrEngineDown, engine.DaemonHost(), err)
	}
	return err
}

func isConnRefused(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such file or directory") && strings.Contains(s, ".sock")
}

// localEngine reports whether the engine runs on this host, so host paths
// can be bind-mounted and Unix sockets in them reached.
func localEngine(engine client.APIClient) bool {
	return strings.HasPrefix(engine.DaemonHost(), "unix://")
}

// lastLogs returns the last n lines of a container's output (stdout and
// stderr interleaved), best effort.
func lastLogs(ctx context.Context, engine client.APIClient, id string, n int) string {
	rc, err := engine.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n),
	})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	w := &limitWriter{w: &buf, n: 64 << 10}
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil && buf.Len() == 0 {
		return ""
	}
	return buf.String()
}

// crashScan is how many of a dead container's last log lines are searched
// for the line that says why the runtime-agent crashed: a Go crash prints
// it first, then a stack trace per goroutine and the registers.
const crashScan = 500

// crashLine finds the first line of a Go crash report in logs ("panic:
// ...", "fatal error: ...", or a fatal signal such as "SIGSEGV:
// segmentation violation"), or "".
func crashLine(logs string) string {
	for line := range strings.Lines(logs) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") || isSignalLine(line) {
			return line
		}
	}
	return ""
}

// isSignalLine matches the runtime's "SIGxxx: description" head line.
func isSignalLine(line string) bool {
	name, _, ok := strings.Cut(line, ": ")
	if !ok || len(name) < 5 || !strings.HasPrefix(name, "SIG") {
		return false
	}
	for _, r := range name[3:] {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	if n <= 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// limitWriter keeps the first n bytes and drops the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	q := p
	if len(q) > l.n {
		q = q[:l.n]
	}
	l.n -= len(q)
	if _, err := l.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}
