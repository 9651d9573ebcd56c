package docker

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// echoServer is a line echo server for the sandbox's loopback: it prints
// its port, then echoes one connection.
const echoServer = `import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
f = c.makefile("rwb")
for line in f:
    f.write(b"echo " + line); f.flush()
`

// TestProcessInContainer: a stdio program runs in a real sandbox as its
// user, in its workspace, started by the agent as PID 1 (whose reaper may
// collect the program first: the exit code still comes back); a dial
// reaches the sandbox's loopback, and with no network nothing else.
func TestProcessInContainer(t *testing.T) {
	needDocker(t)
	t.Parallel()
	m := newManager(t, nil)
	for _, network := range []string{"", sandbox.NetworkNone} {
		t.Run("network="+network, func(t *testing.T) {
			s := start(t, m, sandbox.Spec{Limits: sandbox.Limits{Network: network}})
			c, done, err := s.Use(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			ctx := testCtx(t)

			p, err := c.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"sh", "-c", `id -u; pwd; echo "$MCP_TOKEN" >&2; exec cat`}, Env: map[string]string{"MCP_TOKEN": "from-env"}})
			if err != nil {
				t.Fatal(err)
			}
			stream, err := c.AttachProcess(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stream)
			io.WriteString(stream, "ping\n")
			var lines []string
			for range 3 {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, strings.TrimSpace(line))
			}
			if want := []string{strconv.Itoa(m.opts.UserID), "/workspace", "ping"}; strings.Join(lines, ",") != strings.Join(want, ",") {
				t.Errorf("uid, folder, echo: %q, want %q", lines, want)
			}
			stream.Close()
			info := waitProcessExit(t, c, p.ID)
			if info.ExitCode != 0 || info.Stderr != "from-env\n" {
				t.Errorf("after stdin closed: %+v", info)
			}

			q, err := c.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"sh", "-c", "exit 5"}})
			if err != nil {
				t.Fatal(err)
			}
			if info := waitProcessExit(t, c, q.ID); info.ExitCode != 5 {
				t.Errorf("exit 5: %+v", info)
			}
			if _, err := c.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"mcp-server-missing"}}); agentapi.StatusOf(err) != agentapi.ProgramNotFound || !strings.Contains(err.Error(), "no such program") {
				t.Errorf("missing program: %v", err)
			}

			srv, err := c.StartProcess(ctx, agentapi.ProcessSpec{Argv: []string{"python3", "-c", echoServer}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.AttachProcess(ctx, srv.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			port, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Dial(ctx, "tcp", "127.0.0.1:"+strings.TrimSpace(port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "hello\n")
			if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "echo hello\n" {
				t.Errorf("through the dial: %q, %v", line, err)
			}
			if network == sandbox.NetworkNone {
				_, err := c.Dial(ctx, "tcp", "1.1.1.1:443")
				if agentapi.StatusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "unreachable") {
					t.Errorf("dial out with no network: %v, want 502 network is unreachable", err)
				}
			}
		})
	}
}

func waitProcessExit(t *testing.T, c *agentapi.Client, id string) agentapi.ProcessInfo {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := c.Process(testCtx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Running {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still runs: %+v", id, info)
		}
	}
}
