package mcpsandbox_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/mcpsandbox"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// agent starts an in-memory sandbox (its runtime-agent runs in the test
// process) and returns its client.
func agent(t *testing.T) *agentapi.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandboxtest.New(t).Start(ctx, "mcpsandbox-test", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	return sb.Client()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestStart: a stdio program runs through the agent, its stdin and stdout
// are the process's, its stderr is kept, and Close ends it.
func TestStart(t *testing.T) {
	cl := agent(t)
	l := mcpsandbox.New(cl, false)
	p, err := l.Start(ctx(t), "echo", mcpclient.ServerConfig{Command: "sh",
		Args: []string{"-c", `echo "ready $GREETING" >&2; cat`}, Env: map[string]string{"GREETING": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(p).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("read %q, %v; want the echo", line, err)
	}
	// The agent copies stderr apart from stdout: the echo can come back
	// before the line on stderr is kept.
	got := p.Stderr()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(got, "ready hi") && time.Now().Before(deadline); got = p.Stderr() {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(got, "ready hi") {
		t.Errorf("stderr %q, want the program's", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	procs, err := cl.Processes(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range procs {
		if pr.Running {
			t.Errorf("process %+v still runs after Close", pr)
		}
	}
}

func TestStartMissingProgram(t *testing.T) {
	_, err := mcpsandbox.New(agent(t), false).Start(ctx(t), "x", mcpclient.ServerConfig{Command: "no-such-mcp-program"})
	if err == nil || !strings.Contains(err.Error(), "no-such-mcp-program") {
		t.Errorf("Start = %v, want an error naming the program", err)
	}
}

// TestHTTPClient: remote servers are dialled through the agent, or
// directly when the launcher is direct.
func TestHTTPClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer srv.Close()
	cl := agent(t)
	for _, direct := range []bool{false, true} {
		resp, err := mcpsandbox.New(cl, direct).HTTPClient().Get(srv.URL)
		if err != nil {
			t.Fatalf("direct %v: %v", direct, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "reached" {
			t.Errorf("direct %v: %q", direct, body)
		}
	}
	// Through the agent, a closed port is the sandbox's dial error.
	if _, err := mcpsandbox.New(cl, false).HTTPClient().Get("http://127.0.0.1:1/"); err == nil {
		t.Error("a closed port was reached")
	}
}
