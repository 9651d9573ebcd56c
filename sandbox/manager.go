package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/client"
)

// Manager owns the sandboxes of one server. Its methods are safe for
// concurrent use. Close stops its background work.
type Manager struct {
	engine   client.APIClient
	opts     Options
	log      *slog.Logger
	instance string // labels what this Manager created, so Reconcile spares it
	local    bool   // the engine shares this host's filesystem
	inject   Inject // resolved: bind or copy
	poolSpec resolved
	caps     []string // capabilities kept; tests vary it

	ctx    context.Context // cancelled by Close; parent of background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	refill chan struct{}

	tarOnce sync.Once
	tarball []byte
	tarErr  error

	mu       sync.Mutex // guards the fields below
	closed   bool
	byID     map[string]*Sandbox // every known sandbox, pool included
	byConv   map[string]*Sandbox // assigned sandboxes
	starting map[string]bool     // conversations whose sandbox is being made
	pool     []*Sandbox          // ready, unassigned
}

// New returns a Manager using engine (see Connect). It starts the event
// watcher, the idle reaper (when Options.IdleTimeout > 0) and the warm pool
// (when Options.PoolSize > 0). Call Reconcile next to re-adopt the
// sandboxes of live conversations and remove orphans.
func New(engine client.APIClient, opts Options, logger *slog.Logger) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		engine:   engine,
		opts:     opts,
		log:      logger.With("component", "sandbox"),
		instance: strings.ToLower(rand.Text()[:12]),
		local:    localEngine(engine),
		inject:   opts.Inject,
		refill:   make(chan struct{}, 1),
		byID:     make(map[string]*Sandbox),
		byConv:   make(map[string]*Sandbox),
		starting: make(map[string]bool),
		caps:     capabilities,
	}
	if m.inject == InjectAuto {
		m.inject = InjectCopy
		if m.local {
			m.inject = InjectBind
		}
	}
	if m.opts.Transport == TransportAuto {
		m.opts.Transport = TransportTCP
		if m.local {
			m.opts.Transport = TransportUnix
		}
	}
	if !m.local && (m.inject == InjectBind || m.opts.Transport == TransportUnix || opts.Limits.Network == NetworkNone) {
		return nil, fmt.Errorf("sandbox options: engine %s is not local: bind-mounting the agent and Unix sockets need a unix:// DOCKER_HOST", engine.DaemonHost())
	}
	if m.poolSpec, err = m.opts.resolve(Spec{}); err != nil {
		return nil, fmt.Errorf("sandbox options: %w", err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Go(m.watch)
	if opts.IdleTimeout > 0 {
		m.wg.Go(m.reapIdle)
	}
	if opts.PoolSize > 0 {
		m.wg.Go(m.fillPool)
	}
	return m, nil
}

// Start gives conversationID a ready sandbox: one from the warm pool when
// spec asks for nothing the pool's sandboxes lack, otherwise a new one. A
// missing image is pulled (progress to spec.OnPull) before failing with
// ErrImageMissing.
func (m *Manager) Start(ctx context.Context, conversationID string, spec Spec) (*Sandbox, error) {
	if conversationID == "" {
		return nil, errors.New("start sandbox: empty conversation id")
	}
	r, err := m.opts.resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", conversationID, err)
	}
	if r.transport == TransportUnix && !m.local {
		return nil, fmt.Errorf("start sandbox for %s: network none needs the Unix socket transport, which needs a local engine (not %s)", conversationID, m.engine.DaemonHost())
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClosed
	case m.byConv[conversationID] != nil || m.starting[conversationID]:
		m.mu.Unlock()
		return nil, fmt.Errorf("start sandbox for %s: %w", conversationID, ErrExists)
	}
	m.starting[conversationID] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.starting, conversationID)
		m.mu.Unlock()
	}()

	if m.opts.PoolSize > 0 && r.equal(m.poolSpec) {
		if s := m.take(ctx, conversationID); s != nil {
			m.log.InfoContext(ctx, "sandbox from warm pool", "container", s.name, "conversation", conversationID)
			return s, nil
		}
	}
	s, err := m.create(ctx, conversationID, r, spec.OnPull, false)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		// Close raced us; the sandbox is the caller's anyway, like any
		// assigned one (Close leaves those running).
		return s, nil
	}
	m.byConv[conversationID] = s
	m.mu.Unlock()
	m.log.InfoContext(ctx, "sandbox started", "container", s.name, "conversation", conversationID, "image", s.image)
	return s, nil
}

// Get returns the sandbox of a conversation, or nil.
func (m *Manager) Get(conversationID string) *Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byConv[conversationID]
}

// Sandboxes returns the sandboxes assigned to conversations.
func (m *Manager) Sandboxes() []*Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Sandbox, 0, len(m.byConv))
	for _, s := range m.byConv {
		out = append(out, s)
	}
	return out
}

// Running returns how many of the Manager's sandboxes, warm pool included,
// have a container up: running, or paused (it still holds its memory).
func (m *Manager) Running() int {
	m.mu.Lock()
	all := make([]*Sandbox, 0, len(m.byID))
	for _, s := range m.byID {
		all = append(all, s)
	}
	m.mu.Unlock()
	n := 0
	for _, s := range all {
		if st := s.Status(); st == StatusRunning || st == StatusPaused {
			n++
		}
	}
	return n
}

// PoolSize returns how many ready sandboxes wait in the warm pool.
func (m *Manager) PoolSize() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pool)
}

// Close stops the Manager's background work and removes the warm pool's
// sandboxes. Sandboxes assigned to conversations keep running, so the next
// Manager can re-adopt them with Reconcile; Remove those that should go.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	pool := m.pool
	m.pool = nil
	m.mu.Unlock()
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for _, s := range pool {
		wg.Go(func() {
			if err := s.Remove(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Manager) register(s *Sandbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID[s.id] = s
}

func (m *Manager) forget(s *Sandbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, s.id)
	if conv := s.ConversationID(); conv != "" && m.byConv[conv] == s {
		delete(m.byConv, conv)
	}
	m.pool = slices.DeleteFunc(m.pool, func(p *Sandbox) bool { return p == s })
}

func (m *Manager) lookup(containerID string) *Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[containerID]
}

func (m *Manager) notify(c StatusChange) {
	if m.opts.OnStatus != nil {
		m.opts.OnStatus(c)
	}
}
