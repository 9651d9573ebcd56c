package docker

import (
	"sync"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// Sandbox is one container running the runtime-agent. Its methods are safe
// for concurrent use.
type Sandbox struct {
	m         *Manager
	id        string // container id
	name      string // container name
	image     string
	token     string
	transport Transport
	runDir    string // host run folder (Unix socket), "" for TCP
	pooled    bool   // created for the warm pool (empty owner label)
	// volume is the workspace volume mounted at the working dir, if any;
	// disposable says the workspace lives outside the container.
	volume     string
	disposable bool
	// slot is the host folder of a fork pool sandbox's slot (its working
	// folder is slot/ws), "" for others.
	slot string

	op sync.Mutex // serializes lifecycle operations (start, stop, pause, remove)

	// cell holds the owner, the status and the agent's client.
	cell *sandbox.StatusCell

	mu sync.Mutex // guards keep
	// keep says the owner keeps the volume when the sandbox goes: it
	// asked for a working dir. A pool sandbox's volume goes with it
	// until it is handed to such an owner.
	keep bool
}

// ID returns the container id.
func (s *Sandbox) ID() string { return s.id }

// Name returns the container name.
func (s *Sandbox) Name() string { return s.name }

// Image returns the image the sandbox was created from.
func (s *Sandbox) Image() string { return s.image }

// Owner returns the owner key the sandbox serves, "" in the warm pool.
func (s *Sandbox) Owner() string { return s.cell.Owner() }

// Status returns the last known status. It is kept current by the
// Manager's event watcher; Inspect asks the engine.
func (s *Sandbox) Status() sandbox.Status { return s.cell.Status() }

// Err returns why the sandbox exited, or nil.
func (s *Sandbox) Err() error { return s.cell.Err() }

// Client returns the runtime-agent client of the running (or paused)
// sandbox, or nil when it is not running. A restart can change the
// endpoint, so prefer Use, which also restarts a stopped sandbox.
func (s *Sandbox) Client() *agentapi.Client { return s.cell.Client() }

// Endpoint returns where the agent listens, as seen from the host
// ("http://127.0.0.1:PORT" or "unix:///path/agent.sock"), "" when not running.
func (s *Sandbox) Endpoint() string { return s.cell.Endpoint() }

// Handle returns what the owner saves to recover this sandbox.
func (s *Sandbox) Handle() sandbox.Handle {
	h := sandbox.Handle{Owner: s.Owner(), ID: s.id, Token: s.token, Image: s.image}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keep {
		h.Volume, h.Disposable = s.volume, s.disposable
	}
	return h
}

// setStatus records a status change, reported by report.
func (s *Sandbox) setStatus(st sandbox.Status, err error) { s.cell.Set(st, err) }

// setRunning records a healthy agent at endpoint.
func (s *Sandbox) setRunning(cl *agentapi.Client, endpoint string) {
	s.cell.SetAgent(sandbox.StatusRunning, cl, endpoint)
}

// report passes a status change on to Manager.Changes. A sandbox going
// down takes its owner's browser with it: the browser lives in its
// network.
func (s *Sandbox) report(c sandbox.StatusChange) {
	c.ID = s.id
	if c.Owner != "" && !c.Status.Up() && c.Status != sandbox.StatusStarting {
		s.m.stopBrowserOf(c.Owner)
	}
	s.m.reg.Notify(c)
}
