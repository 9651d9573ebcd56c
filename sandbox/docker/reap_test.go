package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gohands/gohands/sandbox"
)

// TestReconcile restarts the Manager: sandboxes of live conversations are
// re-adopted with their agent state (matched by Record or by label, token
// from the Record or from the environment; TCP and Unix socket), and the
// others are removed as orphans.
func TestReconcile(t *testing.T) {
	t.Parallel()
	needDocker(t)
	opts := testOptions(t, "test-"+randomHex(4))
	opts.Transport = TransportTCP // network none makes the second one Unix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		removeServer(ctx, opts.ServerID)
	})
	ctx := testCtx(t)
	first, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := first.start(ctx, "conv-tcp", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	unix, err := first.start(ctx, "conv-unix", sandbox.Spec{Limits: sandbox.Limits{Network: sandbox.NetworkNone}})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := first.start(ctx, "conv-gone", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	stoppedOrphan, err := first.start(ctx, "conv-gone-too", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := stoppedOrphan.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Terminal state that only the same agent process remembers.
	run(t, tcp, "cd /tmp")
	run(t, unix, "cd /etc")
	tcpRecord := tcp.Handle()
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	second, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close(context.Background()) })
	live := []sandbox.Handle{tcpRecord, {Owner: "conv-unix"}} // the second by label, token from env
	adopted, err := reconcile(second, ctx, live)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if len(adopted) != 2 {
		t.Fatalf("adopted %d sandboxes, want 2", len(adopted))
	}
	for conv, wantDir := range map[string]string{"conv-tcp": "/tmp", "conv-unix": "/etc"} {
		s := second.Get(conv)
		if s == nil {
			t.Errorf("%s not adopted", conv)
			continue
		}
		if res := run(t, s, "pwd"); !strings.Contains(res.Output, wantDir) {
			t.Errorf("%s: pwd %q, want %s (the same agent)", conv, res.Output, wantDir)
		}
	}
	if got := second.Get("conv-tcp").Handle(); got != tcpRecord {
		t.Errorf("adopted record %+v, want %+v", got, tcpRecord)
	}
	for _, s := range []sandbox.Sandbox{orphan, stoppedOrphan} {
		if _, err := env.engine.ContainerInspect(ctx, s.Handle().ID); !isGone(err) {
			t.Errorf("orphan %s not removed: %v", s.Handle().ID, err)
		}
	}
	// Another server's sandboxes are not ours to reap.
	other := newManager(t, nil)
	foreign := start(t, other, sandbox.Spec{})
	if _, err := reconcile(second, ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.engine.ContainerInspect(ctx, foreign.ID()); err != nil {
		t.Errorf("another server's sandbox was touched: %v", err)
	}
	// Reconcile with no live conversations removes everything of ours
	// except what this Manager itself runs.
	if _, err := reconcile(second, ctx, nil); err != nil {
		t.Fatal(err)
	}
	if second.Get("conv-tcp").Status() != sandbox.StatusRunning {
		t.Error("Reconcile removed a sandbox the Manager itself adopted")
	}
}

// TestAdoptStopped adopts a stopped sandbox; it starts on first use.
func TestAdoptStopped(t *testing.T) {
	t.Parallel()
	needDocker(t)
	opts := testOptions(t, "test-"+randomHex(4))
	t.Cleanup(func() { removeServer(context.Background(), opts.ServerID) })
	ctx := testCtx(t)
	first, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := first.start(ctx, "conv-a", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "echo kept > /workspace/f")
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rec := s.Handle()
	first.Close(ctx)

	second, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close(context.Background()) })
	a, err := second.recover(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status() != sandbox.StatusStopped {
		t.Errorf("status %s, want stopped", a.Status())
	}
	if res := run(t, a, "cat /workspace/f"); !strings.Contains(res.Output, "kept") {
		t.Errorf("after restart: %q", res.Output)
	}
}

// TestWarmPool fills the pool, hands out a pooled sandbox and watches the
// pool refill; a Spec the pool cannot serve gets a fresh sandbox.
func TestWarmPool(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.PoolSize = 2 })
	waitFor(t, 2*time.Minute, "the pool to fill", func() bool { return m.PoolSize() == 2 })

	begin := time.Now()
	s := start(t, m, sandbox.Spec{})
	took := time.Since(begin)
	if !s.pooled || s.Status() != sandbox.StatusRunning {
		t.Fatalf("sandbox not from the pool (pooled=%v status=%s)", s.pooled, s.Status())
	}
	t.Logf("start from the pool took %s", took)
	if res := run(t, s, "echo pooled"); !strings.Contains(res.Output, "pooled") {
		t.Errorf("output %q", res.Output)
	}
	if got := s.Handle().Owner; got == "" || m.Get(got) != s {
		t.Errorf("pool sandbox not recorded for its conversation %q", got)
	}
	info, err := env.engine.ContainerInspect(testCtx(t), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Labels[labelPool] != "1" || info.Config.Labels[labelOwner] != "" {
		t.Errorf("pool labels %v", info.Config.Labels)
	}
	waitFor(t, 2*time.Minute, "the pool to refill", func() bool { return m.PoolSize() == 2 })

	custom := start(t, m, sandbox.Spec{Env: map[string]string{"FOO": "bar"}})
	if custom.pooled {
		t.Error("a sandbox.Spec with its own env was served from the pool")
	}
	if res := run(t, custom, "echo $FOO"); !strings.Contains(res.Output, "bar") {
		t.Errorf("env not set: %q", res.Output)
	}

	// Close removes the pool's sandboxes but not assigned ones.
	ids := poolIDs(m)
	if err := m.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := env.engine.ContainerInspect(testCtx(t), id); !isGone(err) {
			t.Errorf("pool sandbox %s left after Close: %v", id, err)
		}
	}
	if info, err := env.engine.ContainerInspect(testCtx(t), s.ID()); err != nil || !info.State.Running {
		t.Errorf("assigned sandbox stopped by Close: %v", err)
	}
}

