package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Container labels.
const (
	labelSandbox = "gohands.sandbox" // "1" on every sandbox
	labelServer  = "gohands.server"  // Options.ServerID
	// labelOwner carries the owner key given to Start ("" for the pool).
	// It keeps the name it had when the only owners were conversations,
	// so that containers an older server made are still recognised.
	labelOwner     = "gohands.conversation"
	labelInstance  = "gohands.instance"  // the Manager that created it
	labelPool      = "gohands.pool"      // "1" when created for the warm pool
	labelTransport = "gohands.transport" // "tcp" or "unix"
)

// agentPortKey is the agent's port in the engine's notation.
var agentPortKey = nat.Port(strconv.Itoa(AgentPort) + "/tcp")

// capabilities are the only ones a sandbox keeps; everything else is
// dropped, and no-new-privileges is set. The agent runs as root and needs:
// SETUID and SETGID to start shells as the sandbox user, CHOWN to give the
// user its home and workspace, DAC_OVERRIDE to work in folders the user
// owns (its terminal files, the workspace), KILL to signal the user's
// processes (reset, hard timeouts), FOWNER to set modes and times on the
// user's files (uploads). Each of the first five was found necessary by
// starting the agent without it (TestCapabilities keeps the set honest).
// NET_BIND_SERVICE lets a root sandbox serve on ports below 1024. Dropped
// from Docker's defaults: AUDIT_WRITE, FSETID, MKNOD, NET_RAW, SETFCAP,
// SETPCAP, SYS_CHROOT. Commands run as a non-root user have no
// capabilities at all.
var capabilities = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"}

// create makes, starts and health-checks a new sandbox. On failure nothing
// is left behind.
func (m *Manager) create(ctx context.Context, conv string, r resolved, onPull func(sandbox.PullProgress), pooled bool) (*Sandbox, error) {
	s := &Sandbox{
		m:         m,
		name:      "gohands-" + randomHex(6),
		image:     r.image,
		token:     rand.Text(),
		transport: r.transport,
		pooled:    pooled,
		// A pool sandbox's owner says at handover (see take).
		keep:       !pooled && r.workspace != "",
		disposable: r.disposable,
	}
	s.cell = sandbox.NewStatusCell(conv, sandbox.StatusStarting, s.report)
	made := false
	if r.wantsVolume() {
		given := r.volume
		if given == newVolume {
			given = ""
		}
		var err error
		if s.volume, made, err = m.workspaceVolume(ctx, conv, given); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok && made {
			// After the failed container, removed first (deferred later).
			m.removeVolume(context.WithoutCancel(ctx), s.volume)
		}
	}()
	if r.slot {
		if s.slot = m.slotDirOf(s.name); s.slot == "" {
			return nil, errors.New("sandbox slot folder: no Options.SlotDir")
		}
		// Not stale while its container is being made (dropStaleSlots).
		m.mu.Lock()
		m.makingSlots[s.slot] = true
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			delete(m.makingSlots, s.slot)
			m.mu.Unlock()
		}()
		if err := os.MkdirAll(filepath.Join(s.slot, "ws"), 0o755); err != nil {
			return nil, fmt.Errorf("sandbox slot folder: %w", err)
		}
		defer func() {
			if !ok {
				m.dropSlot(s.slot)
			}
		}()
	}
	if r.transport == TransportUnix {
		s.runDir = filepath.Join(m.opts.RunDir, s.name)
		if err := os.MkdirAll(s.runDir, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox run folder: %w", err)
		}
	}
	cfg, hc, err := m.containerConfig(s, r)
	if err != nil {
		os.RemoveAll(s.runDir)
		return nil, err
	}
	resp, err := m.engine.ContainerCreate(ctx, cfg, hc, nil, nil, s.name)
	if err != nil && cerrdefs.IsNotFound(err) {
		if err = m.pull(ctx, r.image, onPull); err == nil {
			resp, err = m.engine.ContainerCreate(ctx, cfg, hc, nil, nil, s.name)
		}
	}
	if err != nil {
		os.RemoveAll(s.runDir)
		return nil, fmt.Errorf("create sandbox from %s: %w", r.image, engineErr(m.engine, err))
	}
	s.id = resp.ID
	m.reg.Add(s)
	defer func() {
		if !ok {
			m.discard(ctx, s)
		}
	}()
	if err := s.copyAgent(ctx); err != nil {
		return nil, err
	}
	if err := s.boot(ctx); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// copyAgent puts the runtime-agent into the (stopped) container when the
