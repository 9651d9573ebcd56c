package sandbox

import (
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// Status is a sandbox's life stage as the Manager sees it.
type Status string

// Statuses.
const (
	StatusStarting Status = "starting" // created or restarting, agent not healthy yet
	StatusRunning  Status = "running"  // agent answered its health check
	StatusPaused   Status = "paused"   // frozen by Pause
	StatusStopping Status = "stopping" // being stopped or removed
	StatusStopped  Status = "stopped"  // stopped on purpose (Stop, idle); Use restarts it
	StatusExited   Status = "exited"   // stopped on its own; Err says why
	StatusRemoved  Status = "removed"  // container gone
)

// StatusChange is what Options.OnStatus receives.
type StatusChange struct {
	ContainerID    string
	ConversationID string // "" for a pool sandbox
	Status         Status
	Err            error // for StatusExited: an *ExitError
}

// Record is what a caller persists to re-adopt a sandbox after a restart
// (see Manager.Reconcile). Token may be left empty: it is then read back
// from the container's environment.
type Record struct {
	ConversationID string
	ContainerID    string
	Token          string
}

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
	pooled    bool   // created for the warm pool (empty conversation label)

	op sync.Mutex // serializes lifecycle operations (start, stop, pause, remove)

	mu           sync.Mutex // guards the fields below
	conversation string
	status       Status
	err          error
	client       *agentapi.Client
	endpoint     string
	lastUse      time.Time
	busy         int
}

// ID returns the container id.
func (s *Sandbox) ID() string { return s.id }

// Name returns the container name.
func (s *Sandbox) Name() string { return s.name }

// Image returns the image the sandbox was created from.
func (s *Sandbox) Image() string { return s.image }

// ConversationID returns the conversation the sandbox serves.
func (s *Sandbox) ConversationID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conversation
}

// Status returns the last known status. It is kept current by the
// Manager's event watcher; Inspect asks the engine.
func (s *Sandbox) Status() Status {
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
// when it is not running. A restart (after an idle stop) can change the
// endpoint, so prefer Use, which also restarts a stopped sandbox and keeps
// the idle timer from firing while a call is in flight.
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

// Record returns what the caller persists to re-adopt this sandbox.
func (s *Sandbox) Record() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Record{ConversationID: s.conversation, ContainerID: s.id, Token: s.token}
}

// setStatus records a status change and reports it to Options.OnStatus.
// It must be called without s.mu held.
func (s *Sandbox) setStatus(st Status, err error) {
	s.mu.Lock()
	var old *agentapi.Client
	if st != StatusRunning && st != StatusPaused {
		old = s.client
		s.client, s.endpoint = nil, ""
	}
	changed := s.status != st
	s.status, s.err = st, err
	conv := s.conversation
	s.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections() // a restart makes a new client
	}
	if changed {
		s.m.notify(StatusChange{ContainerID: s.id, ConversationID: conv, Status: st, Err: err})
	}
}

// setRunning records a healthy agent at endpoint.
func (s *Sandbox) setRunning(cl *agentapi.Client, endpoint string) {
	s.mu.Lock()
	s.client, s.endpoint = cl, endpoint
	s.lastUse = time.Now()
	s.mu.Unlock()
	s.setStatus(StatusRunning, nil)
}
