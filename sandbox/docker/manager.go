package docker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/client"

	"github.com/gohands/gohands/sandbox"
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
	slotSpec resolved // poolSpec with the working folder on a slot
	caps     []string // capabilities kept; tests vary it

	ctx    context.Context // cancelled by Close; parent of background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	refill chan struct{}
	// slotRefill wakes fillSlots; slotOn says the fork pool is on.
	slotRefill chan struct{}
	slotOn     atomic.Bool
	slotWanted atomic.Bool  // a fork asked: fillSlots fills from then on
	slotTaken  atomic.Int64 // when StartOverlay last took one, unix ns
	changes    chan sandbox.StatusChange

	tarOnce sync.Once
	tarball []byte
	tarErr  error

	mu       sync.Mutex // guards the fields below
	closed   bool
	byID     map[string]*Sandbox // every known sandbox, pool included
	byOwner  map[string]*Sandbox // held for owners
	starting map[string]bool     // owners whose sandbox is being made
	pool     []*Sandbox          // ready, unassigned
	slots    []*Sandbox          // the fork pool: ready, unassigned
	// makingSlots holds the slot folders whose container is being made.
	makingSlots map[string]bool
	browsers    map[string]*browserConn // by owner; see StartBrowser
}

// New returns a Manager using engine (see Connect). It starts the event
// watcher and the warm pool (when Options.PoolSize > 0). Its owner
// recovers the sandboxes it saved with Recover, and removes the others
// List shows with Destroy.
func New(engine client.APIClient, opts Options, logger *slog.Logger) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		engine:      engine,
		opts:        opts,
		log:         logger.With("component", "sandbox"),
		instance:    strings.ToLower(rand.Text()[:12]),
		local:       localEngine(engine),
		inject:      opts.Inject,
		refill:      make(chan struct{}, 1),
		slotRefill:  make(chan struct{}, 1),
		changes:     make(chan sandbox.StatusChange, changesQueue),
		byID:        make(map[string]*Sandbox),
		byOwner:     make(map[string]*Sandbox),
		starting:    make(map[string]bool),
		makingSlots: make(map[string]bool),
		caps:        capabilities,
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
	if !m.local && (m.inject == InjectBind || m.opts.Transport == TransportUnix || opts.Limits.Network == sandbox.NetworkNone) {
		return nil, fmt.Errorf("sandbox options: engine %s is not local: bind-mounting the agent and Unix sockets need a unix:// DOCKER_HOST", engine.DaemonHost())
	}
	// Pool sandboxes have the default working dir, on a volume of their
	// own unless a mount covers it.
	if m.poolSpec, err = m.opts.resolve(sandbox.Spec{WorkingDir: sandbox.WorkspaceDir}); err != nil {
		return nil, fmt.Errorf("sandbox options: %w", err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Go(m.watch)
	m.wg.Go(func() { m.reapBrowsers(m.ctx, false) })
	if opts.PoolSize > 0 {
		m.wg.Go(m.fillPool)
	}
	if opts.ForkPoolSize > 0 {
		m.slotSpec = m.poolSpec
		m.slotSpec.volume, m.slotSpec.disposable, m.slotSpec.slot = "", true, true
		if err := m.setupSlots(); err != nil {
			m.log.Warn("no fork pool: forks start their own sandboxes", "err", err)
		} else {
			m.slotOn.Store(true)
			m.wg.Go(m.fillSlots)
		}
	}
	return m, nil
}

// Start gives owner a ready sandbox: one from the warm pool when
// spec asks for nothing the pool's sandboxes lack, otherwise a new one. A
// missing image is pulled (progress to spec.OnPull) before failing with
// ErrImageMissing.
func (m *Manager) Start(ctx context.Context, owner string, spec sandbox.Spec) (sandbox.Sandbox, error) {
	s, err := m.start(ctx, owner, spec)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// start is Start giving the concrete sandbox.
func (m *Manager) start(ctx context.Context, owner string, spec sandbox.Spec) (*Sandbox, error) {
	if owner == "" {
		return nil, errors.New("start sandbox: empty owner")
	}
	r, err := m.opts.resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, err)
	}
	if r.transport == TransportUnix && !m.local {
		return nil, fmt.Errorf("start sandbox for %s: network none needs the Unix socket transport, which needs a local engine (not %s)", owner, m.engine.DaemonHost())
	}
	release, err := m.claimOwner(owner)
	if err != nil {
		return nil, err
	}
	defer release()

	if m.opts.PoolSize > 0 && r.servedByPool(m.poolSpec) {
		if s := m.take(ctx, owner, r.workspace != ""); s != nil {
			m.log.InfoContext(ctx, "sandbox from warm pool", "container", s.name, "owner", owner)
			return s, nil
		}
	}
	s, err := m.create(ctx, owner, r, spec.OnPull, false)
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
	m.byOwner[owner] = s
	m.mu.Unlock()
	m.log.InfoContext(ctx, "sandbox started", "container", s.name, "owner", owner, "image", s.image)
	return s, nil
}