// Manager injects it by copy.
func (s *Sandbox) copyAgent(ctx context.Context) error {
	m := s.m
	if m.inject != InjectCopy {
		return nil
	}
	tarball, err := m.agentArchive()
	if err != nil {
		return err
	}
	if err := m.engine.CopyToContainer(ctx, s.id, "/", bytes.NewReader(tarball), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy runtime-agent into sandbox %s: %w", s.name, engineErr(m.engine, err))
	}
	return nil
}

// discard removes a sandbox that failed to start (or is no longer wanted),
// even when ctx is already cancelled.
func (m *Manager) discard(ctx context.Context, s *Sandbox) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.remove(ctx); err != nil {
		m.log.WarnContext(ctx, "remove failed sandbox", "container", s.name, "err", err)
	}
}

// boot starts the container and waits for the agent's health check.
// The caller holds s.op or owns s exclusively.
//
// An agent that fails verification (agentapi.ErrUnverified) right after a
// start is no agent of this server's: in a container made before an
// upgrade it is the old agent copied in then, which knows no handshake.
// When the Manager copies the agent in, boot then copies the current one
// and starts the container once more. (A bound agent is the current one
// at every start.)
func (s *Sandbox) boot(ctx context.Context) error {
	err := s.bootOnce(ctx)
	if !errors.Is(err, agentapi.ErrUnverified) || s.m.inject != InjectCopy {
		return err
	}
	s.m.log.WarnContext(ctx, "starting sandbox again with the current agent", "container", s.name, "owner", s.Owner(), "err", err)
	if err := s.copyAgent(ctx); err != nil {
		return err
	}
	return s.bootOnce(ctx)
}

// bootOnce is boot without the second try.
func (s *Sandbox) bootOnce(ctx context.Context) error {
	m := s.m
	s.setStatus(sandbox.StatusStarting, nil)
	if s.runDir != "" {
		// A socket left by the previous run would answer nothing.
		os.Remove(filepath.Join(s.runDir, sandbox.SocketName))
	}
	if err := m.engine.ContainerStart(ctx, s.id, container.StartOptions{}); err != nil {
		err = fmt.Errorf("start sandbox %s: %w", s.name, engineErr(m.engine, err))
		s.setStatus(sandbox.StatusStopped, err)
		return err
	}
	var cl *agentapi.Client
	var endpoint string
	if s.transport == TransportUnix {
		cl, endpoint = s.newClient("")
	} else {
		info, err := m.engine.ContainerInspect(ctx, s.id)
		if err != nil {
			return s.failStart(ctx, fmt.Errorf("inspect sandbox %s: %w", s.name, engineErr(m.engine, err)))
		}
		tcp, err := tcpEndpoint(info)
		if err != nil {
			return s.failStart(ctx, s.exitError(ctx, info, true, err))
		}
		cl, endpoint = s.newClient(tcp)
	}
	if err := s.waitHealthy(ctx, cl); err != nil {
		return s.failStart(ctx, err)
	}
	s.setRunning(cl, endpoint)
	return nil
}

// failStart stops a container whose agent never became healthy and
// records err.
func (s *Sandbox) failStart(ctx context.Context, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	zero := 0
	s.m.engine.ContainerStop(ctx, s.id, container.StopOptions{Timeout: &zero})
	st := sandbox.StatusStopped
	if errors.Is(err, sandbox.ErrExited) {
		st = sandbox.StatusExited
	}
	s.setStatus(st, err)
	return err
}

