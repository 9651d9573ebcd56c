package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

func TestStartAndRun(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	s := start(t, m, sandbox.Spec{})
	if got := s.Status(); got != sandbox.StatusRunning {
		t.Fatalf("status = %s, want running", got)
	}
	if !strings.HasPrefix(s.Endpoint(), "unix://"+m.opts.RunDir) {
		t.Errorf("endpoint %q is not a socket under %s (a local engine)", s.Endpoint(), m.opts.RunDir)
	}
	res := run(t, s, "echo hi; id -u; pwd")
	if want := "hi\n" + strconv.Itoa(m.opts.UserID) + "\n/workspace"; !strings.Contains(res.Output, want) || res.ExitCode != 0 {
		t.Errorf("output %q exit %d, want %q and 0", res.Output, res.ExitCode, want)
	}
	if got := m.Get(s.Owner()); got != s {
		t.Errorf("Get(%s) = %v, want the sandbox", s.Owner(), got)
	}
	if _, err := m.start(testCtx(t), s.Owner(), sandbox.Spec{}); !errors.Is(err, sandbox.ErrExists) {
		t.Errorf("second Start for the same conversation: err = %v, want sandbox.ErrExists", err)
	}
}

// TestTCPTransport publishes the agent's port on 127.0.0.1 only.
func TestTCPTransport(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.Transport = TransportTCP })
	s := start(t, m, sandbox.Spec{})
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("endpoint %q is not on 127.0.0.1", s.Endpoint())
	}
	if res := run(t, s, "echo over tcp"); !strings.Contains(res.Output, "over tcp") {
		t.Errorf("output %q", res.Output)
	}
	info, err := env.engine.ContainerInspect(testCtx(t), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	bindings := info.HostConfig.PortBindings[agentPortKey]
	if len(bindings) != 1 || bindings[0].HostIP != "127.0.0.1" {
		t.Errorf("agent port bindings %v, want 127.0.0.1 only", bindings)
	}
	// The token is required by everything but health.
	wrong := agentapi.NewClient(s.Endpoint(), "wrong")
	if _, err := wrong.Exec(testCtx(t), agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "true"}); err == nil {
		t.Error("exec with a wrong token succeeded")
	}
}

// TestMountsAndOwnership runs commands as a non-root user (1000) in a host
// workspace: host files are visible, written files belong to the user on the
// host, read-only mounts refuse writes and named volumes are mounted.
func TestMountsAndOwnership(t *testing.T) {
	t.Parallel()
	needDocker(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to chown the host folders to uid 1000")
	}
	const uid, gid = 1000, 1000
	ws, ro := t.TempDir(), t.TempDir()
	for _, dir := range []string{ws, ro} {
		if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The workspace is the host user's folder.
	if err := os.Chown(ws, uid, gid); err != nil {
		t.Fatal(err)
	}
	vol := "gohands-test-" + randomHex(4)
	t.Cleanup(func() {
		env.engine.VolumeRemove(context.Background(), vol, true)
	})
	mounts, err := sandbox.ParseVolumes(ws + ":/workspace," + ro + ":/data:ro,volume:" + vol + ":/cache")
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, func(o *Options) { o.UserID, o.GroupID = uid, gid })
	s := start(t, m, sandbox.Spec{Mounts: mounts})

	res := run(t, s, "id -u; cat /workspace/hello.txt /data/hello.txt; echo made > /workspace/out.txt && echo wrote")
	for _, want := range []string{"1000\n", "from the host\nfrom the host\n", "wrote"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output %q lacks %q", res.Output, want)
		}
	}
	fi, err := os.Stat(filepath.Join(ws, "out.txt"))
	if err != nil {
		t.Fatalf("file written in the sandbox is not on the host: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
		t.Errorf("out.txt owned by %d:%d on the host, want %d:%d", st.Uid, st.Gid, uid, gid)
	}

	res = run(t, s, "echo x > /data/new.txt; echo code=$?")
	if !strings.Contains(res.Output, "Read-only file system") || !strings.Contains(res.Output, "code=1") {
		t.Errorf("write to the ro mount: %q, want a read-only error", res.Output)
	}
	if _, err := os.Stat(filepath.Join(ro, "new.txt")); err == nil {
		t.Error("write to the ro mount reached the host")
	}
	res = run(t, s, "mountpoint /cache && echo ok")
	if !strings.Contains(res.Output, "ok") {
		t.Errorf("named volume not mounted: %q", res.Output)
	}
	if _, err := env.engine.VolumeInspect(testCtx(t), vol); err != nil {
		t.Errorf("named volume %s: %v", vol, err)
	}
}

