package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/sandbox"
)

// factory makes boxes for a pool and records what the pool discards.
type factory struct {
	r    *sandbox.Registry[*box]
	seq  atomic.Int32
	fail atomic.Int32 // creates to fail from now on

	mu        sync.Mutex
	discarded []string
}

func (f *factory) create(ctx context.Context) (*box, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, errors.New("no image")
	}
	f.fail.Store(0)
	b := newBox(fmt.Sprintf("p%d", f.seq.Add(1)), "")
	f.r.Add(b)
	return b, nil
}

func (f *factory) discard(ctx context.Context, b *box) {
	f.r.Forget(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discarded = append(f.discarded, b.id)
}

func (f *factory) gone() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.discarded...)
}

// fill runs p.Fill until the test ends.
func fill(t *testing.T, p *sandbox.Pool[*box]) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Fill(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func waitLen(t *testing.T, p *sandbox.Pool[*box], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d sandboxes, want %d", p.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func readyIDs(p *sandbox.Pool[*box]) []string {
	var out []string
	for _, b := range p.Ready() {
		out = append(out, b.id)
	}
	return out
}

func TestPoolFillsAndRefills(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	f := &factory{r: r}
	var size atomic.Int32
	size.Store(2)
	p := r.NewPool(sandbox.PoolConfig[*box]{Name: "test pool", Size: func() int { return int(size.Load()) },
		Create: f.create, Discard: f.discard})
	fill(t, p)
	waitLen(t, p, 2)
	if diff := cmp.Diff(readyIDs(p), []string{"p1", "p2"}); diff != "" {
		t.Fatalf("pool (-got +want):\n%s", diff)
	}
	s, ok := p.Take(context.Background())
	if !ok || s.id != "p1" {
		t.Fatalf("Take = %v, %v; want the oldest, p1", s, ok)
	}
	waitLen(t, p, 2) // Take woke Fill
	if diff := cmp.Diff(readyIDs(p), []string{"p2", "p3"}); diff != "" {
		t.Fatalf("pool after a take (-got +want):\n%s", diff)
	}
	size.Store(3)
	p.Kick()
	waitLen(t, p, 3)
	// Forget takes a sandbox out of the pool it waits in.
	r.Forget(r.Lookup("p3"))
	if diff := cmp.Diff(readyIDs(p), []string{"p2", "p4"}); diff != "" {
		t.Fatalf("pool after Forget (-got +want):\n%s", diff)
	}
	if drained := p.Drain(); len(drained) != 2 || p.Len() != 0 {
		t.Fatalf("Drain gave %d, left %d; want 2, 0", len(drained), p.Len())
	}
}

func TestPoolTakeDropsUnfit(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	f := &factory{r: r}
	p := r.NewPool(sandbox.PoolConfig[*box]{Name: "test pool", Size: func() int { return 3 },
		Create: f.create, Discard: f.discard,
		Check: func(ctx context.Context, b *box) error {
			if b.id == "p3" {
				return nil
			}
			return errors.New("agent wedged")
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Fill(ctx)
	}()
	waitLen(t, p, 3)
	cancel()
	<-done
	s, ok := p.Take(context.Background())
	if !ok || s.id != "p3" {
		t.Fatalf("Take = %v, %v; want p3, the first fit one", s, ok)
	}
	if diff := cmp.Diff(f.gone(), []string{"p1", "p2"}); diff != "" {
		t.Fatalf("discarded (-got +want):\n%s", diff)
	}
	if _, ok := p.Take(context.Background()); ok {
		t.Fatal("Take from an empty pool gave a sandbox")
	}
}

// TestPoolFillRetries has the first create fail: Fill tries again.
func TestPoolFillRetries(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	f := &factory{r: r}
	f.fail.Store(1)
	p := r.NewPool(sandbox.PoolConfig[*box]{Name: "test pool", Size: func() int { return 1 },
		Create: f.create, Discard: f.discard})
	fill(t, p)
	waitLen(t, p, 1)
	if got := f.seq.Load(); got != 1 {
		t.Fatalf("%d sandboxes made, want 1", got)
	}
}

// TestPoolHold makes Fill wait while Hold says so.
func TestPoolHold(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	f := &factory{r: r}
	var held atomic.Bool
	held.Store(true)
	p := r.NewPool(sandbox.PoolConfig[*box]{Name: "test pool", Size: func() int { return 1 },
		Create: f.create, Discard: f.discard,
		Hold: func() time.Duration {
			if held.Load() {
				return 5 * time.Millisecond
			}
			return 0
		}})
	fill(t, p)
	time.Sleep(50 * time.Millisecond)
	if n := f.seq.Load(); n != 0 {
		t.Fatalf("%d sandboxes made while held, want 0", n)
	}
	held.Store(false)
	waitLen(t, p, 1)
}

// TestPoolClosedWhileCreating closes the Registry while a create runs:
// the sandbox made is discarded, not queued, and Fill ends.
func TestPoolClosedWhileCreating(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	f := &factory{r: r}
	creating, closed := make(chan struct{}), make(chan struct{})
	p := r.NewPool(sandbox.PoolConfig[*box]{Name: "test pool", Size: func() int { return 1 },
		Create: func(ctx context.Context) (*box, error) {
			close(creating)
			<-closed
			return f.create(ctx)
		},
		Discard: f.discard})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Fill(context.Background())
	}()
	<-creating
	r.Close()
	close(closed)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Fill still runs after the Registry closed under it")
	}
	if p.Len() != 0 {
		t.Fatalf("pool holds %d after Close, want 0", p.Len())
	}
	if diff := cmp.Diff(f.gone(), []string{"p1"}); diff != "" {
		t.Fatalf("discarded (-got +want):\n%s", diff)
	}
}