// newClient makes the agent client of s: over its Unix socket, or over
// TCP at endpoint. It returns the endpoint as Sandbox.Endpoint reports it.
func (s *Sandbox) newClient(endpoint string) (*agentapi.Client, string) {
	// A connection that fails the handshake means the sandbox moved or
	// replaced its agent's socket (or the agent is not this sandbox's):
	// nothing was sent to it, but whoever runs the server must know.
	onUnverified := agentapi.OnUnverified(func(err error) {
		s.m.log.Warn("agent socket failed verification", "container", s.name, "owner", s.Owner(), "err", err)
	})
	if s.transport == TransportUnix {
		sock := filepath.Join(s.runDir, sandbox.SocketName)
		return agentapi.NewUnixClient(sock, s.token, onUnverified), "unix://" + sock
	}
	return agentapi.NewClient(endpoint, s.token, onUnverified), endpoint
}

func tcpEndpoint(info container.InspectResponse) (string, error) {
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[agentPortKey] {
			if b.HostPort != "" {
				host := b.HostIP
				if host == "" || host == "0.0.0.0" {
					host = "127.0.0.1"
				}
				return "http://" + host + ":" + b.HostPort, nil
			}
		}
	}
	if info.State != nil && !info.State.Running {
		return "", errors.New("container not running")
	}
	return "", fmt.Errorf("no host port published for %s", agentPortKey)
}

