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
// the pool is short. Failures back off from 1s to 30s.
func (m *Manager) fillPool() {
	backoff := time.Second
	for {
		m.mu.Lock()
		short := !m.closed && len(m.pool) < m.opts.PoolSize
		m.mu.Unlock()
		if !short {
			select {
			case <-m.ctx.Done():
				return
			case <-m.refill:
				continue
			}
		}
		s, err := m.create(m.ctx, "", m.poolSpec, nil, true)
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			m.log.Warn("warm pool: create sandbox", "err", err, "retry_in", backoff)
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
		m.pool = append(m.pool, s)
		n := len(m.pool)
		m.mu.Unlock()
		m.log.Debug("warm pool: sandbox ready", "container", s.name, "pool", n)
	}
}

// take hands the oldest healthy pool sandbox to conv, or returns nil when
// the pool is empty. It asks the pool to refill. keep says conv keeps the
// sandbox's workspace volume (it asked for a working dir).
func (m *Manager) take(ctx context.Context, conv string, keep bool) *Sandbox {
	defer m.kickPool()
	for {
		m.mu.Lock()
		if len(m.pool) == 0 {
			m.mu.Unlock()
			return nil
		}
		s := m.pool[0]
		m.pool = m.pool[1:]
		m.mu.Unlock()

		// The watcher marks dead ones; a health call (about a millisecond)
		// also catches a wedged agent.
		cl := s.Client()
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := errNotRunning
		if cl != nil && s.Status() == sandbox.StatusRunning {
			err = cl.Health(hctx)
		}
		cancel()
		if err != nil {
			m.log.WarnContext(ctx, "warm pool: dropping unhealthy sandbox", "container", s.name, "err", err)
			m.discard(ctx, s)
			continue
		}
		s.mu.Lock()
		s.owner, s.keep = conv, keep
		s.mu.Unlock()
		m.mu.Lock()
		m.byOwner[conv] = s
		m.mu.Unlock()
		return s
	}
}

func (m *Manager) kickPool() {
	select {
	case m.refill <- struct{}{}:
	default:
	}
}
