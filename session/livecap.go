package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gohands/gohands/sandbox"
)

// Defaults of the live sandbox cap (Options.MaxLive, StartQueue,
// StartWait).
const (
	DefaultMaxLive    = 100
	DefaultStartQueue = 100
	DefaultStartWait  = 2 * time.Minute
)

// liveHolder is what holds a slot of the live sandbox cap: a
// conversation's runner, or a shared workspace.
type liveHolder interface {
	// idleSince reports whether the holder's sandbox runs with nothing
	// using it, and since when it is unused.
	idleSince() (time.Time, bool)
	// stopForRoom stops the idle sandbox to make room for another; it
	// reports whether the sandbox is down.
	stopForRoom(ctx context.Context) bool
	// sandboxUp reports whether the sandbox may be running: it is
	// running, paused, starting or stopping, or an operation on it is
	// under way.
	sandboxUp() bool
	// capName names the holder in logs.
	capName() string
}

// slotState is where a slot's sandbox is.
type slotState uint8

const (
	slotStarting slotState = iota // reserved; the sandbox is being started
	slotRunning                   // the sandbox is up
	slotStopping                  // picked to make room; being stopped
)

// liveCap bounds the sandboxes live at once: running, paused or being
// started. A start takes a slot first (reserve), so that starts made at
// the same moment cannot pass the cap together; the slot goes back when
// the start fails or the sandbox stops or is removed (release). At the
// cap, the least recently used idle sandbox is stopped to make room, and
// the start waits its turn in a FIFO queue, bounded in length and in
// wait; past either bound it is refused (KindTooMany, with a
// RetryAfter). A sandbox found running without a slot (re-adopted after
// a restart, or started again behind the cap's back) takes one at once
// (hold), even past the cap: the next starts then wait until room is
// made.
type liveCap struct {
	max      int
	queueMax int
	maxWait  time.Duration
	// poll is how often a waiting start looks again for an idle sandbox
	// to stop and for slots whose sandbox went down unseen.
	poll time.Duration
	log  *slog.Logger
	ctx  context.Context // ends when the manager closes
	wg   *sync.WaitGroup // the manager's, for the stops made in the background

	mu    sync.Mutex
	held  map[liveHolder]slotState
	queue []*startWaiter
}

// startWaiter is a start waiting in the queue; ready is closed when the
// slot is given to it.
type startWaiter struct {
	h       liveHolder
	ready   chan struct{}
	granted bool
}

func newLiveCap(m *ConversationManager) *liveCap {
	return &liveCap{
		max: m.opts.MaxLive, queueMax: m.opts.StartQueue, maxWait: m.opts.StartWait,
		poll: max(min(m.opts.StartWait/8, 250*time.Millisecond), 5*time.Millisecond),
		log:  m.log, ctx: m.ctx, wg: &m.wg,
		held: make(map[liveHolder]slotState),
	}
}

// holds reports whether h holds a slot that is not being given up: its
// sandbox may be used as it is. One picked to make room is not: its
// user waits for the stop, then starts it again on a slot of its own.
func (c *liveCap) holds(h liveHolder) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.held[h]
	return ok && st != slotStopping
}

// free takes a free slot for h with no wait, when one is free and no
// start waits for it; it reports whether h holds a slot.
func (c *liveCap) free(h liveHolder) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[h]; ok {
		return true
	}
	if len(c.held) < c.max && len(c.queue) == 0 {
		c.held[h] = slotStarting
		return true
	}
	return false
}

// reserve takes a slot for h before its sandbox starts: a free one, or
// else its turn in the queue while the least recently used idle
// sandboxes are stopped to make room. It fails with KindTooMany when the
// queue is full or the wait is over, and with ctx's error when ctx ends
// first. A holder that holds a slot already keeps it.
func (c *liveCap) reserve(ctx context.Context, h liveHolder) error {
	if c.free(h) {
		return nil
	}
	c.reclaim() // a slot whose sandbox went down unseen is free
	if c.free(h) {
		return nil
	}
	c.mu.Lock()
	if len(c.queue) >= c.queueMax {
		live, queued := len(c.held), len(c.queue)
		c.mu.Unlock()
		return c.refuse(fmt.Sprintf("%d sandboxes are live, the most this server allows (max_live_sandboxes), "+
			"and %d starts already wait for room, the most it queues (start_queue_length)", live, queued))
	}
	w := &startWaiter{h: h, ready: make(chan struct{})}
	c.queue = append(c.queue, w)
	c.grantLocked() // a slot freed since free looked is w's
	c.mu.Unlock()
	c.log.InfoContext(ctx, "sandbox start waits for room under the live cap", "for", h.capName())
	c.makeRoom()
	timer := time.NewTimer(c.maxWait)
	defer timer.Stop()
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		select {
		case <-w.ready:
			return nil
		case <-tick.C:
			if c.first(w) { // one looks for all
				c.reclaim()
				c.makeRoom()
			}
		case <-timer.C:
			return c.abandon(w, c.refuse(fmt.Sprintf("%d sandboxes are live, the most this server allows (max_live_sandboxes), "+
				"and none came free within %s (start_queue_wait)", c.max, c.maxWait)), true)
		case <-ctx.Done():
			return c.abandon(w, ctx.Err(), false)
		}
	}
}

