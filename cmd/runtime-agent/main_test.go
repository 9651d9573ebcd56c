package main

import (
	"context"
	"debug/elf"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentd"
)

var agentBin string

// TestMain builds the binary once, the way the Makefile does.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtime-agent-test-")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "runtime-agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", agentBin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAgent(t *testing.T) string {
	t.Helper()
	return agentBin
}

func TestBinaryIsStatic(t *testing.T) {
	bin := buildAgent(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("runtime-agent has a program interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("runtime-agent needs shared libraries %v", libs)
	}
	if st, _ := os.Stat(bin); st.Size() > 20<<20 {
		t.Errorf("runtime-agent is %d bytes; it is copied into every sandbox, keep it small", st.Size())
	}
}

func TestAgentProcessOverUnixSocket(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	work := filepath.Join(dir, "work")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := startOnSocket(ctx, t, sock, "s3cret", exec.Command(bin, "--listen", "unix://"+sock, "--workdir", work, "--output-dir", filepath.Join(dir, "out")))
	res, err := c.Exec(ctx, agentd.DefaultTerminal, agentd.ExecRequest{Command: "pwd; echo \"[$GOHANDS_AGENT_TOKEN]\""})
	if err != nil {
		t.Fatal(err)
	}
	if want := work + "\n[]"; res.Output != want || res.ExitCode != 0 {
		t.Fatalf("got %+v, want output %q: the workdir is the start and the token is not in the environment", res, want)
	}
	// A client with another token cannot verify the agent, and sends it
	// nothing.
	if err := agentd.NewUnixClient(sock, "wrong").SendKeys(ctx, "main", "C-c"); !errors.Is(err, agentd.ErrUnverified) {
		t.Fatalf("client with a wrong token: %v, want ErrUnverified", err)
	}
	// A bare HTTP client still needs the token.
	raw := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/terminals/main/keys", strings.NewReader(`{"keys":"C-c"}`))
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token over bare HTTP: %s, want 401", resp.Status)
	}
}

func TestNoTokenRefusesToStart(t *testing.T) {
	bin := buildAgent(t)
	cmd := exec.Command(bin, "--listen", "tcp://127.0.0.1:0")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), TokenEnv) {
		t.Fatalf("started without a token (err %v): %s", err, out)
	}
}

// TestReapsZombiesAsPID1 runs the agent as PID 1 of a new PID namespace, as
// it runs in a container, and checks that orphans do not stay zombies.
func TestReapsZombiesAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := startOnSocket(ctx, t, sock, "tok", exec.Command(unshare, "--pid", "--fork", "--kill-child", "--mount-proc", agentBin, "--listen", "unix://"+sock, "--workdir", dir, "--output-dir", filepath.Join(dir, "out")))
	// Each subshell exits at once, leaving its child to PID 1; the children
	// exit shortly after. Unreaped, they would all be zombies.
	res, err := c.Exec(ctx, "main", agentd.ExecRequest{Command: "echo pid1=$(cat /proc/1/comm); for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 1; ps -eo stat= | grep -c '^Z' || true"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "pid1=runtime-agent\n0" {
		t.Fatalf("got %q, want the agent as PID 1 and no zombies", res.Output)
	}
}

// startOnSocket starts cmd (an agent listening on sock) with token and
// waits until it answers its health check.
func startOnSocket(ctx context.Context, t *testing.T, sock, token string, cmd *exec.Cmd) *agentd.Client {
	t.Helper()
	cmd.Env = append(os.Environ(), TokenEnv+"="+token)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := agentd.NewUnixClient(sock, token)
	for c.Health(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("agent never became healthy; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}