// Get returns the sandbox held for owner, or nil.
func (m *Manager) Get(owner string) *Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byOwner[owner]
}

// Sandboxes returns the sandboxes held for owners.
func (m *Manager) Sandboxes() []*Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Sandbox, 0, len(m.byOwner))
	for _, s := range m.byOwner {
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
		if st := s.Status(); st == sandbox.StatusRunning || st == sandbox.StatusPaused {
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
// sandboxes and every browser. Sandboxes held for owners keep running, so the next Manager
// can take them over with Recover; Remove those that should go.
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
	pool := append(m.pool, m.slots...)
	m.pool, m.slots = nil, nil
	browsers := make([]*browserConn, 0, len(m.browsers))
	for _, b := range m.browsers {
		browsers = append(browsers, b)
	}
	m.mu.Unlock()
	// A browser's channel ends with this Manager: nothing could drive it.
	for _, b := range browsers {
		b.close(ctx)
	}
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
	m.ReleaseSlots(ctx)
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
	if conv := s.Owner(); conv != "" && m.byOwner[conv] == s {
		delete(m.byOwner, conv)
	}
	m.pool = slices.DeleteFunc(m.pool, func(p *Sandbox) bool { return p == s })
	m.slots = slices.DeleteFunc(m.slots, func(p *Sandbox) bool { return p == s })
}

func (m *Manager) lookup(containerID string) *Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byID[containerID]
}

// changesQueue is how many status changes wait for the reader of Changes.
const changesQueue = 256

// Changes delivers the status changes of the sandboxes held for owners.
// A change the reader is too slow for is dropped, and logged.
func (m *Manager) Changes() <-chan sandbox.StatusChange { return m.changes }

func (m *Manager) notify(c sandbox.StatusChange) {
	if c.Owner == "" {
		return // a pool sandbox: nobody to tell
	}
	select {
	case m.changes <- c:
	default:
		m.log.Warn("sandbox status change dropped: queue full", "owner", c.Owner, "status", c.Status)
	}
}

// Ready reports whether the engine answers.
func (m *Manager) Ready(ctx context.Context) error {
	if _, err := m.engine.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

var _ sandbox.Backend = (*Manager)(nil)

// claimOwner marks owner's sandbox as being started, so that no other
// start for owner runs meanwhile, or fails with sandbox.ErrClosed or
// sandbox.ErrExists; release ends the mark.
func (m *Manager) claimOwner(owner string) (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, sandbox.ErrClosed
	case m.byOwner[owner] != nil || m.starting[owner]:
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, sandbox.ErrExists)
	}
	m.starting[owner] = true
	return func() {
		m.mu.Lock()
		delete(m.starting, owner)
		m.mu.Unlock()
	}, nil
}
