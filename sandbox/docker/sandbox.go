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

	mu    sync.Mutex // guards the fields below
	owner string
	// keep says the owner keeps the volume when the sandbox goes: it
	// asked for a working dir. A pool sandbox's volume goes with it
	// until it is handed to such an owner.
	keep     bool
	status   sandbox.Status
	err      error
	client   *agentapi.Client
	endpoint string
}

// ID returns the container id.
func (s *Sandbox) ID() string { return s.id }

// Name returns the container name.
func (s *Sandbox) Name() string { return s.name }

// Image returns the image the sandbox was created from.
func (s *Sandbox) Image() string { return s.image }

// Owner returns the owner key the sandbox serves, "" in the warm pool.
func (s *Sandbox) Owner() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}

// Status returns the last known status. It is kept current by the
// Manager's event watcher; Inspect asks the engine.
func (s *Sandbox) Status() sandbox.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Err returns why the sandbox exited, or nil.
func (s *Sandbox) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Client returns the runtime-agent client of the running sandbox, or nil
// when it is not running. A restart can change the endpoint, so prefer
// Use, which also restarts a stopped sandbox.
func (s *Sandbox) Client() *agentapi.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// Endpoint returns where the agent listens, as seen from the host
// ("http://127.0.0.1:PORT" or "unix:///path/agent.sock"), "" when not running.
func (s *Sandbox) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpoint
}

// Handle returns what the owner saves to recover this sandbox.
func (s *Sandbox) Handle() sandbox.Handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sandbox.Handle{Owner: s.owner, ID: s.id, Token: s.token, Image: s.image}
	if s.keep {
		h.Volume, h.Disposable = s.volume, s.disposable
	}
	return h
}

// setStatus records a status change and reports it on Manager.Changes.
// It must be called without s.mu held.
func (s *Sandbox) setStatus(st sandbox.Status, err error) {
	s.mu.Lock()
	var old *agentapi.Client
	if st != sandbox.StatusRunning && st != sandbox.StatusPaused {
		old = s.client
		s.client, s.endpoint = nil, ""
	}
	changed := s.status != st
	s.status, s.err = st, err
	conv := s.owner
	s.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections() // a restart makes a new client
	}
	if changed && conv != "" && st != sandbox.StatusRunning && st != sandbox.StatusPaused && st != sandbox.StatusStarting {
		s.m.stopBrowserOf(conv) // its network goes with the sandbox
	}
	if changed {
		s.m.notify(sandbox.StatusChange{Owner: conv, ID: s.id, Status: st, Err: err})
	}
}

// setRunning records a healthy agent at endpoint.
func (s *Sandbox) setRunning(cl *agentapi.Client, endpoint string) {
	s.mu.Lock()
	s.client, s.endpoint = cl, endpoint
	s.mu.Unlock()
	s.setStatus(sandbox.StatusRunning, nil)
}
