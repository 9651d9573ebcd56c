package docker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd"
	"github.com/gohands/gohands/sandbox"
)

// The tests in this file play a hostile sandbox: commands run as root in
// a real sandbox, through the agent's own terminals, and try to learn the
// agent's token or to have the server send it somewhere else.

// TestHostileTokenUnreadable: root in the sandbox finds the token in
// neither PID 1's environ, command line or memory, nor in its own
// environment.
func TestHostileTokenUnreadable(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.UserID, o.GroupID = 0, 0 })
	s := start(t, m, sandbox.Spec{})
	token := s.Handle().Token
	res := run(t, s, `id -u; echo environ:; tr '\0' '\n' < /proc/1/environ; echo cmdline:; tr '\0' ' ' < /proc/1/cmdline; echo
echo tasks:; cat /proc/1/task/*/environ | tr '\0' '\n'
echo env:; env
echo fds:; ls -l /proc/1/fd/
echo mem:; python3 - <<'PY'
import re, sys
try:
    maps = open("/proc/1/maps").read().splitlines()
    mem = open("/proc/1/mem", "rb")
except OSError as e:
    print("mem refused:", type(e).__name__)
    sys.exit()
hits = 0
for line in maps:
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
    if not m:
        continue
    lo, hi = int(m.group(1), 16), int(m.group(2), 16)
    try:
        mem.seek(lo)
        data = mem.read(hi - lo)
    except OSError:
        continue
    hits += data.count(b"GOHANDS_AGENT_TOKEN=")
print("mem read, token variable found", hits, "times")
PY`)
	t.Logf("root in the sandbox saw:\n%s", res.Output)
	if !strings.HasPrefix(res.Output, "0\n") {
		t.Fatalf("commands do not run as root: %q", res.Output)
	}
	if strings.Contains(res.Output, token) {
		t.Error("root in the sandbox read the agent's token")
	}
	if strings.Contains(res.Output, "token variable found") && !strings.Contains(res.Output, "found 0 times") {
		t.Error("root in the sandbox found the token's variable in the agent's memory")
	}
	if !strings.Contains(res.Output, "mem refused") {
		t.Error("root in the sandbox could open the agent's memory")
	}
}

// TestHostileSocket: root in the sandbox replaces the agent's socket with
// a symlink to a host socket, with a listener of its own, or with a relay
// to the real agent. The server's next new connection fails verification,
// nothing it reaches receives the token, and the failure is logged.
func TestHostileSocket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// attack runs as root in s; it returns where the peer the server
		// reaches wrote what it received ("" when nothing listens there).
		attack func(t *testing.T, s *Sandbox) (received func() string)
	}{
		{"symlink to the Docker daemon", func(t *testing.T, s *Sandbox) func() string {
			engine, ok := strings.CutPrefix(env.engine.DaemonHost(), "unix://")
			if !ok {
				t.Skipf("the engine %s is not on a Unix socket", env.engine.DaemonHost())
			}
			run(t, s, "ln -sf "+engine+" /run/gohands/agent.sock && echo linked")
			return nil
		}},
		{"symlink to a host listener", func(t *testing.T, s *Sandbox) func() string {
			path := filepath.Join(shortTempDir(t), "fake.sock")
			got := hostListener(t, path)
			run(t, s, "ln -sf "+path+" /run/gohands/agent.sock && echo linked")
			return got
		}},
		{"impostor listener", func(t *testing.T, s *Sandbox) func() string {
			runPython(t, s, impostorScript)
			return readHostFile(filepath.Join(s.runDir, "impostor.log"))
		}},
		{"relay to the real agent", func(t *testing.T, s *Sandbox) func() string {
			runPython(t, s, relayScript)
			return readHostFile(filepath.Join(s.runDir, "relay.log"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs := &warnings{}
			m := newManagerLogging(t, func(o *Options) { o.UserID, o.GroupID = 0, 0 },
				slog.New(teeHandler{testLogger(t).Handler(), logs}))
			s := start(t, m, sandbox.Spec{})
			token := s.Handle().Token
			received := tt.attack(t, s)

			cl, done, err := s.Use(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			cl.CloseIdleConnections() // the next call needs a new connection
			_, err = cl.Exec(testCtx(t), agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "echo reached"})
			if !errors.Is(err, agentapi.ErrUnverified) || !strings.Contains(err.Error(), "agent socket failed verification") {
				t.Errorf("exec after the attack: err = %v, want agent socket failed verification", err)
			}
			if err := s.Check(testCtx(t)); !errors.Is(err, agentapi.ErrUnverified) {
				t.Errorf("check after the attack: err = %v, want ErrUnverified", err)
			}
			if received != nil {
				if got := received(); strings.Contains(got, token) {
					t.Errorf("the peer in the agent's place received the token:\n%s", got)
				} else {
					t.Logf("the peer in the agent's place received:\n%s", got)
				}
			}
			if logs.count("agent socket failed verification") == 0 {
				t.Error("the failed verification was not logged")
			}
		})
	}
}

// hostListener serves HTTP on a Unix socket at path, answering 500 to
// everything; it returns what it received.
func hostListener(t *testing.T, path string) func() string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got strings.Builder
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		r.Write(&got)
		mu.Unlock()
		http.Error(w, "not the agent", http.StatusInternalServerError)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
}

func readHostFile(path string) func() string {
	return func() string {
		data, _ := os.ReadFile(path)
		return string(data)
	}
}

