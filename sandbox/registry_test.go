package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/sandbox"
)

// box is a sandbox as a Registry sees it.
type box struct {
	id     string
	owner  string
	status sandbox.Status
	// removeErr is what Remove returns; removed counts the calls.
	removeErr error
	removed   atomic.Int32
	// gate, when not nil, holds Remove until it is closed.
	gate chan struct{}
}

func newBox(id, owner string) *box { return &box{id: id, owner: owner} }

func (b *box) ID() string    { return b.id }
func (b *box) Owner() string { return b.owner }

func (b *box) Status() sandbox.Status { return b.status }

func (b *box) Remove(ctx context.Context) error {
	b.removed.Add(1)
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.removeErr
}

func ids(boxes []*box) []string {
	out := make([]string, 0, len(boxes))
	for _, b := range boxes {
		out = append(out, b.id)
	}
	slices.Sort(out)
	return out
}

func TestRegistryClaim(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	if _, err := r.Claim(""); err == nil {
		t.Fatal("claim of the empty owner accepted")
	}
	release, err := r.Claim("alice")
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if _, err := r.Claim("alice"); !errors.Is(err, sandbox.ErrExists) {
		t.Fatalf("second claim while the first runs: err = %v, want ErrExists", err)
	}
	if _, err := r.Claim("bob"); err != nil {
		t.Fatalf("another owner's claim: %v", err)
	}
	release()
	again, err := r.Claim("alice")
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	s := newBox("c1", "alice")
	r.Add(s)
	if !r.Assign("alice", s) {
		t.Fatal("Assign on an open registry refused")
	}
	again()
	if _, err := r.Claim("alice"); !errors.Is(err, sandbox.ErrExists) {
		t.Fatalf("claim of an owner holding a sandbox: err = %v, want ErrExists", err)
	}
	if !r.Close() {
		t.Fatal("first Close reported the registry closed already")
	}
	if r.Close() {
		t.Fatal("second Close reported closing it")
	}
	if _, err := r.Claim("carol"); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("claim after Close: err = %v, want ErrClosed", err)
	}
	if r.Assign("carol", newBox("c2", "carol")) {
		t.Fatal("Assign after Close recorded the sandbox")
	}
	if got := r.OfOwner("alice"); got != s {
		t.Errorf("OfOwner(alice) after Close = %v, want the sandbox held before", got)
	}
}