// TestNetworkNone reaches the agent over its Unix socket when the sandbox
// has no network.
func TestNetworkNone(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	s := start(t, m, sandbox.Spec{Limits: sandbox.Limits{Network: sandbox.NetworkNone}})
	if !strings.HasPrefix(s.Endpoint(), "unix://"+m.opts.RunDir) {
		t.Errorf("endpoint %q is not a socket under %s", s.Endpoint(), m.opts.RunDir)
	}
	res := run(t, s, "ls /sys/class/net")
	if got := strings.Fields(res.Output); !cmp.Equal(got, []string{"lo"}) {
		t.Errorf("interfaces %q, want only lo", got)
	}
	info, err := env.engine.ContainerInspect(testCtx(t), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(info.HostConfig.NetworkMode); got != sandbox.NetworkNone {
		t.Errorf("network mode %q", got)
	}
	if len(info.HostConfig.PortBindings) != 0 {
		t.Errorf("ports published with network none: %v", info.HostConfig.PortBindings)
	}
	runDir := filepath.Dir(strings.TrimPrefix(s.Endpoint(), "unix://"))
	if err := s.Remove(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Errorf("run folder %s left after Remove: %v", runDir, err)
	}
}

// TestCopyInject copies the agent into the container instead of binding it.
func TestCopyInject(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.Inject = InjectCopy })
	s := start(t, m, sandbox.Spec{})
	if res := run(t, s, "echo copied"); !strings.Contains(res.Output, "copied") {
		t.Errorf("output %q", res.Output)
	}
	info, err := env.engine.ContainerInspect(testCtx(t), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range info.Mounts {
		if mp.Destination == sandbox.AgentPath {
			t.Errorf("agent bind-mounted in copy mode: %+v", mp)
		}
	}
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	const img = "gohands/no-such-image:test"
	var progress int
	_, err := m.start(testCtx(t), "conv-missing", sandbox.Spec{Image: img, OnPull: func(sandbox.PullProgress) { progress++ }})
	if !errors.Is(err, sandbox.ErrImageMissing) {
		t.Fatalf("err = %v, want sandbox.ErrImageMissing", err)
	}
	for _, want := range []string{img, "make sandbox-image"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if m.Get("conv-missing") != nil {
		t.Error("failed start left a sandbox behind")
	}
}

func TestEngineDown(t *testing.T) {
	needDocker(t)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Connect(ctx)
	if !errors.Is(err, sandbox.ErrEngineDown) || !strings.Contains(err.Error(), "no-docker.sock") {
		t.Errorf("Connect: err = %v, want sandbox.ErrEngineDown naming the host", err)
	}
	engine, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	m, err := New(engine, testOptions(t, "test-down"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	if _, err := m.start(ctx, "conv", sandbox.Spec{}); !errors.Is(err, sandbox.ErrEngineDown) {
		t.Errorf("Start: err = %v, want sandbox.ErrEngineDown", err)
	}
}

// TestAgentCrash starts a sandbox whose "agent" dies at once: the error
// says so and carries its last output.
func TestAgentCrash(t *testing.T) {
	t.Parallel()
	needDocker(t)
	fake := filepath.Join(t.TempDir(), "crashing-agent")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'boom: agent cannot start' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, func(o *Options) { o.AgentBinary = fake })
	_, err := m.start(testCtx(t), "conv-crash", sandbox.Spec{})
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) || !errors.Is(err, sandbox.ErrExited) {
		t.Fatalf("err = %v, want an *sandbox.ExitError", err)
	}
	if !ee.Starting || ee.ExitCode != 3 || !strings.Contains(err.Error(), "boom: agent cannot start") {
		t.Errorf("error %q: want exit code 3 during start with the log line", err)
	}
	assertNoContainers(t, m.opts.ServerID)
}

// TestLimits checks limits and isolation in the inspect data, then sets off
// a fork bomb: it stays inside its pids limit while the host and another
// sandbox keep answering.
func TestLimits(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	limits := sandbox.Limits{Memory: 256 << 20, NanoCPUs: 500_000_000, PidsLimit: 64}
	bomb := start(t, m, sandbox.Spec{Limits: limits})
	other := start(t, m, sandbox.Spec{})

	info, err := env.engine.ContainerInspect(testCtx(t), bomb.ID())
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	got := sandbox.Limits{Memory: hc.Memory, NanoCPUs: hc.NanoCPUs, Network: string(hc.NetworkMode)}
	if hc.PidsLimit != nil {
		got.PidsLimit = *hc.PidsLimit
	}
	limits.Network = sandbox.NetworkBridge
	if diff := cmp.Diff(got, limits); diff != "" {
		t.Errorf("limits (-got +want):\n%s", diff)
	}
	if hc.Privileged || hc.MemorySwap != limits.Memory || !cmp.Equal([]string(hc.CapDrop), []string{"ALL"}) ||
		!cmp.Equal(normalizeCaps(hc.CapAdd), normalizeCaps(capabilities)) || !cmp.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) {
		t.Errorf("isolation: privileged=%v swap=%d capdrop=%v capadd=%v securityopt=%v", hc.Privileged, hc.MemorySwap, hc.CapDrop, hc.CapAdd, hc.SecurityOpt)
	}
	if labels := info.Config.Labels; labels[labelSandbox] != "1" || labels[labelServer] != m.opts.ServerID || labels[labelOwner] != bomb.Owner() {
		t.Errorf("labels %v", labels)
	}
	if res := run(t, other, "echo before"); !strings.Contains(res.Output, "before") {
		t.Fatalf("other sandbox: %q", res.Output)
	}

	// The bomb floods its terminal, so only the context ends this call.
	ctx, cancel := context.WithTimeout(testCtx(t), 6*time.Second)
	defer cancel()
	bombDone := make(chan struct{})
	go func() {
		defer close(bombDone)
		tryRun(ctx, bomb, ":(){ :|:& };:")
	}()
	var most uint64
	for range 8 {
		time.Sleep(500 * time.Millisecond)
		stats, err := env.engine.ContainerStatsOneShot(ctx, bomb.ID())
		if err != nil {
			break
		}
		var v struct {
			PidsStats struct{ Current uint64 } `json:"pids_stats"`
		}
		decodeJSON(t, stats.Body, &v)
		most = max(most, v.PidsStats.Current)
	}
	<-bombDone
	if most > uint64(limits.PidsLimit) {
		t.Errorf("bomb reached %d processes, limit %d", most, limits.PidsLimit)
	}
	if most < uint64(limits.PidsLimit)/2 {
		t.Errorf("bomb reached only %d processes: did it run?", most)
	}
	events, _ := os.ReadFile("/sys/fs/cgroup/pids/docker/" + bomb.ID() + "/pids.events")
	t.Logf("bomb sandbox: at most %d processes seen (limit %d); cgroup pids.events: %q", most, limits.PidsLimit, strings.TrimSpace(string(events)))
	if res := run(t, other, "echo after"); !strings.Contains(res.Output, "after") {
		t.Errorf("other sandbox after the bomb: %q", res.Output)
	}
	if out, err := hostCommand("sh", "-c", "echo host ok"); err != nil || !strings.Contains(out, "host ok") {
		t.Errorf("host after the bomb: %q %v", out, err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if err := bomb.Remove(rctx); err != nil {
		t.Errorf("remove the bombed sandbox: %v", err)
	}
}

// TestCapabilities checks what a root shell in a sandbox may do: exactly
// the kept capabilities, and no way to gain more.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.UserID, o.GroupID = 0, 0 })
	s := start(t, m, sandbox.Spec{})
	res := run(t, s, "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status")
	want := capMask(t, capabilities)
	for _, field := range []string{"CapBnd", "CapEff"} {
		if !strings.Contains(res.Output, field+":\t"+want) {
			t.Errorf("%s of a root shell: %q, want %s", field, res.Output, want)
		}
	}
	if !strings.Contains(res.Output, "NoNewPrivs:\t1") {
		t.Errorf("no-new-privileges not set: %q", res.Output)
	}
	res = run(t, s, "mknod /tmp/dev c 1 3; echo code=$?")
	if !strings.Contains(res.Output, "code=1") {
		t.Errorf("mknod allowed: %q", res.Output)
	}
}

// TestPauseResume freezes a sandbox with a background counter running and
// checks the same process goes on counting after unpause.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	s := start(t, m, sandbox.Spec{})
	// The counter is written to a new file that replaces the old one in
	// one rename: a reader sees a whole number, never a file the shell
	// has just truncated.
	res := run(t, s, "(while :; do n=$((n+1)); echo $n > /tmp/count.new; mv -f /tmp/count.new /tmp/count; sleep 0.05; done) >/dev/null 2>&1 & echo pid=$!")
	pid := field(res.Output, "pid=")
	if pid == "" {
		t.Fatalf("no pid in %q", res.Output)
	}
	waitFor(t, time.Minute, "the counter's first number", func() bool {
		_, err := strconv.Atoi(lastLine(run(t, s, "cat /tmp/count 2>/dev/null").Output))
		return err == nil
	})
	if err := s.Pause(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Inspect(testCtx(t)); err != nil || !st.Paused || st.Status != sandbox.StatusPaused {
		t.Fatalf("after Pause: %+v %v", st, err)
	}
	if _, _, err := s.Use(testCtx(t)); !errors.Is(err, sandbox.ErrPaused) {
		t.Errorf("Use of a paused sandbox: err = %v, want sandbox.ErrPaused", err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := s.Unpause(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	first := run(t, s, "kill -0 "+pid+" && echo alive; cat /tmp/count")
	if !strings.Contains(first.Output, "alive") {
		t.Fatalf("counter process %s gone after unpause: %q", pid, first.Output)
	}
	a, err := strconv.Atoi(lastLine(first.Output))
	if err != nil {
		t.Fatalf("counter after unpause: %q: %v", first.Output, err)
	}
	// The counter goes on: a later read finds a higher number (the wait
	// is bounded generously, for a loaded machine).
	b := a
	waitFor(t, time.Minute, fmt.Sprintf("the counter to pass %d after unpause", a), func() bool {
		out := run(t, s, "cat /tmp/count").Output
		n, err := strconv.Atoi(lastLine(out))
		if err != nil {
			t.Fatalf("counter: %q: %v", out, err)
		}
		if n < b {
			t.Fatalf("counter went back from %d to %d", b, n)
		}
		b = n
		return n > a
	})
}

// TestRunningCount follows Running, which the server's
// gohands_sandboxes_running reports, through a sandbox's life, the warm
// pool's included.
func TestRunningCount(t *testing.T) {
	t.Parallel()
	m := newManager(t, func(o *Options) { o.PoolSize = 1 })
	waitFor(t, time.Minute, "the warm pool to fill", func() bool { return m.PoolSize() == 1 })
	if n := m.Running(); n != 1 {
		t.Errorf("Running with the pool's sandbox = %d, want 1", n)
	}
	s := start(t, m, sandbox.Spec{}) // the pool's, and the pool refills
	waitFor(t, time.Minute, "the warm pool to refill", func() bool { return m.PoolSize() == 1 })
	steps := []struct {
		name string
		do   func(context.Context) error
		want int
	}{
		{"started", func(context.Context) error { return nil }, 2},
		{"paused", s.Pause, 2},
		{"unpaused", s.Unpause, 2},
		{"stopped", s.Stop, 1},
		{"started again", s.Start, 2},
		{"removed", s.Remove, 1},
	}
	for _, st := range steps {
		if err := st.do(testCtx(t)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n := m.Running(); n != st.want {
			t.Errorf("Running once %s = %d, want %d", st.name, n, st.want)
		}
	}
}

// TestKilledContainer kills a sandbox behind the Manager's back: the death
// is noticed with a clear error, and Start brings the same container back.
func TestKilledContainer(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	changes := m.Changes()
	s := start(t, m, sandbox.Spec{})
	run(t, s, "echo keep > /workspace/kept")
	if err := env.engine.ContainerKill(testCtx(t), s.ID(), "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the kill to be noticed", func() bool { return s.Status() == sandbox.StatusExited })
	err := s.Err()
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 137 || !strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), s.Owner()) {
		t.Errorf("Err() = %v, want an exit error with code 137 naming the owner", err)
	}
	if _, _, err := s.Use(testCtx(t)); !errors.Is(err, sandbox.ErrExited) {
		t.Errorf("Use after the kill: err = %v, want sandbox.ErrExited", err)
	}
	if err := s.Check(testCtx(t)); !errors.Is(err, sandbox.ErrExited) {
		t.Errorf("Check after the kill: err = %v, want sandbox.ErrExited", err)
	}
	var sawExited bool
	for len(changes) > 0 {
		if c := <-changes; c.Status == sandbox.StatusExited && c.ID == s.ID() && c.Owner == s.Owner() && c.Err != nil {
			sawExited = true
		}
	}
	if !sawExited {
		t.Error("Changes did not report the exit")
	}
	if err := s.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if res := run(t, s, "cat /workspace/kept"); !strings.Contains(res.Output, "keep") {
		t.Errorf("after restart: %q, want the file written before the kill", res.Output)
	}
}

// TestStopAndUse stops a sandbox (as its owner does when it is idle); the
// next Use restarts the same container with the same workspace.
func TestStopAndUse(t *testing.T) {
	t.Parallel()
	m := newManager(t, nil)
	s := start(t, m, sandbox.Spec{})
	run(t, s, "echo keep > /workspace/kept")
	if err := s.Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st != sandbox.StatusStopped {
		t.Fatalf("status after Stop: %s", st)
	}
	if st, err := s.Inspect(testCtx(t)); err != nil || st.Running {
		t.Fatalf("container still running after the stop: %+v %v", st, err)
	}
	id := s.ID()
	if res := run(t, s, "cat /workspace/kept"); !strings.Contains(res.Output, "keep") {
		t.Errorf("after restart: %q", res.Output)
	}
	if s.ID() != id || m.Get(s.Owner()) != s {
		t.Error("restart did not reuse the container")
	}
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(out, prefix string) string {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return ""
}

func lastLine(out string) string {
	lines := strings.Fields(strings.TrimSpace(out))
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// normalizeCaps sorts capability names without their CAP_ prefix, as
// engines differ in how they report them.
func normalizeCaps(caps []string) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	}
	slices.Sort(out)
	return out
}
