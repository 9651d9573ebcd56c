package docker

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
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
	// reg holds the sandboxes by id and by owner, the owner claims and
	// the status changes; pool is the warm pool, slots the fork pool.
	reg   *sandbox.Registry[*Sandbox]
	pool  *sandbox.Pool[*Sandbox]
	slots *sandbox.Pool[*Sandbox]
	// slotOn says the fork pool is on.
	slotOn     atomic.Bool
	slotWanted atomic.Bool  // a fork asked: fillSlots fills from then on
	slotTaken  atomic.Int64 // when StartOverlay last took one, unix ns

	tarOnce sync.Once
	tarball []byte
	tarErr  error

	mu sync.Mutex // guards the fields below
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
	m.reg = sandbox.NewRegistry[*Sandbox](m.log)
	m.pool = m.newPool()
	m.slots = m.newSlotPool()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Go(m.watch)
	m.wg.Go(func() { m.reapBrowsers(m.ctx, false) })
	if opts.PoolSize > 0 {
		m.wg.Go(func() { m.pool.Fill(m.ctx) })
	}
	if opts.ForkPoolSize > 0 {
		m.slotSpec = m.poolSpec
		m.slotSpec.volume, m.slotSpec.disposable, m.slotSpec.slot = "", true, true
		if err := m.setupSlots(); err != nil {
			m.log.Warn("no fork pool: forks start their own sandboxes", "err", err)
		} else {
			m.slotOn.Store(true)
			m.wg.Go(func() { m.slots.Fill(m.ctx) })
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
	r, err := m.opts.resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, err)
	}
	if r.transport == TransportUnix && !m.local {
		return nil, fmt.Errorf("start sandbox for %s: network none needs the Unix socket transport, which needs a local engine (not %s)", owner, m.engine.DaemonHost())
	}
	release, err := m.reg.Claim(owner)
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
	if !m.reg.Assign(owner, s) {
		// Close raced us; the sandbox is the caller's anyway, like any
		// assigned one (Close leaves those running).
		return s, nil
	}
	m.log.InfoContext(ctx, "sandbox started", "container", s.name, "owner", owner, "image", s.image)
	return s, nil
}

// Get returns the sandbox held for owner, or nil.
func (m *Manager) Get(owner string) *Sandbox { return m.reg.OfOwner(owner) }

// Sandboxes returns the sandboxes held for owners.
func (m *Manager) Sandboxes() []*Sandbox { return m.reg.Owned() }

// Running returns how many of the Manager's sandboxes, warm pool included,
// have a container up: running, or paused (it still holds its memory).
func (m *Manager) Running() int {
	return m.reg.CountUp()
}

// PoolSize returns how many ready sandboxes wait in the warm pool.
func (m *Manager) PoolSize() int { return m.pool.Len() }

// Close stops the Manager's background work and removes the warm pool's
// sandboxes and every browser. Sandboxes held for owners keep running, so the next Manager
// can take them over with Recover; Remove those that should go.
func (m *Manager) Close(ctx context.Context) error {
	if !m.reg.Close() {
		return nil
	}
	m.cancel()
	m.wg.Wait()
	pool := append(m.pool.Drain(), m.slots.Drain()...)
	m.mu.Lock()
	browsers := make([]*browserConn, 0, len(m.browsers))
	for _, b := range m.browsers {
		browsers = append(browsers, b)
	}
	m.mu.Unlock()
	// A browser's channel ends with this Manager: nothing could drive it.
	for _, b := range browsers {
		b.close(ctx)
	}
	err := sandbox.RemoveAll(ctx, pool)
	m.ReleaseSlots(ctx)
	return err
}

// Changes delivers the status changes of the sandboxes held for owners.
// A change the reader is too slow for is dropped, and logged.
func (m *Manager) Changes() <-chan sandbox.StatusChange { return m.reg.Changes() }

// Ready reports whether the engine answers.
func (m *Manager) Ready(ctx context.Context) error {
	if _, err := m.engine.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

var _ sandbox.Backend = (*Manager)(nil)
