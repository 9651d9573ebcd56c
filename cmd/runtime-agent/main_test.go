package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
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
	res, err := c.Exec(ctx, agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "pwd; echo \"[$GOHANDS_AGENT_TOKEN]\""})
	if err != nil {
		t.Fatal(err)
	}
	if want := work + "\n[]"; res.Output != want || res.ExitCode != 0 {
		t.Fatalf("got %+v, want output %q: the workdir is the start and the token is not in the environment", res, want)
	}
	// A client with another token cannot verify the agent, and sends it
	// nothing.
	if err := agentapi.NewUnixClient(sock, "wrong").SendKeys(ctx, "main", "C-c"); !errors.Is(err, agentapi.ErrUnverified) {
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

// TestTokenLeavesNoTrace checks that the token given in the environment
// is gone from the agent's /proc/PID/environ and is not on its command
// line, and that the pipe it came through is closed.
func TestTokenLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const token = "tok-4e8a1f0c9b7d"
	cmd := exec.Command(agentBin, "--listen", "unix://"+sock, "--workdir", dir, "--output-dir", filepath.Join(dir, "out"))
	startOnSocket(ctx, t, sock, token, cmd)
	proc := "/proc/" + strconv.Itoa(cmd.Process.Pid)
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(environ), token) || strings.Contains(string(environ), agentapi.TokenEnv) {
		t.Errorf("the agent's environ holds the token: %q", environ)
	}
	if !strings.Contains(string(environ), "PATH=") {
		t.Errorf("the agent's environ lost the rest: %q", environ)
	}
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if strings.Contains(string(cmdline), token) {
		t.Errorf("the agent's command line holds the token: %q", args)
	}
	i := slices.Index(args, "--token-fd")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("the agent did not re-execute itself with --token-fd: %q", args)
	}
	if link, err := os.Readlink(proc + "/fd/" + args[i+1]); err == nil && strings.HasPrefix(link, "pipe:") {
		t.Errorf("the token's pipe (fd %s) is still open: %s", args[i+1], link)
	}
}

// TestAgentNotDumpable runs the agent as an unprivileged user: its /proc
// files then belong to root, so no process of that user (nor root without
// CAP_SYS_PTRACE) may read its memory or environ.
func TestAgentNotDumpable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the agent as another user")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "agent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(agentBin) // its own folder is root's alone
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runtime-agent"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(filepath.Join(dir, "runtime-agent"), "--listen", "unix://"+sock, "--workdir", filepath.Join(dir, "w"), "--output-dir", filepath.Join(dir, "out"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	startOnSocket(ctx, t, sock, "tok", cmd)
	for _, name := range []string{"environ", "mem"} {
		fi, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 0 {
			t.Errorf("/proc/PID/%s of an agent running as %d belongs to %d: the agent is dumpable", name, nobody, uid)
		}
	}
}

func TestNoTokenRefusesToStart(t *testing.T) {
	bin := buildAgent(t)
	cmd := exec.Command(bin, "--listen", "tcp://127.0.0.1:0")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), agentapi.TokenEnv) {
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
	res, err := c.Exec(ctx, "main", agentapi.ExecRequest{Command: "echo pid1=$(cat /proc/1/comm); for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 1; ps -eo stat= | grep -c '^Z' || true"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "pid1=runtime-agent\n0" {
		t.Fatalf("got %q, want the agent as PID 1 and no zombies", res.Output)
	}
}

// startOnSocket starts cmd (an agent listening on sock) with token and
// waits until it answers its health check.
func startOnSocket(ctx context.Context, t testing.TB, sock, token string, cmd *exec.Cmd) *agentapi.Client {
	t.Helper()
	cmd.Env = append(os.Environ(), agentapi.TokenEnv+"="+token)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := agentapi.NewUnixClient(sock, token)
	for c.Health(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("agent never became healthy; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// TestInstallCopiesItself: --install puts an executable copy of the binary
// at the path given, without a token, and the copy runs.
func TestInstallCopiesItself(t *testing.T) {
	bin := buildAgent(t)
	dest := filepath.Join(t.TempDir(), "opt", "gohands", "runtime-agent")
	cmd := exec.Command(bin, "--install", dest)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	want, _ := os.ReadFile(bin)
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed copy differs from the binary (err %v)", err)
	}
	if st, _ := os.Stat(dest); st.Mode().Perm() != 0o755 {
		t.Errorf("installed mode %v, want 0755", st.Mode().Perm())
	}
	out, _ := exec.Command(dest, "--listen", "tcp://127.0.0.1:0").CombinedOutput()
	if !strings.Contains(string(out), agentapi.TokenEnv) {
		t.Errorf("installed copy does not run as the agent: %s", out)
	}
}

// TestInstallStays: with --stay the installer copies, keeps running, and
// exits 0 at once on SIGTERM (a Pod's deletion must not wait for its grace
// period on it).
func TestInstallStays(t *testing.T) {
	bin := buildAgent(t)
	dest := filepath.Join(t.TempDir(), "shm", ".gohands", "runtime-agent")
	cmd := exec.Command(bin, "--install", dest, "--stay")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		if st, err := os.Stat(dest); err == nil && st.Mode().Perm() == 0o755 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("installer exited before SIGTERM: %v: %s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no copy at %s: %s", dest, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("installer did not stay after the copy: %v: %s", err, out.String())
	case <-time.After(200 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("installer exited with %v after SIGTERM, want 0: %s", err, out.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("installer did not exit on SIGTERM")
	}
}
