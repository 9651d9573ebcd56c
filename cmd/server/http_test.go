package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
)

// lightEnv is the environment of a server started without sandboxes: no
// warm pool, and a file for the runtime-agent that is never used.
func lightEnv(t *testing.T, more map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(t.TempDir(), "state.db"),
		"GOHANDS_AGENT_BINARY": os.Args[0], "SANDBOX_POOL_SIZE": "0",
		"SANDBOX_RUN_DIR": filepath.Join(t.TempDir(), "run"),
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

// closedWithin reports whether the server closes conn before wait is over:
// reading it ends with something other than a timeout. Anything the
// server sends first is read and dropped.
func closedWithin(conn net.Conn, wait time.Duration) error {
	conn.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %s", wait)
	}
	return nil
}

// TestHTTPTimeouts: a client that sends half its headers, and connections
// kept alive but left unused, are closed by the server (a slowloris kept
// every one of 400 idle connections open); a socket is not cut by either
// timeout.
func TestHTTPTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	g := start(t, lightEnv(t, map[string]string{
		"GOHANDS_HTTP_READ_HEADER_TIMEOUT": timeout.String(),
		"GOHANDS_HTTP_IDLE_TIMEOUT":        timeout.String(),
	}))
	defer g.shutdown()
	addr := strings.TrimPrefix(g.url, "http://")
	// The server has 10 s by default, and nothing here may wait that long:
	// the old server, which had no idle timeout and that header timeout,
	// fails this test.
	const wait = 5 * time.Second

	const n = 20
	var partial, idle []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /alive HTTP/1.1\r\nHost: %s\r\nX-Slow: ", addr)
		partial = append(partial, c)

		c, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /alive HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("GET /alive: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		idle = append(idle, c)
	}

	// A socket outlives both timeouts: it answers a ping after several.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(g.url, "http")+"/ws?session_api_key=key", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pong := make(chan struct{}, 1)
	ws.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()

	for i, c := range partial {
		if err := closedWithin(c, wait); err != nil {
			t.Errorf("connection %d with half its headers sent: %v", i, err)
			break
		}
	}
	for i, c := range idle {
		if err := closedWithin(c, wait); err != nil {
			t.Errorf("kept-alive connection %d left unused: %v", i, err)
			break
		}
	}
	time.Sleep(3 * timeout)
	if err := ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("the socket was cut: %v", err)
	}
	select {
	case <-pong:
	case <-time.After(10 * time.Second):
		t.Fatal("the socket does not answer a ping after the timeouts")
	}
}

// TestHTTPBodyTimeout: a request whose body stops coming is answered 408
// instead of holding its connection.
func TestHTTPBodyTimeout(t *testing.T) {
	g := start(t, lightEnv(t, map[string]string{"GOHANDS_HTTP_READ_TIMEOUT": "300ms"}))
	defer g.shutdown()
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/conversations HTTP/1.1\r\nHost: localhost\r\nX-Session-API-Key: key\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "GOHANDS_HTTP_READ_TIMEOUT") {
		t.Errorf("stalled body: %d %s, want 408 naming the setting", resp.StatusCode, body)
	}
}

func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host  string
		given []string
		want  []string
	}{
		{"0.0.0.0", []string{"a.example"}, []string{"a.example"}},
		{"::", nil, nil},
		{"", nil, nil},
		{"127.0.0.1", nil, []string{"127.0.0.1"}},
		{"gohands.lan", []string{"a.example"}, []string{"a.example", "gohands.lan"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(allowedHosts(Config{Host: tt.host, AllowedHosts: tt.given}), tt.want); diff != "" {
			t.Errorf("--host %q (-got +want):\n%s", tt.host, diff)
		}
	}
}

// TestSandboxMetricAndProcDownload watches gohands_sandboxes_running
// follow the sandboxes (it was never set and always read 0), and downloads
// /proc/version, which reports a size of 0, from a sandbox.
func TestSandboxMetricAndProcDownload(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"),
		"GOHANDS_AGENT_BINARY": agent, "SANDBOX_POOL_SIZE": "1", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
	}
	g := start(t, env)
	defer g.shutdown()
	c := api{t: t, url: g.url}
	metric := regexp.MustCompile(`(?m)^gohands_sandboxes_running (\S+)$`)
	running := func() int {
		t.Helper()
		_, body := c.call("GET", "/metrics", "", nil)
		m := metric.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no gohands_sandboxes_running in /metrics")
		}
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		return int(n)
	}
	waitRunning := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			n := running()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: gohands_sandboxes_running is %d, want %d", what, n, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRunning("the warm pool filled", 1)

	id := c.create(`{}`)
	var serverID string
	t.Cleanup(func() { removeOwnedBy(engine, serverID) })
	if st, out, body := c.bash(id, "echo hi"); st != http.StatusOK || !strings.Contains(out, "hi") {
		t.Fatalf("bash: %d %q %s", st, out, body)
	}
	if inspect, err := engine.ContainerInspect(context.Background(), c.info(id).Sandbox.ID); err == nil {
		serverID = inspect.Config.Labels["gohands.server"]
	}
	waitRunning("a conversation's sandbox and the refilled pool", 2)

	st, body := c.call("GET", "/api/conversations/"+id+"/file/download?path=/proc/version", "", nil)
	if st != http.StatusOK || !strings.HasPrefix(string(body), "Linux version") {
		t.Errorf("download /proc/version: %d %q, want its content", st, body)
	}

	if st, body := c.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
		t.Fatalf("delete: %d %s", st, body)
	}
	waitRunning("the conversation deleted", 1)
}
