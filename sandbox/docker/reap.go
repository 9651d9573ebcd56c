package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// List returns the handles of this server's containers (label
// gohands.server=ServerID) that this Manager does not hold: those an
// earlier run left, running or not, each with its workspace volume. Then,
// as handles with no ID, the server's workspace volumes that no container
// names and this Manager did not make. The token is not read (Recover
// reads it from the container's environment when the saved handle has
// none).
func (m *Manager) List(ctx context.Context) ([]sandbox.Handle, error) {
	list, err := m.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: m.ownFilter()})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", engineErr(m.engine, err))
	}
	var out []sandbox.Handle
	mounted := make(map[string]bool)
	for _, c := range list {
		vol, onMount := c.Labels[labelWorkspace], false
		if vol == workspaceOnMount {
			vol, onMount = "", true
		}
		if vol != "" {
			mounted[vol] = true
		}
		if c.Labels[labelInstance] == m.instance || m.reg.Lookup(c.ID) != nil {
			continue
		}
		owner := c.Labels[labelOwner]
		if c.Labels[labelSlot] == "1" && owner == "" && len(c.Names) > 0 {
			// A fork pool sandbox taken for an owner says so in its slot.
			if si, ok := m.readSlot(strings.TrimPrefix(c.Names[0], "/")); ok {
				owner = si.Owner
			}
		}
		out = append(out, sandbox.Handle{Owner: owner, ID: c.ID, Image: c.Image,
			Volume: vol, Disposable: vol != "" || onMount})
	}
	vols, err := m.orphanVolumes(ctx, mounted)
	if err != nil {
		return nil, err
	}
	return append(out, vols...), nil
}

// Destroy removes a container of this server that the Manager does not
// hold, with its anonymous volumes and its run folder (when that lies
// under Options.RunDir). One the Manager holds is removed as Remove does.
// Then it removes the workspace volume h.Volume, when set and this
// server's (with no h.ID, only that).
func (m *Manager) Destroy(ctx context.Context, h sandbox.Handle) error {
	if h.ID != "" {
		if err := m.destroyContainer(ctx, h); err != nil {
			return err
		}
	}
	if h.Volume != "" {
		return m.removeVolume(ctx, h.Volume)
	}
	return nil
}

// destroyContainer is Destroy of the container alone.
func (m *Manager) destroyContainer(ctx context.Context, h sandbox.Handle) error {
	if s := m.reg.Lookup(h.ID); s != nil {
		return s.Remove(ctx)
	}
	info, err := m.engine.ContainerInspect(ctx, h.ID)
	if isGone(err) {
		// Removed by another (an earlier server whose request the
		// engine finished): its slot, if it had one, goes now.
		if m.slotsOn() {
			m.dropStaleSlots(ctx)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove sandbox %s: %w", h.ID, engineErr(m.engine, err))
	}
	if !m.owns(info) {
		return fmt.Errorf("remove sandbox %s: not a sandbox of server %s", h.ID, m.opts.ServerID)
	}
	name := strings.TrimPrefix(info.Name, "/")
	err = m.engine.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isGone(err) {
		return fmt.Errorf("remove sandbox %s: %w", name, engineErr(m.engine, err))
	}
	if dir := m.runDirOf(info.Mounts); dir != "" {
		os.RemoveAll(dir)
	}
	if info.Config.Labels[labelSlot] == "1" {
		if dir := m.slotDirOf(name); dir != "" {
			if err := m.dropSlot(dir); err != nil {
				m.log.WarnContext(ctx, "slot of a removed sandbox not removed", "slot", dir, "err", err)
			}
		}
	}
	m.log.InfoContext(ctx, "sandbox removed", "container", name, "owner", info.Config.Labels[labelOwner])
	return nil
}

// Release forgets the sandbox of h; its container stays as it is, and
// Recover takes it over again.
func (m *Manager) Release(h sandbox.Handle) {
	s, ok := m.reg.Release(h.ID)
	if !ok {
		return
	}
	if cl := s.Client(); cl != nil {
		cl.CloseIdleConnections()
	}
}

// Recover takes over one existing sandbox container of this server for
// h.Owner: by h.ID, or, when that is empty, the container labelled with
// the owner. With h.Token empty the token is read from the container's
// environment. A running container must answer its health check; a
// stopped one is taken over as stopped and restarts on next Use.
func (m *Manager) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	s, err := m.recover(ctx, h)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// recover is Recover giving the concrete sandbox.
func (m *Manager) recover(ctx context.Context, h sandbox.Handle) (*Sandbox, error) {
	id, err := m.containerOf(ctx, h)
	if err != nil {
		return nil, err
	}
	info, err := m.engine.ContainerInspect(ctx, id)
	if err != nil {
		if isGone(err) {
			return nil, fmt.Errorf("adopt sandbox %s: %w", id, sandbox.ErrRemoved)
		}
		return nil, fmt.Errorf("adopt sandbox %s: %w", id, engineErr(m.engine, err))
	}
	if info.State == nil || !m.owns(info) {
		return nil, fmt.Errorf("adopt sandbox %s: not a sandbox of server %s", id, m.opts.ServerID)
	}
	s, err := m.sandboxOf(info, h)
	if err != nil {
		return nil, err
	}
	if held, err := m.reg.Hold(s); held != nil || err != nil {
		return held, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if info.State.Running {
		if err := s.reconnect(ctx, info); err != nil {
			m.reg.Forget(s)
			return nil, fmt.Errorf("adopt sandbox %s: %w", s.name, err)
		}
	} else {
		s.setStatus(sandbox.StatusStopped, nil)
	}
	m.log.InfoContext(ctx, "sandbox adopted", "container", s.name, "owner", s.Owner(), "status", s.Status())
	return s, nil
}

// containerOf finds the container id of h: h.ID, or the one container
// labelled with h.Owner.
func (m *Manager) containerOf(ctx context.Context, h sandbox.Handle) (string, error) {
	if h.ID != "" {
		return h.ID, nil
	}
	f := m.ownFilter()
	f.Add("label", labelOwner+"="+h.Owner)
	list, err := m.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return "", fmt.Errorf("adopt sandbox of %s: %w", h.Owner, engineErr(m.engine, err))
	}
	if len(list) != 1 {
		return "", fmt.Errorf("adopt sandbox of %s: %d containers carry its label", h.Owner, len(list))
	}
	return list[0].ID, nil
}

// sandboxOf makes the Sandbox of an existing container, not yet held.
func (m *Manager) sandboxOf(info container.InspectResponse, h sandbox.Handle) (*Sandbox, error) {
	labels := info.Config.Labels
	owner := h.Owner
	if owner == "" {
		owner = labels[labelOwner]
	}
	if owner == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no owner", info.ID)
	}
	token := h.Token
	if token == "" {
		for _, kv := range info.Config.Env {
			if v, ok := strings.CutPrefix(kv, agentapi.TokenEnv+"="); ok {
				token = v
			}
		}
	}
	if token == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no token recorded or in its environment", info.ID)
	}
	s := &Sandbox{
		m:         m,
		id:        info.ID,
		name:      strings.TrimPrefix(info.Name, "/"),
		image:     info.Config.Image,
		token:     token,
		transport: Transport(labels[labelTransport]),
		pooled:    labels[labelPool] == "1",
	}
	s.cell = sandbox.NewStatusCell(owner, sandbox.StatusStopped, s.report)
	if labels[labelSlot] == "1" {
		if dir := m.slotDirOf(s.name); dir != "" {
			if _, err := os.Stat(dir); err == nil {
				s.slot = dir
			}
		}
	}
	if ws, ok := labels[labelWorkspace]; ok {
		s.keep, s.disposable = true, true
		if ws != workspaceOnMount {
			s.volume = ws
		}
	}
	if s.transport != TransportUnix {
		s.transport = TransportTCP
		return s, nil
	}
	for _, mp := range info.Mounts {
		if mp.Destination == sandbox.RunDir {
			s.runDir = mp.Source
		}
	}
	if s.runDir == "" {
		return nil, fmt.Errorf("adopt sandbox %s: unix transport but no %s mount", s.name, sandbox.RunDir)
	}
	return s, nil
}