func poolIDs(m *Manager) []string {
	var ids []string
	for _, s := range m.pool.Ready() {
		ids = append(ids, s.id)
	}
	return ids
}

// TestPoolDropsDeadSandbox kills a pooled sandbox: Start skips it.
func TestPoolDropsDeadSandbox(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.PoolSize = 1 })
	waitFor(t, 2*time.Minute, "the pool to fill", func() bool { return m.PoolSize() == 1 })
	dead := poolIDs(m)[0]
	if err := env.engine.ContainerKill(testCtx(t), dead, "KILL"); err != nil {
		t.Fatal(err)
	}
	s := start(t, m, sandbox.Spec{})
	if s.ID() == dead {
		t.Fatal("Start handed out a dead pool sandbox")
	}
	if res := run(t, s, "echo ok"); !strings.Contains(res.Output, "ok") {
		t.Errorf("output %q", res.Output)
	}
	_, err := env.engine.ContainerInspect(testCtx(t), dead)
	if !isGone(err) {
		t.Errorf("dead pool sandbox not removed: %v", err)
	}
}

// TestAdoptRestartsUnverifiedAgent: a running sandbox whose agent fails
// verification when the server restarts (here its root moved the socket
// and left a symlink; an agent from before the handshake fails the same
// way) is restarted on adoption: the agent and socket are fresh, the
// sandbox's processes are gone and its workspace is kept.
func TestAdoptRestartsUnverifiedAgent(t *testing.T) {
	t.Parallel()
	needDocker(t)
	opts := testOptions(t, "test-"+randomHex(4))
	opts.UserID, opts.GroupID = 0, 0
	t.Cleanup(func() { removeServer(context.Background(), opts.ServerID) })
	ctx := testCtx(t)
	first, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := first.start(ctx, "conv-a", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "echo kept > /workspace/f; (setsid sleep 1000 &); mv /run/gohands/agent.sock /run/gohands/moved.sock; ln -s moved.sock /run/gohands/agent.sock")
	rec := s.Handle()
	first.Close(ctx)

	second, err := New(env.engine, opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close(context.Background()) })
	a, err := second.recover(ctx, rec)
	if err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if a.Status() != sandbox.StatusRunning {
		t.Errorf("status %s, want running", a.Status())
	}
	res := run(t, a, "cat /workspace/f; [ -S /run/gohands/agent.sock ] && [ ! -L /run/gohands/agent.sock ] && echo socket; pgrep -x sleep || echo no-sleep")
	for _, want := range []string{"kept", "socket", "no-sleep"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("after adoption: %q lacks %q", res.Output, want)
		}
	}
}

// oldAgent plays a runtime-agent from before the handshake: it answers
// every request, the handshake included, with 401 (its routes need the
// token).
const oldAgent = `#!/usr/bin/python3
import os, socketserver, sys
from http.server import BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST
    def log_message(self, *args):
        pass
path = sys.argv[sys.argv.index("--listen") + 1].removeprefix("unix://")
if os.path.exists(path):
    os.remove(path)
srv = socketserver.UnixStreamServer(path, H)
os.chmod(path, 0o666)
srv.serve_forever()
`

// TestStartReplacesOldCopiedAgent: a sandbox made before an upgrade, with
// the agent copied in, still has the old agent, which fails verification;
// its next start copies the current agent in and goes on.
func TestStartReplacesOldCopiedAgent(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.Inject = InjectCopy })
	s := start(t, m, sandbox.Spec{})
	ctx := testCtx(t)
	run(t, s, "echo kept > /workspace/f")
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(sandbox.AgentPath, "/"), Mode: 0o755, Size: int64(len(oldAgent))})
	io.WriteString(tw, oldAgent)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.engine.CopyToContainer(ctx, s.ID(), "/", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start with the old agent in: %v", err)
	}
	if res := run(t, s, "cat /workspace/f; tr '\\0' ' ' < /proc/1/cmdline"); !strings.Contains(res.Output, "kept") || !strings.Contains(res.Output, "--token-fd") {
		t.Errorf("after the start: %q, want the workspace kept and the current agent", res.Output)
	}
}

// reconcile is what a server does at start (session's Restore, here
// without conversations): it recovers the sandboxes of the live handles,
// by id (a short one too) or by owner label, and destroys every other
// sandbox List shows.
func reconcile(m *Manager, ctx context.Context, live []sandbox.Handle) ([]*Sandbox, error) {
	list, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	var (
		adopted []*Sandbox
		errs    []error
	)
	for _, h := range list {
		i := slices.IndexFunc(live, func(l sandbox.Handle) bool {
			return l.ID != "" && len(l.ID) >= 12 && strings.HasPrefix(h.ID, l.ID) || l.ID == "" && l.Owner == h.Owner
		})
		if i < 0 {
			if err := m.Destroy(ctx, h); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		rec := live[i]
		rec.ID = h.ID
		s, err := m.recover(ctx, rec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		adopted = append(adopted, s)
	}
	return adopted, errors.Join(errs...)
}
