package webhook

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// queueLimit bounds the requests waiting for one endpoint. A dead
	// endpoint costs at most this many batches of memory; past it the
	// oldest request is dropped.
	queueLimit = 256
	// dropLogEvery spaces the log lines about drops, which a dead endpoint
	// under load would otherwise write for every batch.
	dropLogEvery = 5 * time.Second
)

// request is one POST waiting to be sent: a batch of one conversation's
// events, or (events == nil) a conversation info.
type request struct {
	seq            uint64
	conversationID string
	events         [][]byte
	info           []byte
}

// buffer holds a conversation's events not yet cut into a request.
type buffer struct {
	events [][]byte
	first  time.Time
}

// sink is one endpoint: its buffers, its queue, and the state its two
// goroutines (flushLoop and sendLoop) share with the callers.
type sink struct {
	spec             Spec // defaults filled in
	name             string
	eventsURL        string // ends in "/events/"
	conversationsURL string
	client           *http.Client
	now              func() time.Time
	redact           func([]byte) []byte
	stats            *counters
	log              *slog.Logger

	armed chan struct{} // the first buffer appeared: recompute the timer
	wake  chan struct{} // the queue got a request

	mu        sync.Mutex
	closed    bool // no more events or infos are taken
	buffers   map[string]*buffer
	queue     []request
	lastSeq   uint64        // seq of the newest request queued
	doneSeq   uint64        // seq of the newest request the sender finished
	progress  chan struct{} // closed when doneSeq moves or the sender stops
	stopped   bool          // the sender has returned
	abandoned int           // requests the sender gave up when stopped
	// Drops not yet logged, and when the last drop line was written.
	unloggedDrops int
	lastDropLog   time.Time
}

func newSink(spec Spec, client *http.Client, now func() time.Time, redact func([]byte) []byte, stats *counters, log *slog.Logger) *sink {
	base := strings.TrimRight(spec.BaseURL, "/")
	name := base
	if u, err := url.Parse(base); err == nil {
		name = u.Redacted()
	}
	return &sink{
		spec:             spec.withDefaults(),
		name:             name,
		eventsURL:        base + "/events/",
		conversationsURL: base + "/conversations",
		client:           client,
		now:              now,
		redact:           redact,
		stats:            stats,
		log:              log.With("webhook", name),
		armed:            make(chan struct{}, 1),
		wake:             make(chan struct{}, 1),
		buffers:          make(map[string]*buffer),
		progress:         make(chan struct{}),
	}
}

// signal wakes the goroutine waiting on c without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *sink) addEvent(conversationID string, ev []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	b := s.buffers[conversationID]
	if b == nil {
		if len(s.buffers) == 0 {
			// Every deadline is first+FlushDelay, so a new buffer never
			// has an earlier one than those already waiting: the flush
			// timer only needs waking when it has nothing to wait for.
			signal(s.armed)
		}
		b = &buffer{first: s.now()}
		s.buffers[conversationID] = b
	}
	b.events = append(b.events, ev)
	var drops int
	if len(b.events) >= s.spec.EventBufferSize {
		delete(s.buffers, conversationID)
		drops = s.enqueueLocked(request{conversationID: conversationID, events: b.events})
	}
	s.mu.Unlock()
	s.logDrops(drops)
}

func (s *sink) addConversation(info []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	drops := s.enqueueLocked(request{info: info})
	s.mu.Unlock()
	s.logDrops(drops)
}

// enqueueLocked appends r to the queue, dropping the oldest request if the
// queue is full. It returns how many drops are due for a log line now.
func (s *sink) enqueueLocked(r request) (logDrops int) {
	s.lastSeq++
	r.seq = s.lastSeq
	if len(s.queue) >= queueLimit {
		s.queue[0] = request{} // let the dropped bodies be collected
		s.queue = s.queue[1:]
		s.stats.dropped.Add(1)
		s.unloggedDrops++
		if now := s.now(); now.Sub(s.lastDropLog) >= dropLogEvery {
			s.lastDropLog = now
			logDrops, s.unloggedDrops = s.unloggedDrops, 0
		}
	}
	s.queue = append(s.queue, r)
	signal(s.wake)
	return logDrops
}

