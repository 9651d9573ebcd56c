package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// capRig is a manager with a live sandbox cap on slow sandbox starts,
// and conversations made without a sandbox start (by a manager with no
// sandboxes on the same store), so that every start is one the test
// makes.
type capRig struct {
	t   *testing.T
	be  *sandboxtest.Backend
	m   *ConversationManager
	ids []string

	mu      sync.Mutex
	errs    map[int]error
	hold    []chan struct{} // closed to let conversation i's call end
	entered chan int        // i once conversation i's call runs in its sandbox
	wg      sync.WaitGroup
}

func newCapRig(t *testing.T, n int, opts Options) *capRig {
	store := openStore(t)
	maker := newManagerOn(t, store, Options{})
	r := &capRig{t: t, be: sandboxtest.New(t), errs: make(map[int]error), entered: make(chan int, n)}
	for range n {
		a, _, err := maker.Create(context.Background(), CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		r.ids = append(r.ids, a.ID())
		r.hold = append(r.hold, make(chan struct{}))
	}
	maker.Close(context.Background())
	// Slow enough for the starts to overlap.
	r.be.Engine().SetStartDelay(100 * time.Millisecond)
	opts.Sandboxes = r.be
	r.m = newManagerOn(t, store, opts)
	t.Cleanup(func() {
		for _, h := range r.hold {
			select {
			case <-h:
			default:
				close(h)
			}
		}
		r.wg.Wait()
	})
	return r
}

// call makes conversation i's sandbox call in the background: it holds
// the sandbox (and keeps the conversation busy) until hold[i] closes.
func (r *capRig) call(i int) {
	a, err := r.m.Get(r.ids[i])
	if err != nil {
		r.t.Fatal(err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		err := a.WithSandbox(ctx, func(*agentapi.Client) error {
			r.entered <- i
			<-r.hold[i]
			return nil
		})
		r.mu.Lock()
		r.errs[i] = err
		r.mu.Unlock()
	}()
}

// done returns the calls that returned, with their errors.
func (r *capRig) done() map[int]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int]error, len(r.errs))
	for i, err := range r.errs {
		out[i] = err
	}
	return out
}

// counted reports how many calls the cap counts (live, starting or
// queued) or refused.
func (r *capRig) counted() int {
	running, starting, queued := r.m.LiveSandboxes()
	return running + starting + queued + len(r.done())
}

// next returns the next call to run in its sandbox.
func (r *capRig) next(what string) int {
	r.t.Helper()
	select {
	case i := <-r.entered:
		return i
	case <-time.After(2 * time.Minute):
		running, starting, queued := r.m.LiveSandboxes()
		r.t.Fatalf("no call ran in its sandbox within 2 minutes, waiting for %s (live cap: %d running, %d starting, %d queued)",
			what, running, starting, queued)
		return -1
	}
}

// wantGauges checks the cap's counts against the truth: the backend's
// running sandboxes, the engine's live ones, the calls known waiting.
func (r *capRig) wantGauges(when string, running, queued int) {
	r.t.Helper()
	gotRunning, gotStarting, gotQueued := r.m.LiveSandboxes()
	if gotRunning != running || gotStarting != 0 || gotQueued != queued {
		r.t.Errorf("%s: live cap counts %d running, %d starting, %d queued; want %d, 0, %d",
			when, gotRunning, gotStarting, gotQueued, running, queued)
	}
	if n := r.be.Running(); n != gotRunning {
		r.t.Errorf("%s: the backend runs %d sandboxes, the live cap counts %d", when, n, gotRunning)
	}
	if n := r.be.Engine().Live(); n != running {
		r.t.Errorf("%s: %d sandboxes live on the engine, want %d", when, n, running)
	}
}

// wantRefused checks that err is the cap's refusal: KindTooMany with a
// Retry-After and a detail naming the bound met.
func wantRefused(t *testing.T, i int, err error, bound string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTooMany || !errors.Is(err, ErrTooMany) || e.RetryAfter <= 0 || !strings.Contains(e.Detail, bound) {
		t.Errorf("start %d: err = %#v, want KindTooMany with a RetryAfter naming %s", i, err, bound)
	}
}

