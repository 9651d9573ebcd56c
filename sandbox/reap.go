package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/agentapi"
)

// Reconcile is called on server start with the sandboxes of live
// conversations, as persisted from Sandbox.Record. It lists this server's
// containers (label gohands.server=ServerID) and re-adopts those that
// belong to a live conversation (matched by container id, or by the
// conversation label when a Record has no container id), whatever their
// state; a stopped one restarts on next Use. Every other container of this
// server is an orphan and is removed, except those this Manager made
// itself. It returns the adopted sandboxes; errors for single containers
// are joined, and the rest still proceeds.
func (m *Manager) Reconcile(ctx context.Context, live []Record) ([]*Sandbox, error) {
	list, err := m.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: m.ownFilter()})
	if err != nil {
		return nil, fmt.Errorf("reconcile sandboxes: %w", engineErr(m.engine, err))
	}
	byContainer := make(map[string]Record)
	byConv := make(map[string]Record)
	for _, r := range live {
		if r.ContainerID != "" {
			byContainer[r.ContainerID] = r
		} else if r.ConversationID != "" {
			byConv[r.ConversationID] = r
		}
	}
	var (
		adopted []*Sandbox
		errs    []error
		removed int
	)
	for _, c := range list {
		if c.Labels[labelInstance] == m.instance || m.lookup(c.ID) != nil {
			continue
		}
		rec, ok := byContainer[c.ID]
		if !ok {
			for id, r := range byContainer { // a short id is fine too
				if len(id) >= 12 && strings.HasPrefix(c.ID, id) {
					rec, ok = r, true
					break
				}
			}
		}
		if conv := c.Labels[labelConversation]; !ok && conv != "" {
			rec, ok = byConv[conv]
			delete(byConv, conv) // one container per conversation
		}
		if ok {
			rec.ContainerID = c.ID
			s, err := m.Adopt(ctx, rec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			adopted = append(adopted, s)
			continue
		}
		name := strings.TrimPrefix(firstOr(c.Names, c.ID), "/")
		err := m.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("remove orphan sandbox %s: %w", name, engineErr(m.engine, err)))
			continue
		}
		if dir := m.runDirOf(c); dir != "" {
			os.RemoveAll(dir)
		}
		m.log.InfoContext(ctx, "orphan sandbox removed", "container", name, "conversation", c.Labels[labelConversation])
		removed++
	}
	m.log.InfoContext(ctx, "sandboxes reconciled", "adopted", len(adopted), "orphans_removed", removed)
	return adopted, errors.Join(errs...)
}

// Adopt takes over one existing sandbox container of this server for
// rec.ConversationID: by rec.ContainerID, or, when that is empty, the
// container labelled with the conversation. With rec.Token empty the token
// is read from the container's environment. A running container must
// answer its health check; a stopped one is adopted as stopped and
// restarts on next Use.
func (m *Manager) Adopt(ctx context.Context, rec Record) (*Sandbox, error) {
	id := rec.ContainerID
	if id == "" {
		f := m.ownFilter()
		f.Add("label", labelConversation+"="+rec.ConversationID)
		list, err := m.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return nil, fmt.Errorf("adopt sandbox of %s: %w", rec.ConversationID, engineErr(m.engine, err))
		}
		if len(list) != 1 {
			return nil, fmt.Errorf("adopt sandbox of %s: %d containers carry its label", rec.ConversationID, len(list))
		}
		id = list[0].ID
	}
	info, err := m.engine.ContainerInspect(ctx, id)
	if err != nil {
		if isGone(err) {
			return nil, fmt.Errorf("adopt sandbox %s: %w", id, ErrRemoved)
		}
		return nil, fmt.Errorf("adopt sandbox %s: %w", id, engineErr(m.engine, err))
	}
	if info.Config == nil || info.State == nil || info.Config.Labels[labelSandbox] != "1" || info.Config.Labels[labelServer] != m.opts.ServerID {
		return nil, fmt.Errorf("adopt sandbox %s: not a sandbox of server %s", id, m.opts.ServerID)
	}
	labels := info.Config.Labels
	conv := rec.ConversationID
	if conv == "" {
		conv = labels[labelConversation]
	}
	if conv == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no conversation id", id)
	}
	token := rec.Token
	if token == "" {
		for _, kv := range info.Config.Env {
			if v, ok := strings.CutPrefix(kv, agentapi.TokenEnv+"="); ok {
				token = v
			}
		}
	}
	if token == "" {
		return nil, fmt.Errorf("adopt sandbox %s: no token recorded or in its environment", id)
	}
	s := &Sandbox{
		m:            m,
		id:           info.ID,
		name:         strings.TrimPrefix(info.Name, "/"),
		image:        info.Config.Image,
		token:        token,
		transport:    Transport(labels[labelTransport]),
		pooled:       labels[labelPool] == "1",
		conversation: conv,
		status:       StatusStopped,
		lastUse:      time.Now(),
	}
	if s.transport == TransportUnix {
		for _, mp := range info.Mounts {
			if mp.Destination == runDirCtr {
				s.runDir = mp.Source
			}
		}
		if s.runDir == "" {
			return nil, fmt.Errorf("adopt sandbox %s: unix transport but no %s mount", s.name, runDirCtr)
		}
	} else {
		s.transport = TransportTCP
	}

	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClosed
	case m.byConv[conv] != nil && m.byConv[conv] != m.byID[info.ID]:
		m.mu.Unlock()
		return nil, fmt.Errorf("adopt sandbox %s for %s: %w", s.name, conv, ErrExists)
	case m.byID[info.ID] != nil:
		s := m.byID[info.ID]
		m.mu.Unlock()
		return s, nil
	}
	m.byID[s.id] = s
	m.byConv[conv] = s
	m.mu.Unlock()

	s.op.Lock()
	defer s.op.Unlock()
	switch {
	case info.State.Running:
		var cl *agentapi.Client
		var endpoint string
		if s.transport == TransportUnix {
			cl, endpoint = s.newClient("")
		} else {
			tcp, err := tcpEndpoint(info)
			if err != nil {
				m.forget(s)
				return nil, fmt.Errorf("adopt sandbox %s: %w", s.name, err)
			}
			cl, endpoint = s.newClient(tcp)
		}
		if info.State.Paused {
			s.mu.Lock()
			s.client, s.endpoint = cl, endpoint
			s.mu.Unlock()
			s.setStatus(StatusPaused, nil)
			break
		}
		err := s.waitHealthy(ctx, cl)
		if errors.Is(err, agentapi.ErrUnverified) {
			// The agent predates the handshake (a sandbox made before an
			// upgrade), or the sandbox moved its socket. A restart runs
			// the current agent afresh (see boot), keeps the workspace,
			// and ends whatever the sandbox put in the agent's place.
			m.log.WarnContext(ctx, "restarting sandbox whose agent failed verification", "container", s.name, "conversation", conv, "err", err)
			err = s.restart(ctx)
		} else if err == nil {
			s.setRunning(cl, endpoint)
		}
		if err != nil {
			m.forget(s)
			return nil, fmt.Errorf("adopt sandbox %s: %w", s.name, err)
		}
	default:
		s.setStatus(StatusStopped, nil)
	}
	m.log.InfoContext(ctx, "sandbox adopted", "container", s.name, "conversation", conv, "status", s.Status())
	return s, nil
}

