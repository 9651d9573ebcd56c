// Package sandboxtest is an in-memory sandbox.Backend for tests: each
// sandbox is a runtime-agent server (package agentd) in the test process,
// serving on a Unix socket in a temporary folder with a random token, its
// workspace a temporary folder, so a whole conversation runs without a
// container engine. A test can make a sandbox die, vanish or fail to
// start, take the engine away and bring it back, and count the starts and
// recoveries.
//
// Sandboxes belong to an Engine, which outlives the Backends on it: a new
// Backend on the same Engine (Reopen) is a server restarted on the same
// engine, finding the sandboxes its predecessor left.
package sandboxtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd"
	"github.com/gohands/gohands/sandbox"
)

// Engine holds the sandboxes of every Backend on it.
type Engine struct {
	tb   testing.TB
	dir  string
	work string // the workspace of new sandboxes; "" for one each

	mu         sync.Mutex
	boxes      map[string]*Sandbox // by id, until removed
	volumes    map[string]string   // workspace volumes: folders by name
	seq        int
	down       bool
	failStarts int
	starts     int
	recovers   int
	startDelay time.Duration // see SetStartDelay
	creating   int           // sandboxes being made, not yet in boxes
	peakLive   int           // see PeakLive
}

// Backend is a sandbox.Backend on an Engine.
type Backend struct {
	e   *Engine
	reg *sandbox.Registry[*Sandbox] // the sandboxes it holds
}

var _ sandbox.Backend = (*Backend)(nil)

// New returns a Backend on a new Engine. Its sandboxes stop when tb ends.
func New(tb testing.TB) *Backend {
	tb.Helper()
	// Unix socket paths are limited to 108 bytes: keep the folder short.
	dir, err := os.MkdirTemp("", "ghfake")
	if err != nil {
		tb.Fatal(err)
	}
	e := &Engine{tb: tb, dir: dir, boxes: make(map[string]*Sandbox), volumes: make(map[string]string)}
	tb.Cleanup(func() {
		e.mu.Lock()
		boxes := make([]*Sandbox, 0, len(e.boxes))
		for _, s := range e.boxes {
			boxes = append(boxes, s)
		}
		e.mu.Unlock()
		for _, s := range boxes {
			s.halt()
		}
		os.RemoveAll(dir)
	})
	return e.Backend()
}

// Backend returns a new Backend on e that holds nothing yet.
func (e *Engine) Backend() *Backend {
	return &Backend{e: e, reg: sandbox.NewRegistry[*Sandbox](nil)}
}

// Engine returns the engine b runs on.
func (b *Backend) Engine() *Engine { return b.e }

// Reopen returns a new Backend on b's engine, as a restarted server makes.
func (b *Backend) Reopen() *Backend { return b.e.Backend() }

// SetDown takes the engine away (every call fails with
// sandbox.ErrEngineDown) or brings it back.
func (e *Engine) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

// SetWorkspace makes the sandboxes started from now on work in the host
// folder dir, as a folder bind-mounted at the same path and made the
// runtime-agent's working folder; "" gives each a folder of its own.
func (e *Engine) SetWorkspace(dir string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.work = dir
}

// FailStarts makes the next n starts fail, as an image that cannot be had.
func (e *Engine) FailStarts(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failStarts = n
}

// SetStartDelay makes every boot (a new sandbox's, or a stopped one's
// start) take d longer, as a container engine under load does, so that
// starts overlap.
func (e *Engine) SetStartDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.startDelay = d
}

// Live returns how many sandboxes are live now: being made, starting,
// running or paused.
func (e *Engine) Live() int {
	e.mu.Lock()
	n := e.creating
	boxes := make([]*Sandbox, 0, len(e.boxes))
	for _, s := range e.boxes {
		boxes = append(boxes, s)
	}
	e.mu.Unlock()
	for _, s := range boxes {
		switch s.Status() {
		case sandbox.StatusStarting, sandbox.StatusRunning, sandbox.StatusPaused:
			n++
		}
	}
	return n
}

// PeakLive returns the most sandboxes Live counted, sampled each time
// one began to be made or to start.
func (e *Engine) PeakLive() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peakLive
}

// sampleLive records Live in PeakLive.
func (e *Engine) sampleLive() {
	n := e.Live()
	e.mu.Lock()
	e.peakLive = max(e.peakLive, n)
	e.mu.Unlock()
}

// Starts returns how many sandboxes were started.
func (e *Engine) Starts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts
}

// Recovers returns how many sandboxes were taken over by Recover.
func (e *Engine) Recovers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recovers
}