// logDrops writes the drop line outside the lock.
func (s *sink) logDrops(n int) {
	if n > 0 {
		s.log.Warn("webhook queue full: oldest requests dropped", "dropped", n, "queue_limit", queueLimit)
	}
}

// cutAll queues every buffer now and returns the seq that a waiter for all
// of them must see done. With closing set, the sink takes nothing more.
func (s *sink) cutAll(closing bool) uint64 {
	s.mu.Lock()
	if closing {
		s.closed = true
	}
	drops := s.cutLocked(func(*buffer) bool { return true })
	target := s.lastSeq
	s.mu.Unlock()
	s.logDrops(drops)
	return target
}

// cutDue queues the buffers whose flush delay has passed and returns the
// earliest deadline among the rest (ok false when there are none).
func (s *sink) cutDue() (next time.Time, ok bool) {
	s.mu.Lock()
	now := s.now()
	drops := s.cutLocked(func(b *buffer) bool {
		deadline := b.first.Add(s.spec.FlushDelay)
		if !deadline.After(now) {
			return true
		}
		if !ok || deadline.Before(next) {
			next, ok = deadline, true
		}
		return false
	})
	s.mu.Unlock()
	s.logDrops(drops)
	return next, ok
}

// cutLocked queues the buffers for which due says so, oldest first.
func (s *sink) cutLocked(due func(*buffer) bool) (logDrops int) {
	var ids []string
	for id, b := range s.buffers {
		if due(b) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(s.buffers[a].first.Compare(s.buffers[b].first), strings.Compare(a, b))
	})
	for _, id := range ids {
		b := s.buffers[id]
		delete(s.buffers, id)
		logDrops += s.enqueueLocked(request{conversationID: id, events: b.events})
	}
	return logDrops
}

// flushLoop cuts buffers when their flush delay passes, until ctx ends.
func (s *sink) flushLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, ok := s.cutDue()
		var fire <-chan time.Time
		timer.Stop()
		if ok {
			timer.Reset(max(next.Sub(s.now()), 0))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-s.armed:
		case <-fire:
		}
	}
}

// sendLoop delivers queued requests one at a time, in order, until ctx ends.
func (s *sink) sendLoop(ctx context.Context) {
	defer s.stop()
	for {
		r, ok := s.next(ctx)
		if !ok {
			return
		}
		if !s.deliver(ctx, r) {
			s.mu.Lock()
			s.abandoned++
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.doneSeq = r.seq
		close(s.progress)
		s.progress = make(chan struct{})
		s.mu.Unlock()
	}
}

// next takes the oldest queued request, waiting for one; ok is false when
// ctx ended.
func (s *sink) next(ctx context.Context) (r request, ok bool) {
	for {
		if ctx.Err() != nil {
			return request{}, false
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			r = s.queue[0]
			s.queue[0] = request{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return r, true
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return request{}, false
		case <-s.wake:
		}
	}
}

// stop records that the sender returned and wakes every waiter.
func (s *sink) stop() {
	s.mu.Lock()
	s.stopped = true
	close(s.progress)
	s.mu.Unlock()
}

// wait blocks until the request numbered target and all before it are
// done, ctx ends, or the sender stops short of it.
func (s *sink) wait(ctx context.Context, target uint64) error {
	for {
		s.mu.Lock()
		done, stopped, progress := s.doneSeq >= target, s.stopped, s.progress
		s.mu.Unlock()
		switch {
		case done:
			return nil
		case stopped:
			return ErrClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		}
	}
}

// abandon, called once the sender has stopped, counts what is still queued
// as dropped. It returns how many requests were not delivered because of
// the stop.
func (s *sink) abandon() int {
	s.mu.Lock()
	queued := len(s.queue)
	lost := queued + s.abandoned
	s.stats.dropped.Add(int64(queued))
	s.queue = nil
	s.abandoned = 0
	unlogged := s.unloggedDrops
	s.unloggedDrops = 0
	s.mu.Unlock()
	s.logDrops(unlogged)
	return lost
}