// TestRegistryClaimRace has many starts claim one owner at once: exactly
// one gets it.
func TestRegistryClaimRace(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	var (
		wg  sync.WaitGroup
		won atomic.Int32
	)
	for range 32 {
		wg.Go(func() {
			if _, err := r.Claim("alice"); err == nil {
				won.Add(1)
			} else if !errors.Is(err, sandbox.ErrExists) {
				t.Errorf("claim: %v", err)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d claims won, want 1", n)
	}
}

func TestRegistryHold(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	s := newBox("c1", "alice")
	if held, err := r.Hold(s); held != nil || err != nil {
		t.Fatalf("Hold of a new sandbox = %v, %v; want nil, nil", held, err)
	}
	if r.Lookup("c1") != s || r.OfOwner("alice") != s {
		t.Fatal("Hold did not record the sandbox by id and by owner")
	}
	// The same container recovered again: the one held is the answer.
	if held, err := r.Hold(newBox("c1", "alice")); held != s || err != nil {
		t.Fatalf("Hold of a sandbox held already = %v, %v; want the one held", held, err)
	}
	other := newBox("c2", "alice")
	if _, err := r.Hold(other); !errors.Is(err, sandbox.ErrExists) || !strings.Contains(err.Error(), "c2") {
		t.Fatalf("Hold of a second sandbox for alice: err = %v, want ErrExists naming c2", err)
	}
	if r.Lookup("c2") != nil {
		t.Fatal("a refused Hold recorded the sandbox")
	}
	r.Close()
	if _, err := r.Hold(newBox("c3", "bob")); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("Hold after Close: err = %v, want ErrClosed", err)
	}
}

func TestRegistryForget(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	a, b := newBox("c1", "alice"), newBox("c2", "bob")
	r.Add(a)
	r.Add(b)
	r.Assign("alice", a)
	r.Assign("bob", b)
	if diff := cmp.Diff(ids(r.All()), []string{"c1", "c2"}); diff != "" {
		t.Fatalf("All (-got +want):\n%s", diff)
	}
	// A stale sandbox of the same id and owner leaves the entries alone.
	r.Forget(newBox("c1", "alice"))
	if r.Lookup("c1") != a || r.OfOwner("alice") != a {
		t.Fatal("Forget of another sandbox dropped alice's")
	}
	r.Forget(a)
	if r.Lookup("c1") != nil || r.OfOwner("alice") != nil {
		t.Fatal("Forget left alice's sandbox")
	}
	if diff := cmp.Diff(ids(r.Owned()), []string{"c2"}); diff != "" {
		t.Fatalf("Owned after Forget (-got +want):\n%s", diff)
	}
	if _, err := r.Claim("alice"); err != nil {
		t.Fatalf("claim after the owner's sandbox was forgotten: %v", err)
	}
	if got, ok := r.Release("c2"); !ok || got != b {
		t.Fatalf("Release(c2) = %v, %v; want bob's sandbox", got, ok)
	}
	if r.Lookup("c2") != nil || r.OfOwner("bob") != nil {
		t.Fatal("Release left bob's sandbox")
	}
	if _, ok := r.Release("c2"); ok {
		t.Fatal("Release of a sandbox released already found it")
	}
}

func TestRegistryCountUp(t *testing.T) {
	t.Parallel()
	r := sandbox.NewRegistry[*box](nil)
	for i, st := range []sandbox.Status{sandbox.StatusRunning, sandbox.StatusPaused, sandbox.StatusStarting,
		sandbox.StatusStopped, sandbox.StatusExited, sandbox.StatusRunning} {
		b := newBox(string(rune('a'+i)), "")
		b.status = st
		r.Add(b)
	}
	if n := r.CountUp(); n != 3 {
		t.Fatalf("CountUp = %d, want 3 (two running, one paused)", n)
	}
}

func TestRegistryNotify(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	r := sandbox.NewRegistry[*box](logger)
	r.Notify(sandbox.StatusChange{ID: "pool", Status: sandbox.StatusRunning})
	for i := range sandbox.ChangesQueue + 2 {
		r.Notify(sandbox.StatusChange{Owner: "alice", ID: "c1", Status: []sandbox.Status{sandbox.StatusRunning, sandbox.StatusStopped}[i%2]})
	}
	got := 0
	for len(r.Changes()) > 0 {
		c := <-r.Changes()
		if c.Owner != "alice" {
			t.Fatalf("change %d is of %q: a pool sandbox's change was queued", got, c.Owner)
		}
		if want := []sandbox.Status{sandbox.StatusRunning, sandbox.StatusStopped}[got%2]; c.Status != want {
			t.Fatalf("change %d is %s, want %s: out of order", got, c.Status, want)
		}
		got++
	}
	if got != sandbox.ChangesQueue {
		t.Fatalf("%d changes queued, want %d", got, sandbox.ChangesQueue)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "queue full"); n != 2 {
		t.Fatalf("%d drops logged, want 2:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRemoveAll removes sandboxes that each wait for the others to have
// begun: removing one at a time would never end.
func TestRemoveAll(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	boom := errors.New("boom")
	boxes := []*box{newBox("c1", ""), newBox("c2", ""), newBox("c3", "")}
	for _, b := range boxes {
		b.gate = gate
	}
	boxes[1].removeErr = boom
	go func() {
		for {
			n := 0
			for _, b := range boxes {
				n += int(b.removed.Load())
			}
			if n == len(boxes) {
				close(gate)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sandbox.RemoveAll(ctx, boxes)
	if !errors.Is(err, boom) {
		t.Fatalf("RemoveAll = %v, want the failed removal's error", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RemoveAll removed one at a time: %v", err)
	}
	for _, b := range boxes {
		if n := b.removed.Load(); n != 1 {
			t.Errorf("%s removed %d times, want 1", b.id, n)
		}
	}
}
