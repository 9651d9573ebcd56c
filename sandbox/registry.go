package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// Member is what a Registry asks of a backend's sandbox: its engine id,
// its owner key ("" while it waits in a pool) and its status.
type Member interface {
	comparable
	ID() string
	Owner() string
	Status() Status
}

// Registry is the bookkeeping a Backend keeps of its sandboxes: every
// sandbox it knows by id, those held for owners by owner key, the owners
// whose sandbox is being started, its warm pools (see Pool), and the
// stream of status changes its Changes method returns. It does not start
// or stop anything. Its methods are safe for concurrent use; none calls
// back into the backend with the Registry's lock held, except for Member's
// methods.
type Registry[S Member] struct {
	log     *slog.Logger
	changes chan StatusChange

	mu       sync.Mutex // guards the fields below and the pools' queues
	closed   bool
	byID     map[string]S
	byOwner  map[string]S
	starting map[string]bool
	pools    []*Pool[S]
}

// ChangesQueue is how many status changes a Registry keeps for the reader
// of Changes before it drops them.
const ChangesQueue = 256

// NewRegistry returns an empty, open Registry. logger (nil for none) hears
// of the status changes dropped for want of a reader.
func NewRegistry[S Member](logger *slog.Logger) *Registry[S] {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registry[S]{
		log:      logger,
		changes:  make(chan StatusChange, ChangesQueue),
		byID:     make(map[string]S),
		byOwner:  make(map[string]S),
		starting: make(map[string]bool),
	}
}

// Add records s by its id, as a sandbox the backend made and knows, held
// for nobody yet.
func (r *Registry[S]) Add(s S) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[s.ID()] = s
}

// Assign records s as the sandbox held for owner, unless the Registry is
// closed; it reports whether it did. The sandbox itself must already say
// owner (Member.Owner), for Forget.
func (r *Registry[S]) Assign(owner string, s S) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.byOwner[owner] = s
	return true
}

// Hold records s, a sandbox taken over from an earlier run, by id and as
// its owner's. When the Registry knows a sandbox of that id already, Hold
// returns that one and records nothing. It fails with ErrClosed once
// closed, and with ErrExists when the owner holds another sandbox.
func (r *Registry[S]) Hold(s S) (held S, err error) {
	id, owner := s.ID(), s.Owner()
	r.mu.Lock()
	defer r.mu.Unlock()
	var none S
	switch {
	case r.closed:
		return none, ErrClosed
	case r.byOwner[owner] != none && r.byOwner[owner] != r.byID[id]:
		return none, fmt.Errorf("adopt sandbox %s for %s: %w", id, owner, ErrExists)
	case r.byID[id] != none:
		return r.byID[id], nil
	}
	r.byID[id] = s
	r.byOwner[owner] = s
	return none, nil
}

// Forget drops s: by id, as its owner's, and from every pool. Entries
// that name another sandbox stay.
func (r *Registry[S]) Forget(s S) {
	id, owner := s.ID(), s.Owner()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[id] == s {
		delete(r.byID, id)
	}
	if owner != "" && r.byOwner[owner] == s {
		delete(r.byOwner, owner)
	}
	for _, p := range r.pools {
		p.ready = slices.DeleteFunc(p.ready, func(q S) bool { return q == s })
	}
}

// Release forgets the sandbox of id, as Backend.Release does, and
// returns it; ok is false when the Registry did not know it.
func (r *Registry[S]) Release(id string) (s S, ok bool) {
	if s = r.Lookup(id); s == *new(S) {
		return s, false
	}
	r.Forget(s)
	return s, true
}

// Lookup returns the sandbox of id, or the zero S.
func (r *Registry[S]) Lookup(id string) S {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// OfOwner returns the sandbox held for owner, or the zero S.
func (r *Registry[S]) OfOwner(owner string) S {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byOwner[owner]
}

// All returns every sandbox the Registry knows by id, pools included.
func (r *Registry[S]) All() []S {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.byID))
}

// CountUp returns how many of the sandboxes the Registry knows, pools
// included, are up (see Status.Up): what Backend.Running counts.
func (r *Registry[S]) CountUp() int {
	n := 0
	for _, s := range r.All() {
		if s.Status().Up() {
			n++
		}
	}
	return n
}

// Owned returns the sandboxes held for owners.
func (r *Registry[S]) Owned() []S {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.byOwner))
}

// Claim marks owner's sandbox as being started, so that no other start
// for owner runs meanwhile. It fails for an empty owner, with ErrClosed
// once the Registry is closed, and with ErrExists while owner holds a
// sandbox or another claim. release ends the claim; the start records
// its sandbox with Assign before.
func (r *Registry[S]) Claim(owner string) (release func(), err error) {
	if owner == "" {
		return nil, errors.New("start sandbox: empty owner")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var none S
	switch {
	case r.closed:
		return nil, ErrClosed
	case r.byOwner[owner] != none || r.starting[owner]:
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, ErrExists)
	}
	r.starting[owner] = true
	return func() {
		r.mu.Lock()
		delete(r.starting, owner)
		r.mu.Unlock()
	}, nil
}

// Close marks the Registry closed: claims, holds and assignments fail
// from then on, and pools take no more sandboxes. It reports whether
// this call closed it (false when it was closed already). What the
// Registry holds stays, for the backend to release or remove.
func (r *Registry[S]) Close() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.closed = true
	return true
}

// Changes is the stream Backend.Changes returns: every change Notify
// passes on, for one reader.
func (r *Registry[S]) Changes() <-chan StatusChange { return r.changes }

// Notify passes c on to the reader of Changes without waiting: a change
// of a sandbox with no owner (a pool's) concerns nobody, and one the
// queue has no room for is dropped and logged.
func (r *Registry[S]) Notify(c StatusChange) {
	if c.Owner == "" {
		return
	}
	select {
	case r.changes <- c:
	default:
		r.log.Warn("sandbox status change dropped: queue full", "owner", c.Owner, "status", c.Status)
	}
}

// RemoveAll removes sandboxes at once, each in its own goroutine, and
// returns their errors joined.
func RemoveAll[S interface{ Remove(context.Context) error }](ctx context.Context, sandboxes []S) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range sandboxes {
		wg.Go(func() {
			if err := s.Remove(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