// Sandboxes returns the sandboxes on the engine, removed ones aside.
func (e *Engine) Sandboxes() []*Sandbox {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Sandbox, 0, len(e.boxes))
	for _, s := range e.boxes {
		out = append(out, s)
	}
	return out
}

// Lookup returns the sandbox of owner on the engine, or nil.
func (e *Engine) Lookup(owner string) *Sandbox {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.boxes {
		if s.Owner() == owner {
			return s
		}
	}
	return nil
}

// Leave puts a sandbox on the engine for owner that no Backend holds, as
// one a crashed server left; it runs.
func (e *Engine) Leave(owner string) *Sandbox {
	e.tb.Helper()
	s, err := e.create(context.Background(), owner, sandbox.Spec{})
	if err != nil {
		e.tb.Fatal(err)
	}
	return s
}

// Volumes returns the names of the workspace volumes on the engine.
func (e *Engine) Volumes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.volumes))
	for name := range e.volumes {
		out = append(out, name)
	}
	return out
}

// volume returns the folder of the workspace volume name, made when
// new; "" names a new one.
func (e *Engine) volume(name string) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if name == "" {
		name = "vol" + rand.Text()[:10]
	}
	dir, ok := e.volumes[name]
	if !ok {
		dir = filepath.Join(e.dir, "vols", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
		e.volumes[name] = dir
	}
	return name, dir, nil
}

// removeVolume removes a workspace volume.
func (e *Engine) removeVolume(name string) {
	e.mu.Lock()
	dir, ok := e.volumes[name]
	delete(e.volumes, name)
	e.mu.Unlock()
	if ok {
		os.RemoveAll(dir)
	}
}

func (e *Engine) check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return fmt.Errorf("%w (the test took it away)", sandbox.ErrEngineDown)
	}
	return nil
}

