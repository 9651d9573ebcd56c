package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// recorder collects the changes a StatusCell reports.
type recorder struct {
	mu      sync.Mutex
	changes []sandbox.StatusChange
}

func (r *recorder) report(c sandbox.StatusChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) got() []sandbox.StatusChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sandbox.StatusChange(nil), r.changes...)
}

func TestStatusCellReportsChanges(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := sandbox.NewStatusCell("", sandbox.StatusStarting, rec.report)
	c.Set(sandbox.StatusRunning, nil)
	c.Set(sandbox.StatusRunning, nil) // no change
	c.SetOwner("alice")
	died := errors.New("killed")
	c.Set(sandbox.StatusExited, died)
	stale := errors.New("still exited")
	c.Set(sandbox.StatusExited, stale) // no change, but the error is kept
	want := []sandbox.StatusChange{
		{Owner: "", Status: sandbox.StatusRunning},
		{Owner: "alice", Status: sandbox.StatusExited, Err: died},
	}
	if diff := cmp.Diff(rec.got(), want, cmpopts.EquateErrors()); diff != "" {
		t.Fatalf("changes (-got +want):\n%s", diff)
	}
	if c.Owner() != "alice" || c.Status() != sandbox.StatusExited || c.Err() != stale {
		t.Fatalf("cell is %q, %s, %v; want alice, exited, %v", c.Owner(), c.Status(), c.Err(), stale)
	}
}

// TestStatusCellClient follows a real agent's client through a
// sandbox's statuses: kept while up, dropped when not.
func TestStatusCellClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandboxtest.New(t).Start(ctx, "alice", sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	cl := sb.Client()
	c := sandbox.NewStatusCell("alice", sandbox.StatusStarting, nil)
	if err := c.Healthy(ctx, time.Second); err == nil {
		t.Fatal("a starting sandbox is healthy")
	}
	c.SetAgent(sandbox.StatusRunning, cl, "unix:///agent.sock")
	if c.Client() != cl || c.RunningClient() != cl || c.Endpoint() != "unix:///agent.sock" {
		t.Fatalf("running: client %p, running client %p, endpoint %q; want %p twice and the endpoint", c.Client(), c.RunningClient(), c.Endpoint(), cl)
	}
	if err := c.Healthy(ctx, 5*time.Second); err != nil {
		t.Fatalf("running sandbox not healthy: %v", err)
	}
	c.Set(sandbox.StatusPaused, nil)
	if c.Client() != cl || c.RunningClient() != nil {
		t.Fatal("paused: the client should stay, but not be handed out for work")
	}
	if err := c.Healthy(ctx, time.Second); err == nil {
		t.Fatal("a paused sandbox is healthy")
	}
	c.Set(sandbox.StatusRunning, nil)
	if c.RunningClient() != cl {
		t.Fatal("unpaused: the client was lost")
	}
	c.Set(sandbox.StatusStopping, nil)
	if c.Client() != nil || c.RunningClient() != nil || c.Endpoint() != "" {
		t.Fatal("stopping: the client and endpoint should be dropped")
	}
	c.Set(sandbox.StatusRunning, nil)
	if c.Client() != nil {
		t.Fatal("running again without SetAgent: an old client came back")
	}
}

// TestStatusCellConcurrent sets and reads a cell from many goroutines,
// for the race detector.
func TestStatusCellConcurrent(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := sandbox.NewStatusCell("alice", sandbox.StatusStopped, rec.report)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				if (i+j)%2 == 0 {
					c.Set(sandbox.StatusRunning, nil)
				} else {
					c.Set(sandbox.StatusStopped, nil)
				}
				_, _, _ = c.Status(), c.Client(), c.Owner()
			}
		})
	}
	wg.Wait()
	got := rec.got()
	if len(got) == 0 || len(got) > 800 {
		t.Fatalf("%d changes reported for 800 sets that changed the status at least once", len(got))
	}
	for i, ch := range got {
		if ch.Owner != "alice" || (ch.Status != sandbox.StatusRunning && ch.Status != sandbox.StatusStopped) {
			t.Fatalf("change %d = %+v", i, ch)
		}
	}
}

