package docker

import (
	"context"
	"time"

	"github.com/gohands/gohands/sandbox"
)

// The warm pool keeps Options.PoolSize started, healthy sandboxes of the
// default Spec. Pool sandboxes are created with an empty owner label and
// gohands.pool=1; labels cannot change after create, so when one is handed
// to an owner the Manager records the assignment itself (and the owner
// saves Sandbox.Handle for Recover).

// newPool returns the warm pool, which m.pool.Fill keeps full.
func (m *Manager) newPool() *sandbox.Pool[*Sandbox] {
	return m.reg.NewPool(m.poolConfig("warm pool", func() resolved { return m.poolSpec },
		func() int { return m.opts.PoolSize }))
}

// poolConfig is the configuration of a pool of sandboxes of spec
// (read at each create), which wants size of them.
func (m *Manager) poolConfig(name string, spec func() resolved, size func() int) sandbox.PoolConfig[*Sandbox] {
	return sandbox.PoolConfig[*Sandbox]{
		Name: name,
		Log:  m.log,
		Size: size,
		Create: func(ctx context.Context) (*Sandbox, error) {
			return m.create(ctx, "", spec(), nil, true)
		},
		// The watcher marks dead ones; a health call (about a
		// millisecond) also catches a wedged agent.
		Check: func(ctx context.Context, s *Sandbox) error {
			return s.cell.Healthy(ctx, time.Second)
		},
		Discard: m.discard,
	}
}

// take hands the oldest healthy pool sandbox to conv, or returns nil when
// the pool is empty. It asks the pool to refill. keep says conv keeps the
// sandbox's workspace volume (it asked for a working dir).
func (m *Manager) take(ctx context.Context, conv string, keep bool) *Sandbox {
	s, ok := m.pool.Take(ctx)
	if !ok {
		return nil
	}
	m.assign(s, conv, keep)
	return s
}

// assign gives s, taken from a pool, to owner.
func (m *Manager) assign(s *Sandbox, owner string, keep bool) {
	s.mu.Lock()
	s.keep = keep
	s.mu.Unlock()
	s.cell.SetOwner(owner)
	m.reg.Assign(owner, s)
}