// create makes and boots a sandbox for owner. A spec with a working dir
// gets a workspace volume (spec.Volume, or a new one) unless the engine
// has a workspace folder for all (SetWorkspace).
func (e *Engine) create(ctx context.Context, owner string, spec sandbox.Spec) (*Sandbox, error) {
	e.mu.Lock()
	if e.down {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w (the test took it away)", sandbox.ErrEngineDown)
	}
	if e.failStarts > 0 {
		e.failStarts--
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: the test refused the start", sandbox.ErrImageMissing)
	}
	e.seq++
	e.starts++
	e.creating++
	id := fmt.Sprintf("fake%04d%s", e.seq, rand.Text()[:8])
	work := e.work
	e.mu.Unlock()
	e.sampleLive()
	made := false
	defer func() {
		if !made {
			e.mu.Lock()
			e.creating--
			e.mu.Unlock()
		}
	}()
	s := &Sandbox{e: e, id: id, token: rand.Text(), image: sandbox.DefaultImage,
		dir: filepath.Join(e.dir, id[:8]), work: work}
	s.cell = sandbox.NewStatusCell(owner, sandbox.StatusStopped, s.report)
	switch {
	case spec.WorkingDir != "" && s.work == "":
		name, dir, err := e.volume(spec.Volume)
		if err != nil {
			return nil, err
		}
		s.volume, s.work, s.disposable = name, dir, true
	case spec.WorkingDir != "":
		s.disposable = true
	case s.work == "":
		s.work = filepath.Join(s.dir, "workspace")
	}
	for _, d := range []string{s.dir, s.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := s.boot(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.boxes[id] = s
	e.creating--
	made = true
	e.mu.Unlock()
	return s, nil
}

// Start starts a sandbox for owner.
func (b *Backend) Start(ctx context.Context, owner string, spec sandbox.Spec) (sandbox.Sandbox, error) {
	release, err := b.reg.Claim(owner)
	if err != nil {
		return nil, err
	}
	defer release()
	s, err := b.e.create(ctx, owner, spec)
	if err != nil {
		return nil, err
	}
	s.setBackend(b)
	b.reg.Add(s)
	b.reg.Assign(owner, s)
	return s, nil
}

// Recover takes over the sandbox of h (by id, or by owner when h.ID is
// empty).
func (b *Backend) Recover(ctx context.Context, h sandbox.Handle) (sandbox.Sandbox, error) {
	if err := b.e.check(); err != nil {
		return nil, err
	}
	if s := b.reg.OfOwner(h.Owner); s != nil && (h.ID == "" || s.id == h.ID) {
		return s, nil
	}
	b.e.mu.Lock()
	s := b.e.boxes[h.ID]
	if h.ID == "" {
		for _, c := range b.e.boxes {
			if c.Owner() == h.Owner {
				s = c
			}
		}
	}
	if s != nil {
		b.e.recovers++
	}
	b.e.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("adopt sandbox %s: %w", h.ID, sandbox.ErrRemoved)
	}
	if h.Token != "" && h.Token != s.token {
		return nil, fmt.Errorf("adopt sandbox %s: the token does not match", h.ID)
	}
	s.setBackend(b)
	held, err := b.reg.Hold(s)
	switch {
	case err != nil:
		return nil, err
	case held != nil:
		return held, nil
	}
	return s, nil
}

// List returns the sandboxes on the engine that b does not hold.
func (b *Backend) List(ctx context.Context) ([]sandbox.Handle, error) {
	if err := b.e.check(); err != nil {
		return nil, err
	}
	var out []sandbox.Handle
	for _, s := range b.e.Sandboxes() {
		if b.reg.OfOwner(s.Owner()) != s {
			out = append(out, sandbox.Handle{Owner: s.Owner(), ID: s.id, Image: s.image, Volume: s.volume, Disposable: s.disposable})
		}
	}
	used := make(map[string]bool)
	for _, s := range b.e.Sandboxes() {
		used[s.volume] = true
	}
	for _, name := range b.e.Volumes() {
		if !used[name] {
			out = append(out, sandbox.Handle{Volume: name, Disposable: true})
		}
	}
	return out, nil
}

// Destroy removes the sandbox of h, then its workspace volume h.Volume.
func (b *Backend) Destroy(ctx context.Context, h sandbox.Handle) error {
	if err := b.e.check(); err != nil {
		return err
	}
	b.e.mu.Lock()
	s := b.e.boxes[h.ID]
	b.e.mu.Unlock()
	if s != nil {
		if err := s.Remove(ctx); err != nil {
			return err
		}
	}
	if h.Volume != "" {
		b.e.removeVolume(h.Volume)
	}
	return nil
}

// Release forgets the sandbox of h.
func (b *Backend) Release(h sandbox.Handle) { b.reg.Release(h.ID) }

// Held returns how many sandboxes b holds.
func (b *Backend) Held() int { return len(b.reg.Owned()) }

// Changes delivers the status changes of the sandboxes b holds.
func (b *Backend) Changes() <-chan sandbox.StatusChange { return b.reg.Changes() }

// Running returns how many sandboxes on the engine run.
func (b *Backend) Running() int {
	n := 0
	for _, s := range b.e.Sandboxes() {
		if s.Status().Up() {
			n++
		}
	}
	return n
}

// Ready reports whether the engine answers.
func (b *Backend) Ready(ctx context.Context) error { return b.e.check() }

// Close stops holding sandboxes; they keep running.
func (b *Backend) Close(ctx context.Context) error {
	b.reg.Close()
	return nil
}

// Sandbox is a runtime-agent server in the test process.
type Sandbox struct {
	e     *Engine
	id    string
	token string
	image string
	dir   string // holds the socket, the agent's files and the workspace
	work  string
	// volume is the workspace volume work is, if any; disposable says
	// the workspace lives outside the sandbox (a volume or SetWorkspace).
	volume     string
	disposable bool

	op sync.Mutex // serialises boots, stops and removals

	// cell holds the owner, the status and the agent's client.
	cell *sandbox.StatusCell

	mu  sync.Mutex
	b   *Backend // the Backend holding it, for its changes
	srv *agentd.Server
	hs  *http.Server
}

// ID returns the sandbox's id.
func (s *Sandbox) ID() string { return s.id }

// Owner returns the owner key given to Start.
func (s *Sandbox) Owner() string { return s.cell.Owner() }

// Handle returns the sandbox's handle.
func (s *Sandbox) Handle() sandbox.Handle {
	return sandbox.Handle{Owner: s.Owner(), ID: s.id, Token: s.token, Image: s.image, Volume: s.volume, Disposable: s.disposable}
}

// Workspace returns the host folder the agent works in.
func (s *Sandbox) Workspace() string { return s.work }

// Status returns the sandbox's status.
func (s *Sandbox) Status() sandbox.Status { return s.cell.Status() }

// Err returns why the sandbox died.
func (s *Sandbox) Err() error { return s.cell.Err() }

// Client returns the agent client while the sandbox runs.
func (s *Sandbox) Client() *agentapi.Client { return s.cell.RunningClient() }

func (s *Sandbox) setStatus(st sandbox.Status, err error) { s.cell.Set(st, err) }

// setBackend makes b the Backend told of the sandbox's changes.
func (s *Sandbox) setBackend(b *Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = b
}

// report tells the Backend holding the sandbox of a change, if it holds
// it still.
func (s *Sandbox) report(c sandbox.StatusChange) {
	c.ID = s.id
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	if b != nil && b.reg.OfOwner(c.Owner) == s {
		b.reg.Notify(c)
	}
}

// Use returns the agent client, starting a stopped sandbox first.
func (s *Sandbox) Use(ctx context.Context) (*agentapi.Client, func(), error) {
	return s.cell.Use(ctx, &s.op, s.id, s.boot)
}

// Start starts a stopped or dead sandbox again.
func (s *Sandbox) Start(ctx context.Context) error {
	return s.cell.Start(ctx, &s.op, s.id, s.boot)
}

// boot starts the agent server. The caller holds s.op or owns s.
func (s *Sandbox) boot(ctx context.Context) error {
	if err := s.e.check(); err != nil {
		return err
	}
	s.setStatus(sandbox.StatusStarting, nil)
	s.e.sampleLive()
	s.e.mu.Lock()
	delay := s.e.startDelay
	s.e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			s.setStatus(sandbox.StatusStopped, ctx.Err())
			return ctx.Err()
		}
	}
	sock := filepath.Join(s.dir, sandbox.SocketName)
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	binding, err := agentapi.SocketBinding(sock)
	if err != nil {
		ln.Close()
		return err
	}
	out := filepath.Join(s.dir, "out")
	os.MkdirAll(out, 0o755)
	srv, err := agentd.NewServer(agentd.Config{Token: s.token, Binding: binding, WorkDir: s.work, UID: -1, GID: -1, OutputDir: out})
	if err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	cl := agentapi.NewUnixClient(sock, s.token)
	if err := cl.Health(ctx); err != nil {
		hs.Close()
		srv.Close()
		return fmt.Errorf("%w: %v", sandbox.ErrNotReady, err)
	}
	s.mu.Lock()
	s.srv, s.hs = srv, hs
	s.mu.Unlock()
	s.cell.SetAgent(sandbox.StatusRunning, cl, "unix://"+sock)
	return nil
}