// first reports whether w is first in the queue.
func (c *liveCap) first(w *startWaiter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) > 0 && c.queue[0] == w
}

// abandon takes w out of the queue after its wait ended with err. A slot
// given to it meanwhile is kept when keep says so (the wait only timed
// out: the start goes ahead), and given back otherwise (ctx ended).
func (c *liveCap) abandon(w *startWaiter, err error, keep bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.granted {
		if keep {
			return nil
		}
		delete(c.held, w.h)
		c.grantLocked()
		return err
	}
	c.queue = slices.DeleteFunc(c.queue, func(q *startWaiter) bool { return q == w })
	return err
}

// refuse is the KindTooMany error of a start the cap turns away; it asks
// the client to come back after about the time a start waits.
func (c *liveCap) refuse(why string) error {
	retry := time.Duration(math.Ceil(min(c.maxWait, time.Minute).Seconds())) * time.Second
	return &Error{Kind: KindTooMany, Err: ErrTooMany, RetryAfter: max(retry, time.Second),
		Detail: "the sandbox cannot start now: " + why + "; try again later"}
}

// hold counts h's sandbox, found up, as live: at once, past the cap if
// need be.
func (c *liveCap) hold(h liveHolder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.held[h]; !ok || st == slotStarting {
		c.held[h] = slotRunning
	}
}

// started marks h's sandbox, started on a slot of h's, as up.
func (c *liveCap) started(h liveHolder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[h]; ok {
		c.held[h] = slotRunning
	}
}

// release gives back h's slot (its start failed, or its sandbox stopped
// or went), to the first waiting start.
func (c *liveCap) release(h liveHolder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[h]; !ok {
		return
	}
	delete(c.held, h)
	c.grantLocked()
}

// grantLocked gives the free slots to the waiting starts, first come
// first served. The caller holds c.mu.
func (c *liveCap) grantLocked() {
	for len(c.held) < c.max && len(c.queue) > 0 {
		w := c.queue[0]
		c.queue = c.queue[1:]
		if _, ok := c.held[w.h]; !ok {
			c.held[w.h] = slotStarting
		}
		w.granted = true
		close(w.ready)
	}
}

// reclaim gives back the slots of up sandboxes that went down without
// their holder saying so (one stopped or removed behind the runner's
// back, or whose status change was missed).
func (c *liveCap) reclaim() {
	for _, h := range c.holders(slotRunning) {
		if !h.sandboxUp() {
			c.mu.Lock()
			if c.held[h] == slotRunning {
				delete(c.held, h)
				c.grantLocked()
			}
			c.mu.Unlock()
		}
	}
}

// holders returns the holders whose slot is in state st.
func (c *liveCap) holders(st slotState) []liveHolder {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []liveHolder
	for h, s := range c.held {
		if s == st {
			out = append(out, h)
		}
	}
	return out
}

// makeRoom stops, in the background, as many of the least recently used
// idle sandboxes as the waiting starts need beyond the free slots and
// those being stopped already.
func (c *liveCap) makeRoom() {
	c.mu.Lock()
	need := len(c.queue) - max(c.max-len(c.held), 0)
	for _, st := range c.held {
		if st == slotStopping {
			need--
		}
	}
	c.mu.Unlock()
	if need <= 0 {
		return
	}
	type idle struct {
		h     liveHolder
		since time.Time
	}
	var idles []idle
	for _, h := range c.holders(slotRunning) {
		if since, ok := h.idleSince(); ok {
			idles = append(idles, idle{h, since})
		}
	}
	slices.SortFunc(idles, func(x, y idle) int { return x.since.Compare(y.since) })
	for _, v := range idles {
		if need == 0 {
			break
		}
		c.mu.Lock()
		picked := c.held[v.h] == slotRunning
		if picked {
			c.held[v.h] = slotStopping
		}
		c.mu.Unlock()
		if !picked {
			continue
		}
		need--
		c.log.Info("stopping the least recently used idle sandbox to make room", "for_room", v.h.capName())
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
			defer cancel()
			if v.h.stopForRoom(ctx) {
				c.release(v.h)
				return
			}
			c.mu.Lock()
			if c.held[v.h] == slotStopping {
				c.held[v.h] = slotRunning // in use again, or the engine refused: looked at again later
			}
			c.mu.Unlock()
		}()
	}
}

// LiveSandboxes says how many sandboxes the live cap counts: those up,
// those being started, and the starts waiting for room.
func (m *ConversationManager) LiveSandboxes() (running, starting, queued int) {
	c := m.live
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.held {
		if st == slotStarting {
			starting++
		} else {
			running++
		}
	}
	return running, starting, len(c.queue)
}

