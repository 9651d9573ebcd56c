package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/security"
)

// WorkspaceOwnerPrefix starts the owner key of every workspace sandbox.
// The key goes on "<prefix><server instance>:<folder hash>" (or
// "default"): the instance part, new at every start, keeps two servers on
// one backend apart. The sandboxes are removed when the manager closes,
// and Restore reaps any an earlier run left (no record names them).
const WorkspaceOwnerPrefix = "workspace:"

// defaultWorkspaceIdle stops an unused workspace sandbox when
// Options.IdleTimeout is 0.
const defaultWorkspaceIdle = 15 * time.Minute

// workspaces are the shared workspace sandboxes of the global workspace
// routes (those given no conversation_id), and their bash events: one
// stream for them all, as the reference server has.
type workspaces struct {
	m        *ConversationManager
	instance string
	hub      *bashHub

	mu    sync.Mutex
	byKey map[string]*SharedWorkspace
}

func newWorkspaces(m *ConversationManager) *workspaces {
	b := make([]byte, 4)
	rand.Read(b)
	return &workspaces{m: m, instance: hex.EncodeToString(b),
		hub:   newBashHub(bashHubBytesPerLimit * m.opts.BashOutputMaxBytes),
		byKey: make(map[string]*SharedWorkspace)}
}

// SharedWorkspace is a workspace sandbox: one shared by every global
// route call naming a path in its folder. A host folder's mounts the
// folder at the same path; the default one has the server's default
// mounts (WORKSPACE_BASE, SANDBOX_VOLUMES). It starts on first use and
// stops when unused for the idle timeout; the next use starts it again.
type SharedWorkspace struct {
	ws    *workspaces
	owner string
	root  string
	mount *sandbox.Mount // the host folder, if it is one

	op sync.Mutex // serialises starts and stops

	mu   sync.Mutex
	sb   sandbox.Sandbox
	uses int
	last time.Time
}

// Workspace returns the workspace sandbox for a path a global route
// names: p (a command's cwd when dir, else a file's path). A path under
// the host roots gets the sandbox of its host folder: that of a
// workspace already holding it, or else a new one for the folder p names
// (made if missing; a file's parent folder). Any other path, or none,
// gets the default workspace sandbox. A path that leaves the roots
// through a symbolic link is refused (KindRejected).
func (m *ConversationManager) Workspace(p string, dir bool) (*SharedWorkspace, error) {
	if m.opts.Sandboxes == nil {
		return nil, &Error{Kind: KindUnavailable, Detail: "this server runs no sandboxes", Err: ErrNoAgent}
	}
	w := m.workspaces
	if p == "" || !m.roots.Has(p) {
		return w.get("default", m.opts.Defaults.WorkingDir, nil), nil
	}
	real, err := m.roots.Resolve(p, false)
	if err != nil {
		return nil, err
	}
	if held := w.holding(real); held != nil {
		return held, nil
	}
	folder := real
	if st, err := os.Stat(real); err == nil && !st.IsDir() || errors.Is(err, fs.ErrNotExist) && !dir {
		folder = filepath.Dir(real)
	}
	folder, err = m.roots.Resolve(folder, true)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(folder))
	return w.get(hex.EncodeToString(sum[:8]), folder, &sandbox.Mount{Source: folder, Target: folder}), nil
}

// get returns the workspace of key, made if need be.
func (w *workspaces) get(key, root string, mount *sandbox.Mount) *SharedWorkspace {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.byKey[key]; s != nil {
		return s
	}
	s := &SharedWorkspace{ws: w, owner: WorkspaceOwnerPrefix + w.instance + ":" + key, root: root, mount: mount, last: w.m.now()}
	w.byKey[key] = s
	return s
}

// holding returns the host folder workspace whose folder holds p, the
// innermost one, if any.
func (w *workspaces) holding(p string) *SharedWorkspace {
	w.mu.Lock()
	defer w.mu.Unlock()
	var best *SharedWorkspace
	for _, s := range w.byKey {
		if s.mount != nil && (p == s.root || strings.HasPrefix(p, s.root+"/")) && (best == nil || len(s.root) > len(best.root)) {
			best = s
		}
	}
	return best
}

