package agentd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// newSocketAgent serves a real agent on a Unix socket, bound to it by the
// handshake as in a sandbox, and returns a client of that socket.
func newSocketAgent(t *testing.T, cfg Config) (*Server, *agentapi.Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	binding, err := agentapi.SocketBinding(sock)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Token, cfg.Binding, cfg.UID, cfg.GID = testToken, binding, -1, -1
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, agentapi.NewUnixClient(sock, testToken)
}

// waitExited polls until the process has exited and returns its info.
func waitExited(t *testing.T, c *agentapi.Client, id string) agentapi.ProcessInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := c.Process(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Running {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still runs: %+v", id, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProcessStdioEcho(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{})
	p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Running || p.PID <= 0 || p.Name != "cat" || p.ID == "" {
		t.Fatalf("started: %+v", p)
	}
	stream, err := c.AttachProcess(ctx(t), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	lines := bufio.NewReader(stream)
	for i := range 100 {
		msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i)
		if _, err := io.WriteString(stream, msg+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := lines.ReadString('\n')
		if err != nil || got != msg+"\n" {
			t.Fatalf("line %d back: %q, %v", i, got, err)
		}
	}
	// Ending what we send closes cat's stdin: it exits, and the stream ends.
	if err := stream.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after cat's stdin closed: %q, %v; want EOF", rest, err)
	}
	info := waitExited(t, c, p.ID)
	if info.ExitCode != 0 {
		t.Fatalf("cat exited: %+v", info)
	}
}

func TestProcessExitEndsStream(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{})
	p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{
		Name: "failing",
		Argv: []string{"sh", "-c", `read line; echo "got $line"; echo "$GREETING, broken" >&2; exit 7`},
		Env:  map[string]string{"GREETING": "hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.AttachProcess(ctx(t), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	io.WriteString(stream, "x\n")
	// The stream is open both ways: only the program's exit ends it.
	out, err := io.ReadAll(stream)
	if err != nil || string(out) != "got x\n" {
		t.Fatalf("stdout: %q, %v", out, err)
	}
	info := waitExited(t, c, p.ID)
	want := agentapi.ProcessInfo{ID: p.ID, Name: "failing", PID: p.PID, ExitCode: 7, Stderr: "hello, broken\n"}
	if info != want {
		t.Fatalf("after exit: %+v, want %+v", info, want)
	}
}

func TestProcessStderrRing(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{})
	// 100 KiB of stderr, then a last line: the ring keeps the last 64 KiB,
	// which here begin inside an "é" (7 + 102399 + 5 - 65536 bytes in,
	// 36868 = 3*12289 + 1 bytes into the "é\n" lines).
	p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"sh", "-c", `echo first! >&2; yes é | head -c 102399 >&2; echo last >&2; exec sleep 300`}})
	if err != nil {
		t.Fatal(err)
	}
	var info agentapi.ProcessInfo
	for deadline := time.Now().Add(20 * time.Second); !strings.HasSuffix(info.Stderr, "last\n"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never ended with the last line: %d bytes", len(info.Stderr))
		}
		if info, err = c.Process(ctx(t), p.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The cut byte of the first "é" is dropped, not sent as U+FFFD.
	if want := "\n" + strings.Repeat("é\n", (agentapi.MaxProcessStderr-1-5)/3) + "last\n"; !info.Running || info.Stderr != want {
		t.Fatalf("stderr: running %v, %d bytes starting %q; want %d bytes starting %q", info.Running, len(info.Stderr), info.Stderr[:min(10, len(info.Stderr))], len(want), want[:10])
	}
}

func TestProcessRefusals(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{MaxProcesses: 2})
	_, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"no-such-mcp-server", "--stdio"}})
	if agentapi.StatusOf(err) != agentapi.ProgramNotFound || !strings.Contains(err.Error(), `no such program "no-such-mcp-server"`) {
		t.Fatalf("missing program: %v, want %d naming it", err, agentapi.ProgramNotFound)
	}
	for _, spec := range []agentapi.ProcessSpec{{}, {Argv: []string{""}}, {Argv: []string{"cat"}, Env: map[string]string{"A=B": "c"}}, {Argv: []string{"cat"}, Dir: "/no/such/dir"}} {
		if _, err := c.StartProcess(ctx(t), spec); agentapi.StatusOf(err) != http.StatusBadRequest {
			t.Errorf("start %+v: %v, want 400", spec, err)
		}
	}
	a, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}}); agentapi.StatusOf(err) != http.StatusTooManyRequests {
		t.Fatalf("third process: %v, want 429", err)
	}
	first, err := c.AttachProcess(ctx(t), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachProcess(ctx(t), b.ID); agentapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("second attachment: %v, want 409", err)
	}
	io.WriteString(first, "still mine\n")
	if line, err := bufio.NewReader(first).ReadString('\n'); err != nil || line != "still mine\n" {
		t.Fatalf("the first attachment after a refused second: %q, %v", line, err)
	}
	first.Close()
	if _, err := c.AttachProcess(ctx(t), "pnope"); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("attach to an unknown process: %v, want 404", err)
	}
	list, err := c.Processes(ctx(t))
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if err := c.StopProcess(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Process(ctx(t), a.ID); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("a stopped process: %v, want 404", err)
	}
	if _, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}}); err != nil {
		t.Fatalf("start after one stopped: %v", err)
	}
}