// waitCond waits for cond, for at most two minutes (the machine may be
// loaded; nothing is judged by time).
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLiveCapConcurrentStarts makes 50 sandbox starts at once under a cap
// of 10 with room for 30 to wait: never more than 10 sandboxes are
// live (running or starting, sampled by the engine at every start), 10
// run, 30 wait and 10 are refused at once with a Retry-After; as the
// calls end, idle sandboxes are stopped to make room and every waiting
// start runs. The gauges match the engine while starts wait and at the
// end.
func TestLiveCapConcurrentStarts(t *testing.T) {
	const limit, queue, n = 10, 30, 50
	r := newCapRig(t, n, Options{MaxLive: limit, StartQueue: queue, StartWait: 10 * time.Minute})
	for i := range n {
		r.call(i)
	}
	waitCond(t, "every start to be counted or refused", func() bool { return r.counted() == n })
	ran := map[int]bool{}
	for range limit {
		ran[r.next("the first 10")] = true
	}
	refused := r.done()
	if len(refused) != n-limit-queue {
		t.Errorf("%d starts refused at once, want %d", len(refused), n-limit-queue)
	}
	for i, err := range refused {
		wantRefused(t, i, err, "start_queue_length")
		if ran[i] {
			t.Errorf("start %d both ran and was refused", i)
		}
	}
	r.wantGauges("while 30 starts wait", limit, queue)
	if peak := r.be.Engine().PeakLive(); peak > limit {
		t.Errorf("%d sandboxes were live at once, past the cap of %d", peak, limit)
	}

	// Each call that ends leaves an idle sandbox, stopped to make room
	// for the next waiting start.
	for i := range ran {
		close(r.hold[i])
	}
	for len(ran) < limit+queue {
		i := r.next("a waiting start")
		if _, no := refused[i]; no || ran[i] {
			t.Fatalf("start %d ran, refused or already run", i)
		}
		ran[i] = true
		close(r.hold[i])
	}
	r.wg.Wait()
	for i, err := range r.done() {
		if _, no := refused[i]; !no && err != nil {
			t.Errorf("start %d: %v", i, err)
		}
	}
	if peak := r.be.Engine().PeakLive(); peak > limit {
		t.Errorf("%d sandboxes were live at once, past the cap of %d", peak, limit)
	}
	r.wantGauges("at the end", limit, 0)
}

// TestLiveCapFIFO makes starts arrive one after the other while every
// live sandbox is busy: they wait and run in the order they came, one
// each time a call ends and its idle sandbox is stopped. A start past
// the queue's length is refused at once.
func TestLiveCapFIFO(t *testing.T) {
	const limit, queue, n = 3, 5, 9
	r := newCapRig(t, n, Options{MaxLive: limit, StartQueue: queue, StartWait: 10 * time.Minute})
	for i := range n {
		r.call(i)
		// The next arrives once this one holds a slot, waits or is refused.
		waitCond(t, fmt.Sprintf("start %d to be counted", i), func() bool { return r.counted() == i+1 })
	}
	first := map[int]bool{}
	for range limit {
		first[r.next("the first starts")] = true
	}
	for i := range limit {
		if !first[i] {
			t.Fatalf("the first %d starts to run are %v, want 0 to %d", limit, first, limit-1)
		}
	}
	r.wantGauges("while starts wait", limit, queue)
	wantRefused(t, n-1, r.done()[n-1], "start_queue_length")
	for k := range queue {
		close(r.hold[k])
		if i := r.next("the first waiting start"); i != limit+k {
			t.Fatalf("start %d ran after %d calls ended, want %d (first come, first served)", i, k+1, limit+k)
		}
		r.wantGauges(fmt.Sprintf("after %d calls ended", k+1), limit, queue-k-1)
	}
	if peak := r.be.Engine().PeakLive(); peak > limit {
		t.Errorf("%d sandboxes were live at once, past the cap of %d", peak, limit)
	}
}

// TestLiveCapWaitBound refuses a start that waited StartWait for room
// while the one live sandbox stayed busy; the queue is empty after, and
// the start runs once the sandbox is idle.
func TestLiveCapWaitBound(t *testing.T) {
	r := newCapRig(t, 2, Options{MaxLive: 1, StartQueue: 1, StartWait: 200 * time.Millisecond})
	r.call(0)
	r.next("the first start")
	r.call(1)
	waitCond(t, "the second start to give up", func() bool { return len(r.done()) == 1 })
	wantRefused(t, 1, r.done()[1], "start_queue_wait")
	r.wantGauges("after the wait", 1, 0)
	close(r.hold[0])
	// Idle now: the next start stops it to make room.
	r.call(1)
	if i := r.next("the second start, again"); i != 1 {
		t.Fatalf("call %d ran, want 1", i)
	}
	r.wantGauges("after the second start", 1, 0)
}

// TestLiveCapCountsWorkspaces counts a workspace sandbox of the global
// routes under the cap: with a cap of 1 and the workspace's sandbox idle,
// a conversation's start stops it to make room.
func TestLiveCapCountsWorkspaces(t *testing.T) {
	r := newCapRig(t, 1, Options{MaxLive: 1, StartQueue: 1, StartWait: 10 * time.Minute})
	ws, err := r.m.Workspace("", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WithSandbox(context.Background(), func(*agentapi.Client) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r.wantGauges("with the workspace sandbox idle", 1, 0)
	r.call(0)
	if i := r.next("the conversation's start"); i != 0 {
		t.Fatalf("call %d ran, want 0", i)
	}
	if n := r.m.WorkspaceSandboxes(); n != 0 {
		t.Errorf("%d workspace sandboxes run, want the idle one stopped to make room", n)
	}
	r.wantGauges("with the conversation's sandbox", 1, 0)
	if peak := r.be.Engine().PeakLive(); peak > 1 {
		t.Errorf("%d sandboxes were live at once, past the cap of 1", peak)
	}
}