// waitHealthy polls the agent's /health until it answers, the container
// exits, or Options.StartTimeout passes. It gives up at once when the peer
// fails the handshake (agentapi.ErrUnverified): that is no agent starting,
// and waiting will not make it one.
func (s *Sandbox) waitHealthy(ctx context.Context, cl *agentapi.Client) error {
	m := s.m
	ctx, cancel := context.WithTimeout(ctx, m.opts.StartTimeout)
	defer cancel()
	start := time.Now()
	delay := 2 * time.Millisecond
	nextInspect := start.Add(50 * time.Millisecond)
	var lastErr error
	for {
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		lastErr = cl.Health(hctx)
		hcancel()
		if lastErr == nil {
			m.log.DebugContext(ctx, "sandbox healthy", "container", s.name, "after", time.Since(start))
			return nil
		}
		if errors.Is(lastErr, agentapi.ErrUnverified) {
			return fmt.Errorf("sandbox %s: %w", s.name, lastErr)
		}
		if time.Now().After(nextInspect) || ctx.Err() != nil {
			ictx, icancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			info, err := m.engine.ContainerInspect(ictx, s.id)
			icancel()
			switch {
			case err != nil:
				return fmt.Errorf("inspect sandbox %s: %w", s.name, engineErr(m.engine, err))
			case info.State != nil && !info.State.Running:
				return s.exitError(ctx, info, true, nil)
			}
			nextInspect = time.Now().Add(100 * time.Millisecond)
		}
		if ctx.Err() != nil {
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			logs := lastLogs(lctx, m.engine, s.id, 20)
			lcancel()
			return fmt.Errorf("%w: sandbox %s: runtime-agent did not answer /health within %s (last error: %v); last log lines:\n%s",
				sandbox.ErrNotReady, s.name, time.Since(start).Round(time.Millisecond), lastErr, strings.TrimSpace(logs))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(delay*3/2, 20*time.Millisecond)
	}
}

// exitError describes a stopped container, with its last log lines.
func (s *Sandbox) exitError(ctx context.Context, info container.InspectResponse, starting bool, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	logs := lastLogs(ctx, s.m.engine, s.id, crashScan)
	e := &sandbox.ExitError{Container: s.name, Owner: s.Owner(), Starting: starting,
		Crash: crashLine(logs), Logs: lastLines(logs, 20)}
	if info.State != nil {
		e.ExitCode, e.OOMKilled, e.EngineError = info.State.ExitCode, info.State.OOMKilled, info.State.Error
	}
	if e.EngineError == "" && cause != nil {
		e.EngineError = cause.Error()
	}
	return e
}

// containerConfig builds the create request for s.
func (m *Manager) containerConfig(s *Sandbox, r resolved) (*container.Config, *container.HostConfig, error) {
	listen := "tcp://0.0.0.0:" + strconv.Itoa(AgentPort)
	if r.transport == TransportUnix {
		listen = "unix://" + sandbox.RunDir + "/" + sandbox.SocketName
	}
	labels := maps.Clone(m.opts.Labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	maps.Copy(labels, map[string]string{
		labelSandbox:   "1",
		labelServer:    m.opts.ServerID,
		labelOwner:     s.Owner(),
		labelInstance:  m.instance,
		labelTransport: string(r.transport),
	})
	if s.pooled {
		labels[labelPool] = "1"
	}
	if s.slot != "" {
		labels[labelSlot] = "1"
	}
	switch {
	case s.volume != "":
		labels[labelWorkspace] = s.volume
	case r.disposable:
		labels[labelWorkspace] = workspaceOnMount
	}
	// The agent re-executes itself at once without the token in its
	// environment (cmd/runtime-agent), so nothing in the sandbox can read
	// it; the container's configuration keeps it for Adopt, seen only by
	// holders of engine access.
	env := []string{agentapi.TokenEnv + "=" + s.token}
	for _, k := range slices.Sorted(maps.Keys(r.env)) {
		if k != agentapi.TokenEnv { // the token is ours to set
			env = append(env, k+"="+r.env[k])
		}
	}
	cfg := &container.Config{
		Image: r.image,
		Entrypoint: []string{sandbox.AgentPath,
			"--listen", listen,
			"--user-id", strconv.Itoa(m.opts.UserID),
			"--group-id", strconv.Itoa(m.opts.GroupID),
			"--workdir", sandbox.WorkspaceDir,
		},
		Env:        env,
		Labels:     labels,
		WorkingDir: sandbox.WorkspaceDir,
	}
	pids := r.limits.PidsLimit
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(r.limits.Network),
		Resources: container.Resources{
			Memory:    r.limits.Memory,
			NanoCPUs:  r.limits.NanoCPUs,
			PidsLimit: &pids,
		},
		CapDrop:       []string{"ALL"},
		CapAdd:        m.caps,
		SecurityOpt:   []string{"no-new-privileges"},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "1"}},
	}
	if r.limits.Memory > 0 {
		hc.Resources.MemorySwap = r.limits.Memory // no swap on top
	}
	if r.transport == TransportTCP {
		cfg.ExposedPorts = nat.PortSet{agentPortKey: {}}
		hc.PortBindings = nat.PortMap{agentPortKey: {{HostIP: "127.0.0.1", HostPort: ""}}}
	}
	if m.inject == InjectBind {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.opts.AgentBinary, Target: sandbox.AgentPath, ReadOnly: true})
	}
	if s.runDir != "" {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: s.runDir, Target: sandbox.RunDir})
	}
	if s.volume != "" {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: s.volume, Target: r.workspace})
	}
	if s.slot != "" {
		hc.Mounts = append(hc.Mounts, slotMount(s, r.workspace))
	}
	for _, mt := range r.mounts {
		if mt.Volume {
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: mt.Source, Target: mt.Target, ReadOnly: mt.ReadOnly})
			continue
		}
		if m.local {
			if err := m.ensureHostDir(mt.Source); err != nil {
				return nil, nil, err
			}
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: mt.Source, Target: mt.Target, ReadOnly: mt.ReadOnly})
	}
	return cfg, hc, nil
}

// ensureHostDir creates a missing bind-mount source, owned by the sandbox
// user when this process may chown, so the user can write into it.
func (m *Manager) ensureHostDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sandbox volume %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create sandbox volume folder: %w", err)
	}
	if os.Getuid() == 0 {
		os.Chown(dir, m.opts.UserID, m.opts.GroupID)
	}
	return nil
}

// agentArchive returns a tar holding the agent binary at sandbox.AgentPath, built
// once.
func (m *Manager) agentArchive() ([]byte, error) {
	m.tarOnce.Do(func() {
		bin, err := os.ReadFile(m.opts.AgentBinary)
		if err != nil {
			m.tarErr = fmt.Errorf("read runtime-agent: %w", err)
			return
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		now := time.Now()
		for _, dir := range []string{"opt/", "opt/gohands/"} {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: now})
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(sandbox.AgentPath, "/"), Mode: 0o755, Size: int64(len(bin)), ModTime: now})
		tw.Write(bin)
		if err := tw.Close(); err != nil {
			m.tarErr = fmt.Errorf("archive runtime-agent: %w", err)
			return
		}
		m.tarball = buf.Bytes()
	})
	return m.tarball, m.tarErr
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