func (w *workspaces) all() []*SharedWorkspace {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*SharedWorkspace, 0, len(w.byKey))
	for _, s := range w.byKey {
		out = append(out, s)
	}
	return out
}

// WorkspaceSandboxes returns how many workspace sandboxes are running.
func (m *ConversationManager) WorkspaceSandboxes() int {
	n := 0
	for _, s := range m.workspaces.all() {
		if sb := s.current(); sb != nil && sb.Status() == sandbox.StatusRunning {
			n++
		}
	}
	return n
}

// Root is the workspace's folder: where relative paths start and
// commands run by default.
func (s *SharedWorkspace) Root() string { return s.root }

// Owner is the backend's owner key of the workspace's sandbox.
func (s *SharedWorkspace) Owner() string { return s.owner }

// WorkingDir is Root, named as a conversation's is.
func (s *SharedWorkspace) WorkingDir() string { return s.root }

func (s *SharedWorkspace) current() sandbox.Sandbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sb != nil && s.sb.Status() == sandbox.StatusRemoved {
		return nil
	}
	return s.sb
}

// WithSandbox runs fn with the agent client of the workspace's sandbox,
// starting it first if need be. A sandbox found dead is replaced by a
// fresh one (same mounts).
func (s *SharedWorkspace) WithSandbox(ctx context.Context, fn func(*agentapi.Client) error) error {
	s.mu.Lock()
	s.uses++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.uses--
		s.last = s.ws.m.now()
		s.mu.Unlock()
	}()
	if s.mount != nil {
		if _, err := os.Stat(s.root); errors.Is(err, fs.ErrNotExist) && s.current() != nil {
			// Mounted while it existed: the sandbox holds the removed
			// folder, and goes, to mount the folder anew on next use.
			s.ws.m.log.Warn("host folder removed while mounted; its workspace sandbox goes", "root", s.root)
			s.remove(ctx)
			return rejected("host folder %s was removed from the host while its workspace sandbox used it; the next call makes it again", s.root)
		}
	}
	for attempt := 0; ; attempt++ {
		sb, err := s.get(ctx)
		if err != nil {
			return err
		}
		cl, done, err := sb.Use(ctx)
		if err != nil {
			dead := errors.Is(err, sandbox.ErrExited) || errors.Is(err, sandbox.ErrRemoved)
			if !dead || attempt > 0 {
				return sandboxError(err)
			}
			s.ws.m.log.Warn("workspace sandbox died; starting a new one", "owner", s.owner, "err", err)
			s.drop(ctx, sb)
			continue
		}
		err = fn(cl)
		done()
		return err
	}
}

// WithWorkspace calls fn with the workspace, in its sandbox.
func (s *SharedWorkspace) WithWorkspace(ctx context.Context, fn func(SandboxWorkspace) error) error {
	return s.WithSandbox(ctx, func(cl *agentapi.Client) error { return fn(NewSandboxWorkspace(cl, s.root)) })
}

// get returns the sandbox, started if there is none; it is live under
// the cap on live sandboxes like a conversation's.
func (s *SharedWorkspace) get(ctx context.Context) (sandbox.Sandbox, error) {
	live := s.ws.m.live
	if sb := s.current(); sb != nil && live.holds(s) {
		return sb, nil
	}
	s.op.Lock()
	defer s.op.Unlock()
	return live.admit(ctx, s, s.current(), s.start)
}

// start starts a new sandbox. The caller holds s.op.
func (s *SharedWorkspace) start(ctx context.Context) (sandbox.Sandbox, error) {
	spec := sandbox.Spec{}
	if s.mount != nil {
		// Made again if it went missing: the engine would refuse the mount.
		if err := os.MkdirAll(s.mount.Source, 0o755); err != nil {
			return nil, hostFolderError(s.root, "cannot be made", err)
		}
		spec.AddMounts = []sandbox.Mount{*s.mount}
	}
	sb, err := s.ws.m.opts.Sandboxes.Start(ctx, s.owner, spec)
	if err != nil {
		return nil, sandboxError(err)
	}
	s.ws.m.log.Info("workspace sandbox started", "owner", s.owner, "root", s.root, "sandbox", sb.Handle().ID)
	s.mu.Lock()
	s.sb = sb
	s.mu.Unlock()
	return sb, nil
}

