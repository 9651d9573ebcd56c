package session

import (
	"context"
	"sync"
	"testing"

	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// gatedBackend holds every Recover but that of one owner until its gate
// opens, and counts the recoveries of each owner.
type gatedBackend struct {
	*sandboxtest.Backend
	free string // the owner whose recoveries are not held
	gate chan struct{}

	mu       sync.Mutex
	held     int // Recover calls waiting at the gate
	recovers map[string]int
}

func (b *gatedBackend) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	b.mu.Lock()
	b.recovers[h.Owner]++
	wait := h.Owner != b.free
	if wait {
		b.held++
	}
	b.mu.Unlock()
	if wait {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Backend.Recover(ctx, h)
}

func (b *gatedBackend) counts() (held int, recovers map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.recovers))
	for k, v := range b.recovers {
		out[k] = v
	}
	return b.held, out
}

// TestRestoreInBackground: StartRestore returns while the sandboxes are
// still being recovered, restoreParallel at a time; a conversation used
// before its turn recovers its sandbox at once, not after the queue, and
// Restore does not recover it a second time.
func TestRestoreInBackground(t *testing.T) {
	be := sandboxtest.New(t)
	store := openStore(t)
	m1, err := New(Options{Store: store, Sandboxes: be})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * restoreParallel
	var ids []string
	for range n {
		ids = append(ids, create(t, m1, be).ID())
	}
	if err := m1.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}

	urgent := ids[n-1]
	gb := &gatedBackend{Backend: be.Reopen(), free: urgent, gate: make(chan struct{}), recovers: make(map[string]int)}
	m2 := newManagerOn(t, store, Options{Sandboxes: gb})
	m2.StartRestore()
	waitUntil(t, "the restore to hold its workers at the gate", func() bool {
		held, _ := gb.counts()
		return held == restoreParallel
	})
	if got := m2.Recovering(); got < n-restoreParallel {
		t.Errorf("Recovering() = %d while every worker waits, want at least %d", got, n-restoreParallel)
	}

	a, err := m2.Get(urgent)
	if err != nil {
		t.Fatal(err)
	}
	useSandbox(t, a) // with every worker held: the use recovers its own
	if held, _ := gb.counts(); held != restoreParallel {
		t.Errorf("%d recoveries held, want %d: the restore went on past its bound", held, restoreParallel)
	}

	close(gb.gate)
	waitUntil(t, "the restore to finish", func() bool { return m2.Recovering() == 0 })
	_, recovers := gb.counts()
	for _, id := range ids {
		if recovers[id] != 1 {
			t.Errorf("the sandbox of %s was recovered %d times, want once", id, recovers[id])
		}
		s := be.Engine().Lookup(id)
		if s == nil || s.Status() != sandbox.StatusRunning {
			t.Errorf("the sandbox of %s after the restore: %+v, want running", id, s)
		}
	}
	if got := gb.Held(); got != n {
		t.Errorf("the backend holds %d sandboxes, want %d", got, n)
	}
	if n := be.Engine().Starts(); n != len(ids) {
		t.Errorf("%d sandboxes started, want %d: every one recovered", n, len(ids))
	}
}