// halt stops the agent server, if it runs.
func (s *Sandbox) halt() {
	s.mu.Lock()
	srv, hs := s.srv, s.hs
	s.srv, s.hs = nil, nil
	s.mu.Unlock()
	if hs != nil {
		hs.Close()
		srv.Close()
	}
	if cl := s.cell.Client(); cl != nil {
		cl.CloseIdleConnections()
	}
}

// Stop stops the agent; Use or Start starts it again.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.e.check(); err != nil {
		return err
	}
	return s.cell.Stop(ctx, &s.op, s.id, func(context.Context, sandbox.Status) error {
		s.halt()
		s.setStatus(sandbox.StatusStopped, nil)
		return nil
	})
}

// Remove removes the sandbox.
func (s *Sandbox) Remove(ctx context.Context) error {
	if err := s.e.check(); err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.gone(s.Err())
	return nil
}

func (s *Sandbox) gone(err error) {
	if s.Status() == sandbox.StatusRemoved {
		return
	}
	s.halt()
	s.e.mu.Lock()
	delete(s.e.boxes, s.id)
	s.e.mu.Unlock()
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	s.setStatus(sandbox.StatusRemoved, err)
	if b != nil {
		b.Release(s.Handle())
	}
}

// Inspect reports the sandbox's state.
func (s *Sandbox) Inspect(ctx context.Context) (sandbox.State, error) {
	if err := s.e.check(); err != nil {
		return sandbox.State{Status: s.Status()}, err
	}
	st := s.Status()
	if st == sandbox.StatusRemoved {
		return sandbox.State{Status: st}, fmt.Errorf("sandbox %s: %w", s.id, sandbox.ErrRemoved)
	}
	return sandbox.State{Status: st, Running: st == sandbox.StatusRunning}, nil
}

// Kill makes the sandbox die on its own, as a container the kernel
// killed: its agent stops answering and it is marked exited.
func (s *Sandbox) Kill() {
	s.op.Lock()
	defer s.op.Unlock()
	s.halt()
	s.setStatus(sandbox.StatusExited, &sandbox.ExitError{Container: s.id, Owner: s.Owner(), ExitCode: 137})
}

// Vanish removes the sandbox behind its owner's back.
func (s *Sandbox) Vanish() {
	s.op.Lock()
	defer s.op.Unlock()
	s.gone(fmt.Errorf("sandbox %s: removed outside GoHands", s.id))
}
