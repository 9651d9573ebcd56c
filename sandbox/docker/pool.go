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

// fillPool runs until Close, creating pool sandboxes one at a time whenever
// the pool is short.
func (m *Manager) fillPool() {
	m.fill(filler{
		name:  "warm pool",
		spec:  m.poolSpec,
		wake:  m.refill,
		short: func() bool { return len(m.pool) < m.opts.PoolSize },
		add:   func(s *Sandbox) int { m.pool = append(m.pool, s); return len(m.pool) },
	})
}

// filler is one of the Manager's pools, as fill keeps it full.
type filler struct {
	name string   // for the log
	spec resolved // of the pool's sandboxes
	wake <-chan struct{}
	// short says, under m.mu, whether the pool wants one more.
	short func() bool
	// hold says how long to wait before the next create (0: now).
	hold func() time.Duration
	// add puts s in the pool, under m.mu, and returns its new size.
	add func(s *Sandbox) int
}

// fill runs until Close, creating p's sandboxes one at a time whenever p
// is short. Failures back off from 1s to 30s.
func (m *Manager) fill(p filler) {
	backoff := time.Second
	for {
		m.mu.Lock()
		short := !m.closed && p.short()
		m.mu.Unlock()
		if !short {
			select {
			case <-m.ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		if p.hold != nil {
			if wait := p.hold(); wait > 0 {
				select {
				case <-m.ctx.Done():
					return
				case <-time.After(wait):
				}
				continue
			}
		}
		s, err := m.create(m.ctx, "", p.spec, nil, true)
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			m.log.Warn(p.name+": create sandbox", "err", err, "retry_in", backoff)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			m.discard(m.ctx, s)
			return
		}
		n := p.add(s)
		m.mu.Unlock()
		m.log.Debug(p.name+": sandbox ready", "container", s.name, "size", n)
	}
}

// take hands the oldest healthy pool sandbox to conv, or returns nil when
// the pool is empty. It asks the pool to refill. keep says conv keeps the
// sandbox's workspace volume (it asked for a working dir).
func (m *Manager) take(ctx context.Context, conv string, keep bool) *Sandbox {
	defer m.kickPool()
	s := m.takeHealthy(ctx, &m.pool, "warm pool")
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.owner, s.keep = conv, keep
	s.mu.Unlock()
	m.mu.Lock()
	m.byOwner[conv] = s
	m.mu.Unlock()
	return s
}

// takeHealthy takes the oldest healthy sandbox out of *pool (one of the
// Manager's pools, guarded by m.mu), discarding dead ones on the way, or
// returns nil when none is left. The watcher marks dead ones; a health
// call (about a millisecond) also catches a wedged agent.
func (m *Manager) takeHealthy(ctx context.Context, pool *[]*Sandbox, name string) *Sandbox {
	for {
		m.mu.Lock()
		if len(*pool) == 0 {
			m.mu.Unlock()
			return nil
		}
		s := (*pool)[0]
		*pool = (*pool)[1:]
		m.mu.Unlock()
		cl := s.Client()
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := errNotRunning
		if cl != nil && s.Status() == sandbox.StatusRunning {
			err = cl.Health(hctx)
		}
		cancel()
		if err == nil {
			return s
		}
		m.log.WarnContext(ctx, name+": dropping unhealthy sandbox", "container", s.name, "err", err)
		m.discard(ctx, s)
	}
}

func (m *Manager) kickPool() {
	select {
	case m.refill <- struct{}{}:
	default:
	}
}