func TestStatusCellUse(t *testing.T) {
	t.Parallel()
	cl := agentapi.NewClient("http://127.0.0.1:1", "token")
	died := errors.New("killed by the kernel")
	tests := []struct {
		name     string
		status   sandbox.Status
		err      error
		bootErr  error
		bootUp   bool // boot brings the agent up
		wantBoot bool
		wantErr  []error // errors.Is targets; none: the client
		wantText string  // in the error
	}{
		{name: "running", status: sandbox.StatusRunning},
		{name: "stopped", status: sandbox.StatusStopped, bootUp: true, wantBoot: true},
		{name: "stopped, boot fails", status: sandbox.StatusStopped, bootErr: sandbox.ErrNotReady, wantBoot: true, wantErr: []error{sandbox.ErrNotReady}},
		{name: "stopped, boot leaves it down", status: sandbox.StatusStopped, wantBoot: true, wantText: "sandbox box-1 is stopped"},
		{name: "paused", status: sandbox.StatusPaused, wantErr: []error{sandbox.ErrPaused}},
		{name: "exited", status: sandbox.StatusExited, err: died, wantErr: []error{died}},
		{name: "removed", status: sandbox.StatusRemoved, wantErr: []error{sandbox.ErrRemoved}},
		{name: "removed after dying", status: sandbox.StatusRemoved, err: died, wantErr: []error{sandbox.ErrRemoved, died}},
		{name: "stopping", status: sandbox.StatusStopping, wantText: "sandbox box-1 is stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sandbox.NewStatusCell("alice", sandbox.StatusStarting, nil)
			if tt.status == sandbox.StatusRunning {
				c.SetAgent(sandbox.StatusRunning, cl, "")
			} else {
				c.Set(tt.status, tt.err)
			}
			var op sync.Mutex
			booted := false
			boot := func(context.Context) error {
				mustHold(t, &op)
				booted = true
				if tt.bootUp {
					c.SetAgent(sandbox.StatusRunning, cl, "")
				}
				return tt.bootErr
			}
			got, done, err := c.Use(context.Background(), &op, "box-1", boot)
			if booted != tt.wantBoot {
				t.Errorf("booted = %v, want %v", booted, tt.wantBoot)
			}
			if len(tt.wantErr) == 0 && tt.wantText == "" {
				if err != nil || got != cl || done == nil {
					t.Fatalf("Use = %p, %v; want the client", got, err)
				}
				done()
				return
			}
			if err == nil || got != nil {
				t.Fatalf("Use = %p, %v; want an error", got, err)
			}
			for _, target := range tt.wantErr {
				if !errors.Is(err, target) {
					t.Errorf("Use: err = %v, want it to be %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Use: err = %v, want it to say %q", err, tt.wantText)
			}
		})
	}
}

func TestStatusCellStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   sandbox.Status
		wantBoot bool
		wantErr  error
	}{
		{status: sandbox.StatusRunning},
		{status: sandbox.StatusStopped, wantBoot: true},
		{status: sandbox.StatusExited, wantBoot: true},
		{status: sandbox.StatusPaused, wantErr: sandbox.ErrPaused},
		{status: sandbox.StatusRemoved, wantErr: sandbox.ErrRemoved},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			c := sandbox.NewStatusCell("alice", tt.status, nil)
			var op sync.Mutex
			booted := false
			err := c.Start(context.Background(), &op, "box-1", func(context.Context) error {
				mustHold(t, &op)
				booted = true
				return nil
			})
			if booted != tt.wantBoot || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Start: booted %v, err %v; want booted %v, err %v", booted, err, tt.wantBoot, tt.wantErr)
			}
		})
	}
}

func TestStatusCellStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   sandbox.Status
		wantHalt bool
		wantErr  error
	}{
		{status: sandbox.StatusRunning, wantHalt: true},
		{status: sandbox.StatusPaused, wantHalt: true},
		{status: sandbox.StatusStarting, wantHalt: true},
		{status: sandbox.StatusStopped},
		{status: sandbox.StatusExited},
		{status: sandbox.StatusRemoved, wantErr: sandbox.ErrRemoved},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			c := sandbox.NewStatusCell("alice", tt.status, rec.report)
			var op sync.Mutex
			var from sandbox.Status
			halted := false
			err := c.Stop(context.Background(), &op, "box-1", func(_ context.Context, st sandbox.Status) error {
				mustHold(t, &op)
				if c.Status() != sandbox.StatusStopping {
					t.Errorf("halt called at status %s, want stopping", c.Status())
				}
				halted, from = true, st
				c.Set(sandbox.StatusStopped, nil)
				return nil
			})
			if halted != tt.wantHalt || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Stop: halted %v, err %v; want halted %v, err %v", halted, err, tt.wantHalt, tt.wantErr)
			}
			if !tt.wantHalt {
				if len(rec.got()) != 0 {
					t.Fatalf("Stop with nothing to stop reported %v", rec.got())
				}
				return
			}
			if from != tt.status {
				t.Errorf("halt told the sandbox was %s, want %s", from, tt.status)
			}
			var got []sandbox.Status
			for _, ch := range rec.got() {
				got = append(got, ch.Status)
			}
			if diff := cmp.Diff(got, []sandbox.Status{sandbox.StatusStopping, sandbox.StatusStopped}); diff != "" {
				t.Errorf("changes (-got +want):\n%s", diff)
			}
		})
	}
}

// mustHold fails the test unless op is locked (by the caller's caller).
func mustHold(t *testing.T, op *sync.Mutex) {
	t.Helper()
	if op.TryLock() {
		op.Unlock()
		t.Error("called without op held")
	}
}