// up reports whether sb is running, paused or starting.
func up(sb sandbox.Sandbox) bool {
	if sb == nil {
		return false
	}
	switch sb.Status() {
	case sandbox.StatusRunning, sandbox.StatusPaused, sandbox.StatusStarting:
		return true
	}
	return false
}

// admit makes sb, h's sandbox (nil: it has none), live under the cap and
// returns it. One up takes a slot at once (hold). One stopped, or being
// stopped, is started again on a reserved slot, and so is a new one,
// made by start, when there is none. A dead one (exited, removed) is
// returned as it is: its first use finds it so and replaces it. The
// caller holds h's operation lock.
func (c *liveCap) admit(ctx context.Context, h liveHolder, sb sandbox.Sandbox,
	start func(context.Context) (sandbox.Sandbox, error)) (_ sandbox.Sandbox, err error) {
	if sb != nil {
		switch st := sb.Status(); {
		case up(sb):
			c.hold(h)
			return sb, nil
		case st != sandbox.StatusStopped && st != sandbox.StatusStopping:
			return sb, nil
		}
	}
	if err := c.reserve(ctx, h); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.release(h)
		}
	}()
	if sb == nil {
		if sb, err = start(ctx); err != nil {
			return nil, err
		}
		c.started(h)
		return sb, nil
	}
	if err := sb.Start(ctx); err != nil {
		if errors.Is(err, sandbox.ErrRemoved) || errors.Is(err, sandbox.ErrExited) {
			return sb, nil // dead: replaced on use, which gives the slot back
		}
		return nil, sandboxError(err)
	}
	c.started(h)
	return sb, nil
}

// A conversation's runner holds a slot of the live cap while its
// sandbox may be up.
var _ liveHolder = (*runner)(nil)

// liveSlot is admit for the runner's sandbox sb (nil: none yet). The
// caller holds r.op.
func (r *runner) liveSlot(ctx context.Context, sb sandbox.Sandbox) (sandbox.Sandbox, error) {
	return r.a.m.live.admit(ctx, r, sb, r.start)
}

// restartOn stops and starts sb, the runner's sandbox, on a slot of the
// live cap (the one it holds, if it holds one).
func (r *runner) restartOn(ctx context.Context, sb sandbox.Sandbox) error {
	r.op.Lock()
	defer r.op.Unlock()
	live := r.a.m.live
	if err := live.reserve(ctx, r); err != nil {
		return err
	}
	if err := sb.Stop(ctx); err != nil {
		if !up(sb) {
			live.release(r)
		}
		return sandboxError(err)
	}
	if err := sb.Start(ctx); err != nil {
		live.release(r)
		return sandboxError(err)
	}
	live.started(r)
	return nil
}

// wentDown gives the slot back when the backend says the sandbox stopped,
// died or went, and it is still down.
func (r *runner) wentDown(st sandbox.Status) {
	switch st {
	case sandbox.StatusStopped, sandbox.StatusExited, sandbox.StatusRemoved:
		if !r.sandboxUp() {
			r.a.m.live.release(r)
		}
	}
}

func (r *runner) idleSince() (time.Time, bool) {
	sb := r.current()
	if sb == nil || sb.Status() != sandbox.StatusRunning || r.a.busy() {
		return time.Time{}, false
	}
	return r.a.lastActive(), true
}

func (r *runner) stopForRoom(ctx context.Context) bool { return r.stopIdle(ctx) }

func (r *runner) sandboxUp() bool {
	if !r.op.TryLock() {
		return true // a start, stop or recovery is under way
	}
	defer r.op.Unlock()
	sb := r.current()
	return up(sb) || sb != nil && sb.Status() == sandbox.StatusStopping
}

func (r *runner) capName() string { return "conversation " + r.a.id }

// A shared workspace holds a slot of the live cap while its sandbox may
// be up, as a conversation does.
var _ liveHolder = (*SharedWorkspace)(nil)

func (s *SharedWorkspace) idleSince() (time.Time, bool) {
	s.mu.Lock()
	sb, busy, last := s.sb, s.uses > 0, s.last
	s.mu.Unlock()
	if sb == nil || busy || sb.Status() != sandbox.StatusRunning {
		return time.Time{}, false
	}
	return last, true
}

func (s *SharedWorkspace) stopForRoom(ctx context.Context) bool {
	return s.stopIdle(ctx, s.ws.m.now(), 0)
}

func (s *SharedWorkspace) sandboxUp() bool {
	if !s.op.TryLock() {
		return true
	}
	defer s.op.Unlock()
	sb := s.current()
	return up(sb) || sb != nil && sb.Status() == sandbox.StatusStopping
}

func (s *SharedWorkspace) capName() string { return "workspace " + s.root }
