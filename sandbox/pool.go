package sandbox

import (
	"context"
	"log/slog"
	"time"
)

// Pool is a warm pool of a Registry: sandboxes started ahead of need,
// ready and unassigned, handed out oldest first by Take. Fill keeps it
// full in the background. Its queue is guarded by the Registry's lock,
// so that closing the Registry and adding to the pool never cross: a
// sandbox made once the Registry is closed is discarded, not queued.
type Pool[S Member] struct {
	r     *Registry[S]
	cfg   PoolConfig[S]
	wake  chan struct{}
	ready []S // guarded by r.mu
}

// PoolConfig says how a Pool makes, checks and drops its sandboxes.
type PoolConfig[S Member] struct {
	// Name names the pool in the log ("warm pool").
	Name string
	// Log hears of failed creates and dropped sandboxes; nil for none.
	Log *slog.Logger
	// Size says how many sandboxes the pool wants now; Fill reads it at
	// each round, so it may change (0 leaves the pool as it is).
	Size func() int
	// Hold, when not nil, says how long Fill waits before its next
	// create (0 or less: now), to leave the machine to others a moment.
	Hold func() time.Duration
	// Create makes one ready sandbox, with no owner, known to the
	// Registry (Add).
	Create func(ctx context.Context) (S, error)
	// Check says whether a sandbox about to be handed out is still fit
	// (its agent answers, say); Take drops those it fails. nil takes
	// every one.
	Check func(ctx context.Context, s S) error
	// Discard removes a sandbox the pool drops, even when ctx is done.
	Discard func(ctx context.Context, s S)
}

// NewPool returns an empty pool of r, which Forget and Close see.
func (r *Registry[S]) NewPool(cfg PoolConfig[S]) *Pool[S] {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pool[S]{r: r, cfg: cfg, wake: make(chan struct{}, 1)}
	r.mu.Lock()
	r.pools = append(r.pools, p)
	r.mu.Unlock()
	return p
}

// Len returns how many sandboxes wait in the pool.
func (p *Pool[S]) Len() int {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	return len(p.ready)
}

// Ready returns the sandboxes waiting in the pool, oldest first.
func (p *Pool[S]) Ready() []S {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	return append([]S(nil), p.ready...)
}

// Kick wakes Fill to look at the pool again (after a take, or when Size
// grew).
func (p *Pool[S]) Kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Take hands out the oldest sandbox that passes Check, discarding those
// that fail it on the way, and wakes Fill to make up for it. ok is false
// when the pool ran empty. The caller gives the sandbox its owner.
func (p *Pool[S]) Take(ctx context.Context) (s S, ok bool) {
	defer p.Kick()
	for {
		p.r.mu.Lock()
		if len(p.ready) == 0 {
			p.r.mu.Unlock()
			var none S
			return none, false
		}
		s := p.ready[0]
		p.ready = p.ready[1:]
		p.r.mu.Unlock()
		if p.cfg.Check == nil {
			return s, true
		}
		err := p.cfg.Check(ctx, s)
		if err == nil {
			return s, true
		}
		p.cfg.Log.WarnContext(ctx, p.cfg.Name+": dropping sandbox", "sandbox", s.ID(), "err", err)
		p.cfg.Discard(ctx, s)
	}
}

// Drain empties the pool and returns what waited in it, for the backend
// to remove (see RemoveAll).
func (p *Pool[S]) Drain() []S {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	out := p.ready
	p.ready = nil
	return out
}

// Fill runs until ctx is done, creating the pool's sandboxes one at a
// time whenever it holds fewer than Size says and the Registry is open.
// Failed creates back off from 1s to 30s.
func (p *Pool[S]) Fill(ctx context.Context) {
	backoff := time.Second
	for {
		want := p.cfg.Size()
		p.r.mu.Lock()
		short := !p.r.closed && len(p.ready) < want
		p.r.mu.Unlock()
		if !short {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		if p.cfg.Hold != nil {
			if wait := p.cfg.Hold(); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				continue
			}
		}
		s, err := p.cfg.Create(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.cfg.Log.Warn(p.cfg.Name+": create sandbox", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		p.r.mu.Lock()
		if p.r.closed {
			p.r.mu.Unlock()
			p.cfg.Discard(ctx, s)
			return
		}
		p.ready = append(p.ready, s)
		n := len(p.ready)
		p.r.mu.Unlock()
		p.cfg.Log.Debug(p.cfg.Name+": sandbox ready", "sandbox", s.ID(), "size", n)
	}
}
