package sandbox

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// Up reports whether a sandbox of status st has its agent up: running,
// or paused (frozen, but holding its memory and its agent's client).
func (st Status) Up() bool { return st == StatusRunning || st == StatusPaused }

// StatusCell holds what a backend knows of one sandbox's life: its owner,
// its status, why it exited, and its agent's client and endpoint while
// it is up. A status that is not Up drops the client (closing its idle
// connections: a restart makes a new one). Each change of status is
// reported, once the cell is unlocked, to the function given to
// NewStatusCell. Its methods are safe for concurrent use.
type StatusCell struct {
	report func(StatusChange)

	mu       sync.Mutex // guards the fields below
	owner    string
	status   Status
	err      error
	client   *agentapi.Client
	endpoint string
}

// NewStatusCell returns the cell of a sandbox of owner ("" for a pool's)
// at status st. report, when not nil, is called with each change of
// status (Owner, Status and Err filled in; the backend adds the ID), in
// the goroutine that made it.
func NewStatusCell(owner string, st Status, report func(StatusChange)) *StatusCell {
	return &StatusCell{report: report, owner: owner, status: st}
}

// Owner returns the owner key, "" while the sandbox waits in a pool.
func (c *StatusCell) Owner() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner
}

// SetOwner gives the sandbox to owner (a pool's, handed out).
func (c *StatusCell) SetOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owner = owner
}

// Status returns the last status set.
func (c *StatusCell) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Err returns the error set with the status: for StatusExited, why the
// sandbox exited.
func (c *StatusCell) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Client returns the agent's client while the sandbox is up (running or
// paused), or nil.
func (c *StatusCell) Client() *agentapi.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}

// RunningClient returns the agent's client while the sandbox runs, or
// nil (paused included): what a caller may send work to now.
func (c *StatusCell) RunningClient() *agentapi.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != StatusRunning {
		return nil
	}
	return c.client
}

// Endpoint returns where the agent is reached while the sandbox is up,
// or "".
func (c *StatusCell) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoint
}

// Healthy asks the agent of the running sandbox whether it is well, and
// waits for the answer at most timeout. A sandbox that is not running
// (paused included) is not healthy.
func (c *StatusCell) Healthy(ctx context.Context, timeout time.Duration) error {
	cl := c.RunningClient()
	if cl == nil {
		return fmt.Errorf("sandbox is %s, not running", c.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cl.Health(ctx)
}

// Set records status st and err. Setting the status the cell has already
// reports nothing, but records err.
func (c *StatusCell) Set(st Status, err error) {
	c.set(st, err, nil, "")
}

// SetAgent records that the sandbox is up at status st (StatusRunning,
// or StatusPaused) with its agent reached by cl at endpoint.
func (c *StatusCell) SetAgent(st Status, cl *agentapi.Client, endpoint string) {
	c.set(st, nil, cl, endpoint)
}

func (c *StatusCell) set(st Status, err error, cl *agentapi.Client, endpoint string) {
	c.mu.Lock()
	if cl != nil {
		c.client, c.endpoint = cl, endpoint
	}
	var old *agentapi.Client
	if !st.Up() {
		old = c.client
		c.client, c.endpoint = nil, ""
	}
	changed := c.status != st
	c.status, c.err = st, err
	change := StatusChange{Owner: c.owner, Status: st, Err: err}
	c.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
	if changed && c.report != nil {
		c.report(change)
	}
}

// Use is Sandbox.Use for a backend whose sandbox is named name, whose
// lifecycle operations op serializes, and whose boot starts a stopped
// sandbox (called with op held). It gives the client of a running
// sandbox at once, starts a stopped one first, and fails for one that is
// paused (ErrPaused), exited (its error), removed (ErrRemoved) or on its
// way. done does nothing.
func (c *StatusCell) Use(ctx context.Context, op sync.Locker, name string, boot func(context.Context) error) (cl *agentapi.Client, done func(), err error) {
	if cl := c.RunningClient(); cl != nil {
		return cl, func() {}, nil
	}
	op.Lock()
	defer op.Unlock()
	if cl := c.RunningClient(); cl != nil {
		return cl, func() {}, nil
	}
	switch st, err := c.Status(), c.Err(); st {
	case StatusStopped:
		if err := boot(ctx); err != nil {
			return nil, nil, err
		}
	case StatusPaused:
		return nil, nil, fmt.Errorf("sandbox %s: %w", name, ErrPaused)
	case StatusExited:
		return nil, nil, err
	case StatusRemoved:
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox %s: %w (%w)", name, ErrRemoved, err)
		}
		return nil, nil, fmt.Errorf("sandbox %s: %w", name, ErrRemoved)
	default:
		return nil, nil, fmt.Errorf("sandbox %s is %s", name, st)
	}
	if cl := c.RunningClient(); cl != nil {
		return cl, func() {}, nil
	}
	return nil, nil, fmt.Errorf("sandbox %s is %s", name, c.Status())
}

// Start is Sandbox.Start for a backend, as Use is Sandbox.Use: with op
// held, it runs boot for a sandbox that is neither running (nothing to
// do), paused (ErrPaused) nor removed (ErrRemoved).
func (c *StatusCell) Start(ctx context.Context, op sync.Locker, name string, boot func(context.Context) error) error {
	op.Lock()
	defer op.Unlock()
	switch c.Status() {
	case StatusRunning:
		return nil
	case StatusPaused:
		return fmt.Errorf("sandbox %s: %w", name, ErrPaused)
	case StatusRemoved:
		return fmt.Errorf("sandbox %s: %w", name, ErrRemoved)
	}
	return boot(ctx)
}

// Stop is Sandbox.Stop for a backend, as Use is Sandbox.Use: with op
// held, a sandbox neither stopped nor exited (nothing to do) nor removed
// (ErrRemoved) is marked StatusStopping, and halt stops it; from is the
// status it had. halt sets the status it ends at.
func (c *StatusCell) Stop(ctx context.Context, op sync.Locker, name string, halt func(ctx context.Context, from Status) error) error {
	op.Lock()
	defer op.Unlock()
	st := c.Status()
	switch st {
	case StatusStopped, StatusExited:
		return nil
	case StatusRemoved:
		return fmt.Errorf("sandbox %s: %w", name, ErrRemoved)
	}
	c.Set(StatusStopping, nil)
	return halt(ctx, st)
}