// runPython starts a Python script in the background as root in s and
// waits until it says it is ready.
func runPython(t *testing.T, s *Sandbox, script string) {
	t.Helper()
	res := run(t, s, "cat > /tmp/attack.py <<'PY'\n"+script+"PY\n"+
		"rm -f /tmp/ready; (setsid python3 /tmp/attack.py > /tmp/attack.log 2>&1 &); "+
		"for i in $(seq 100); do [ -e /tmp/ready ] && break; sleep 0.1; done; cat /tmp/attack.log; ls -l /run/gohands; [ -e /tmp/ready ] && echo ready")
	if !strings.Contains(res.Output, "ready") {
		t.Fatalf("attack did not start: %q", res.Output)
	}
}

// impostorScript listens on a new socket and renames it to agent.sock,
// answering every request with a made-up handshake answer and logging
// what it receives in the run folder.
const impostorScript = `import os, socket
d = "/run/gohands"
log = open(d + "/impostor.log", "ab", buffering=0)
s = socket.socket(socket.AF_UNIX)
s.bind(d + "/fake.sock")
os.chmod(d + "/fake.sock", 0o666)
s.listen(8)
os.rename(d + "/fake.sock", d + "/agent.sock")
open("/tmp/ready", "w").close()
body = b'{"mac":"00"}'
answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        while True:
            data = c.recv(65536)
            if not data:
                break
            log.write(data)
            c.sendall(answer)
    except OSError:
        pass
    c.close()
`

// relayScript moves the agent's socket aside and puts a relay in its
// place that forwards bytes both ways, logging what the server sends.
const relayScript = `import os, socket, threading
d = "/run/gohands"
log = open(d + "/relay.log", "ab", buffering=0)
os.rename(d + "/agent.sock", d + "/real.sock")
s = socket.socket(socket.AF_UNIX)
s.bind(d + "/relay.sock")
os.chmod(d + "/relay.sock", 0o666)
s.listen(8)
os.rename(d + "/relay.sock", d + "/agent.sock")
open("/tmp/ready", "w").close()
def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record:
                log.write(data)
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    u = socket.socket(socket.AF_UNIX)
    u.connect(d + "/real.sock")
    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
`

// warnings counts the messages of the records it sees.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) count(msg string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// teeHandler passes records on and notes warnings.
type teeHandler struct {
	slog.Handler
	w *warnings
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.w.mu.Lock()
		h.w.msgs = append(h.w.msgs, r.Message)
		h.w.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return teeHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.Handler.WithGroup(name), h.w}
}

// TestNewClientVerifies, without Docker: the sandbox's agent client
// refuses a socket replaced by a symlink (even one to the real agent) and
// a TCP peer without the token, and logs each failure with the sandbox's
// names; a hard link to the agent's own socket is the same socket.
func TestNewClientVerifies(t *testing.T) {
	t.Parallel()
	logs := &warnings{}
	m := &Manager{log: slog.New(teeHandler{testLogger(t).Handler(), logs})}
	dir := shortTempDir(t)
	const token = "sandbox-token"
	real := filepath.Join(dir, "real.sock")
	serveAgent(t, "unix", real, token)
	if err := os.Symlink("real.sock", filepath.Join(dir, sandbox.SocketName)); err != nil {
		t.Fatal(err)
	}
	s := &Sandbox{m: m, name: "gohands-test", token: token, transport: TransportUnix, runDir: dir, cell: sandbox.NewStatusCell("conv-1", "", nil)}
	cl, endpoint := s.newClient("")
	if want := "unix://" + filepath.Join(dir, sandbox.SocketName); endpoint != want {
		t.Errorf("endpoint %q, want %q", endpoint, want)
	}
	if err := cl.Health(testCtx(t)); !errors.Is(err, agentapi.ErrUnverified) {
		t.Errorf("through a symlink: err = %v, want ErrUnverified", err)
	}
	if n := logs.count("agent socket failed verification"); n != 1 {
		t.Errorf("%d warnings logged, want 1", n)
	}
	if err := os.Remove(filepath.Join(dir, sandbox.SocketName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(real, filepath.Join(dir, sandbox.SocketName)); err != nil {
		t.Fatal(err)
	}
	if err := cl.Health(testCtx(t)); err != nil {
		t.Errorf("through a hard link to the agent's socket: %v", err)
	}

	addr := serveAgent(t, "tcp", "127.0.0.1:0", "another-token")
	s = &Sandbox{m: m, name: "gohands-tcp", token: token, transport: TransportTCP, cell: sandbox.NewStatusCell("conv-2", "", nil)}
	cl, _ = s.newClient("http://" + addr)
	if err := cl.Health(testCtx(t)); !errors.Is(err, agentapi.ErrUnverified) {
		t.Errorf("TCP peer with another token: err = %v, want ErrUnverified", err)
	}
	if n := logs.count("agent socket failed verification"); n != 2 {
		t.Errorf("%d warnings logged, want 2", n)
	}
}

// serveAgent serves an agent with token on a new listener and returns its
// address.
func serveAgent(t *testing.T, network, addr, token string) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	binding := agentapi.TCPBinding
	if network == "unix" {
		if binding, err = agentapi.SocketBinding(addr); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := agentd.NewServer(agentd.Config{Token: token, Binding: binding, WorkDir: t.TempDir(), UID: -1, GID: -1, OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return ln.Addr().String()
}