// TestProcessStopKillsGroup: DELETE and Close end the program and what it
// started, and an attachment's stream ends with them.
func TestProcessStopKillsGroup(t *testing.T) {
	t.Parallel()
	srv, c := newSocketAgent(t, Config{})
	start := func() (agentapi.ProcessInfo, int) {
		t.Helper()
		p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"sh", "-c", `sleep 300 & echo $!; wait`}})
		if err != nil {
			t.Fatal(err)
		}
		return p, 0
	}
	p, _ := start()
	stream, err := c.AttachProcess(ctx(t), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stream)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	if err := c.StopProcess(ctx(t), p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("stream after stop: %v, want EOF", err)
	}
	stream.Close()
	waitGone(t, p.PID)
	waitGone(t, child)
	if err := c.StopProcess(ctx(t), p.ID); agentapi.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("stop twice: %v, want 404", err)
	}

	q, _ := start()
	srv.Close()
	waitGone(t, q.PID)
	if _, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}}); agentapi.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("start after Close: %v, want 503", err)
	}
}

// waitGone waits until pid is no process, or a zombie no one reaped yet.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid: %d", pid)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if _, after, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(after, "Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still lives: %s", pid, stat)
		}
	}
}

// TestStreamRoutesNeedTokenAndUpgrade: the stream routes check the token
// like any route, and answer a plain request with a plain error.
func TestStreamRoutesNeedTokenAndUpgrade(t *testing.T) {
	t.Parallel()
	srv, c := newTestServer(t)
	p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, token, upgrade string
		want                 int
	}{
		{"/processes/" + p.ID + "/stdio", "", agentapi.StdioProtocol, http.StatusUnauthorized},
		{"/processes/" + p.ID + "/stdio", "wrong", agentapi.StdioProtocol, http.StatusUnauthorized},
		{"/processes/" + p.ID + "/stdio", testToken, "", http.StatusUpgradeRequired},
		{"/processes/" + p.ID + "/stdio", testToken, agentapi.DialProtocol, http.StatusUpgradeRequired},
		{"/dial?network=tcp&address=127.0.0.1:1", "", agentapi.DialProtocol, http.StatusUnauthorized},
		{"/dial?network=udp&address=127.0.0.1:53", testToken, agentapi.DialProtocol, http.StatusBadRequest},
		{"/dial?network=tcp&address=nowhere", testToken, agentapi.DialProtocol, http.StatusBadRequest},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		if tt.upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tt.upgrade)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET %s token %q upgrade %q: %d %s, want %d", tt.path, tt.token, tt.upgrade, rec.Code, rec.Body, tt.want)
		}
	}
	// None of these took the process's one attachment.
	stream, err := c.AttachProcess(ctx(t), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	stream.Close()
}

func TestDial(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn) // echo until the client ends its sending
			}()
		}
	}()
	conn, err := c.Dial(ctx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.RemoteAddr().String() != ln.Addr().String() {
		t.Errorf("remote address %s, want %s", conn.RemoteAddr(), ln.Addr())
	}
	msg := strings.Repeat("through the sandbox ", 10000)
	go func() {
		io.WriteString(conn, msg)
		conn.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != msg {
		t.Fatalf("echo: %d bytes, %v; want %d", len(got), err, len(msg))
	}

	// Deadlines work, as http.Transport and TLS need them to.
	idle, err := c.Dial(ctx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}

	// A closed port: the sandbox's error, before any upgrade.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	_, err = c.Dial(ctx(t), "tcp", addr)
	if agentapi.StatusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial a closed port: %v, want 502 connection refused", err)
	}
}

// TestDialHTTPTransport: an http.Transport dialling through the agent
// reaches a server, TLS included.
func TestDialHTTPTransport(t *testing.T) {
	t.Parallel()
	_, c := newSocketAgent(t, Config{})
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	defer hs.Close()
	tr := hs.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = c.Dial
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, path := range []string{"/a", "/b"} {
		resp, err := client.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hello from "+path {
			t.Fatalf("GET %s: %q", path, body)
		}
	}
}

// TestAttachmentEndsAfterExit: a client that keeps its stream open after
// the program exited does not hold the agent's connection for ever.
func TestAttachmentEndsAfterExit(t *testing.T) {
	t.Parallel()
	srv, c := newSocketAgent(t, Config{})
	p, err := c.StartProcess(ctx(t), agentapi.ProcessSpec{Argv: []string{"sh", "-c", "read x; echo bye"}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.AttachProcess(ctx(t), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	io.WriteString(stream, "go\n")
	if out, err := io.ReadAll(stream); err != nil || string(out) != "bye\n" {
		t.Fatalf("output: %q, %v", out, err)
	}
	streams := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.streams)
	}
	if n := streams(); n != 1 {
		t.Fatalf("%d streams open right after the exit, want the attachment's", n)
	}
	for deadline := time.Now().Add(outputGrace + 5*time.Second); streams() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the attachment of an exited program is still open")
		}
	}
}