// drop removes a dead sandbox.
func (s *SharedWorkspace) drop(ctx context.Context, sb sandbox.Sandbox) {
	if err := sb.Remove(ctx); err != nil && !errors.Is(err, sandbox.ErrRemoved) {
		s.ws.m.log.Warn("remove dead workspace sandbox", "owner", s.owner, "err", err)
	}
	s.mu.Lock()
	if s.sb == sb {
		s.sb = nil
	}
	s.mu.Unlock()
	s.ws.m.live.release(s)
}

// stopIdle stops the sandbox when it has been unused for idle; it
// reports whether it stopped it. One being started (which may wait for
// room under the live cap) is not idle.
func (s *SharedWorkspace) stopIdle(ctx context.Context, now time.Time, idle time.Duration) bool {
	if !s.op.TryLock() {
		return false
	}
	defer s.op.Unlock()
	s.mu.Lock()
	sb, busy, since := s.sb, s.uses > 0, now.Sub(s.last)
	s.mu.Unlock()
	if sb == nil || busy || since < idle || sb.Status() != sandbox.StatusRunning {
		return false
	}
	if err := sb.Stop(ctx); err != nil {
		s.ws.m.log.Warn("stop idle workspace sandbox", "owner", s.owner, "err", err)
		return false
	}
	s.ws.m.live.release(s)
	s.ws.m.log.Info("idle workspace sandbox stopped", "owner", s.owner)
	return true
}

// remove removes the sandbox, when the manager closes.
func (s *SharedWorkspace) remove(ctx context.Context) {
	s.op.Lock()
	defer s.op.Unlock()
	if sb := s.current(); sb != nil {
		if err := sb.Remove(ctx); err != nil {
			s.ws.m.log.Warn("remove workspace sandbox", "owner", s.owner, "err", err)
		}
	}
	s.ws.m.live.release(s)
}

// keepIdle stops the unused workspace sandboxes until the manager closes.
func (w *workspaces) keepIdle() {
	m := w.m
	defer m.wg.Done()
	idle := m.opts.IdleTimeout
	if idle <= 0 {
		idle = defaultWorkspaceIdle
	}
	m.everyQuarter(idle, func() {
		for _, s := range w.all() {
			s.stopIdle(m.ctx, m.now(), idle)
		}
	})
}

// bashSite is the workspace's: its sandbox, the workspaces' bash events,
// nothing to hide (no secrets).
func (s *SharedWorkspace) bashSite() bashSite {
	return bashSite{m: s.ws.m, hub: s.ws.hub, masker: security.NewMasker(nil), workdir: s.root, withSandbox: s.WithSandbox}
}

// Bash runs a command in the workspace's sandbox (see AgentSession.Bash);
// its events go to the workspaces' bash events. A relative cwd starts at
// the workspace's folder.
func (s *SharedWorkspace) Bash(ctx context.Context, req BashRequest) (BashResult, error) {
	req.Cwd = s.cwd(req.Cwd)
	cmd, err := s.bashSite().begin(req)
	if err != nil {
		return BashResult{}, err
	}
	return s.bashSite().run(ctx, cmd, req.Command)
}

// StartBash is Bash in the background (see AgentSession.StartBash).
func (s *SharedWorkspace) StartBash(req BashRequest) (BashCommand, error) {
	req.Cwd = s.cwd(req.Cwd)
	return s.bashSite().start(req)
}

func (s *SharedWorkspace) cwd(c string) string {
	if c != "" && !path.IsAbs(c) {
		return path.Join(s.root, c)
	}
	return c
}

// WorkspaceBash returns the bash events of the workspace sandboxes.
func (m *ConversationManager) WorkspaceBash() *BashEvents {
	return &BashEvents{hub: m.workspaces.hub}
}