// restart stops the container and boots it again. The caller holds s.op.
func (s *Sandbox) restart(ctx context.Context) error {
	secs := int(math.Ceil(s.m.opts.StopTimeout.Seconds()))
	if err := s.m.engine.ContainerStop(ctx, s.id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop sandbox %s: %w", s.name, engineErr(s.m.engine, err))
	}
	return s.boot(ctx)
}

// ownFilter selects this server's sandbox containers.
func (m *Manager) ownFilter() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", labelSandbox+"=1"),
		filters.Arg("label", labelServer+"="+m.opts.ServerID),
	)
}

// runDirOf finds an orphan's host run folder, only when it lies under
// Options.RunDir (never delete anything else).
func (m *Manager) runDirOf(c container.Summary) string {
	for _, mp := range c.Mounts {
		if mp.Destination == runDirCtr && filepath.Dir(mp.Source) == filepath.Clean(m.opts.RunDir) {
			return mp.Source
		}
	}
	return ""
}

func firstOr(xs []string, def string) string {
	if len(xs) > 0 {
		return xs[0]
	}
	return def
}

// reapIdle stops sandboxes unused for Options.IdleTimeout, until Close.
func (m *Manager) reapIdle() {
	every := min(max(m.opts.IdleTimeout/4, 20*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range m.Sandboxes() {
			if s.idleFor() >= m.opts.IdleTimeout {
				s.stopIfIdle(m.ctx, m.opts.IdleTimeout)
			}
		}
	}
}

// idleFor returns how long a running sandbox has been unused (0 when busy
// or not running).
func (s *Sandbox) idleFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != StatusRunning || s.busy > 0 {
		return 0
	}
	return time.Since(s.lastUse)
}

func (s *Sandbox) stopIfIdle(ctx context.Context, timeout time.Duration) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	idle := s.status == StatusRunning && s.busy == 0 && time.Since(s.lastUse) >= timeout
	if idle {
		s.status = StatusStopping // under mu, so a concurrent Use takes the slow path
	}
	s.mu.Unlock()
	if !idle {
		return
	}
	s.m.log.InfoContext(ctx, "stopping idle sandbox", "container", s.name, "conversation", s.ConversationID(), "idle_timeout", timeout)
	s.m.notify(StatusChange{ContainerID: s.id, ConversationID: s.ConversationID(), Status: StatusStopping})
	if err := s.stopFrom(ctx, StatusRunning); err != nil && ctx.Err() == nil {
		s.m.log.WarnContext(ctx, "stop idle sandbox", "container", s.name, "err", err)
	}
}