// reconnect reaches the agent of an adopted running (or paused)
// container. The caller holds s.op.
func (s *Sandbox) reconnect(ctx context.Context, info container.InspectResponse) error {
	endpoint := ""
	if s.transport != TransportUnix {
		tcp, err := tcpEndpoint(info)
		if err != nil {
			return err
		}
		endpoint = tcp
	}
	cl, endpoint := s.newClient(endpoint)
	if info.State.Paused {
		s.cell.SetAgent(sandbox.StatusPaused, cl, endpoint)
		return nil
	}
	err := s.waitHealthy(ctx, cl)
	if errors.Is(err, agentapi.ErrUnverified) {
		// The agent predates the handshake (a sandbox made before an
		// upgrade), or the sandbox moved its socket. A restart runs the
		// current agent afresh (see boot), keeps the workspace, and ends
		// whatever the sandbox put in the agent's place.
		s.m.log.WarnContext(ctx, "restarting sandbox whose agent failed verification", "container", s.name, "owner", s.Owner(), "err", err)
		return s.restart(ctx)
	}
	if err != nil {
		return err
	}
	s.setRunning(cl, endpoint)
	return nil
}

// restart stops the container and boots it again. The caller holds s.op.
func (s *Sandbox) restart(ctx context.Context) error {
	secs := int(math.Ceil(s.m.opts.StopTimeout.Seconds()))
	if err := s.m.engine.ContainerStop(ctx, s.id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	return s.boot(ctx)
}

// owns reports whether a container is a sandbox of this server.
func (m *Manager) owns(info container.InspectResponse) bool {
	return info.Config != nil && info.Config.Labels[labelSandbox] == "1" && info.Config.Labels[labelServer] == m.opts.ServerID
}

// ownFilter selects this server's sandbox containers.
func (m *Manager) ownFilter() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", labelSandbox+"=1"),
		filters.Arg("label", labelServer+"="+m.opts.ServerID),
	)
}

// runDirOf finds a container's host run folder, only when it lies under
// Options.RunDir (never delete anything else).
func (m *Manager) runDirOf(mounts []container.MountPoint) string {
	for _, mp := range mounts {
		if mp.Destination == sandbox.RunDir && filepath.Dir(mp.Source) == filepath.Clean(m.opts.RunDir) {
			return mp.Source
		}
	}
	return ""
}
