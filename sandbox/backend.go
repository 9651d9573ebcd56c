package sandbox

import (
	"context"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// Backend runs sandboxes on one engine. A sandbox belongs to an owner key,
// an opaque string the caller chooses (the backend never reads meaning
// into it) and finds again in Handle and StatusChange. Its methods are
// safe for concurrent use.
//
// A caller saves the Handle of each sandbox it starts. After a restart it
// gives the handles back to Recover, and reaps with Destroy what List shows
// and no saved handle names. Nothing in a backend decides when a sandbox is
// idle: its owner stops it.
type Backend interface {
	// Start gives owner a new, running sandbox (from a warm pool when the
	// backend keeps one and spec asks for nothing its sandboxes lack). A
	// missing image is pulled (progress to spec.OnPull) before failing
	// with ErrImageMissing. An owner has at most one sandbox (ErrExists).
	Start(ctx context.Context, owner string, spec Spec) (Sandbox, error)
	// Recover takes over a sandbox an earlier run of the server started,
	// by its saved handle: by h.ID, or, when that is empty, the one
	// sandbox that carries h.Owner. A running one must answer its health
	// check; a stopped one is taken over as stopped. A sandbox the backend
	// already holds is returned as it is. ErrRemoved when it is gone.
	Recover(ctx context.Context, h Handle) (Sandbox, error)
	// List returns the handles of this server's sandboxes that the backend
	// does not hold (left by an earlier run), running or not, with the
	// workspace volume each mounts; and, as handles with no ID, this
	// server's workspace volumes that no sandbox mounts and none of the
	// backend's own sandboxes uses. Their Token may be empty.
	List(ctx context.Context) ([]Handle, error)
	// Destroy removes a sandbox by handle, held or not (one held goes as
	// Sandbox.Remove does), and then its workspace volume h.Volume when
	// that is set. A handle with no ID removes only the volume.
	// Removing one that is gone is not an error.
	Destroy(ctx context.Context, h Handle) error
	// Release stops holding the sandbox of h, which keeps existing as it
	// is (its owner stopped it, say): the backend forgets it, and Recover
	// takes it over again. Releasing one not held does nothing.
	Release(h Handle)
	// Changes delivers every status change of the sandboxes the backend
	// holds, keyed by owner. There is one stream per backend, for one
	// reader; a change the reader is too slow for is dropped (and logged).
	Changes() <-chan StatusChange
	// Running returns how many sandboxes (warm pool included) are up.
	Running() int
	// Ready reports whether the engine answers.
	Ready(ctx context.Context) error
	// Close stops the backend's background work and removes its warm
	// pool. Sandboxes held for owners keep running, for the next server
	// to Recover.
	Close(ctx context.Context) error
}

// Sandbox is one sandbox running the runtime-agent. Its methods are safe
// for concurrent use.
type Sandbox interface {
	// Handle is what the owner saves to Recover the sandbox later.
	Handle() Handle
	// Status returns the last known status; Inspect asks the engine.
	Status() Status
	// Err returns why the sandbox exited (an *ExitError), or nil.
	Err() error
	// Use returns the agent client of a running sandbox, starting it first
	// when it was stopped. Call done when the work is finished. A paused
	// sandbox gives ErrPaused; one that died gives its *ExitError, one
	// that is gone ErrRemoved.
	Use(ctx context.Context) (cl *agentapi.Client, done func(), err error)
	// Client returns the agent client while the sandbox runs, or nil.
	Client() *agentapi.Client
	// Start starts a stopped or exited sandbox again (same workspace) and
	// waits for its agent.
	Start(ctx context.Context) error
	// Stop stops the sandbox; Use or Start starts it again.
	Stop(ctx context.Context) error
	// Remove destroys the sandbox and its anonymous storage; its
	// workspace volume (Handle.Volume) stays for the next sandbox of the
	// owner, unless the sandbox never had an owner (a warm pool's).
	// Removing twice is not an error.
	Remove(ctx context.Context) error
	// Inspect asks the engine for the sandbox's state; a sandbox found
	// dead is marked exited (see Err).
	Inspect(ctx context.Context) (State, error)
}

// Handle identifies one sandbox across restarts of the server: what its
// owner saves.
type Handle struct {
	Owner string // the owner key given to Start
	ID    string // the engine's id of the sandbox (a container id)
	Token string // the runtime-agent's token; may be empty when recovering
	Image string // the image it runs, for display
	// Volume names the volume that holds the workspace (Spec.WorkingDir):
	// made for the sandbox, or Spec.Volume. Empty when a mount covers the
	// workspace or none was asked for.
	Volume string
	// Disposable says the workspace lives outside the sandbox (in Volume,
	// or on a mount), so that removing the sandbox loses only the changes
	// to its own filesystem. A sandbox started without Spec.WorkingDir,
	// or made before workspaces lived outside sandboxes, is not: its
	// owner stops it rather than removing it.
	Disposable bool
}

// Status is a sandbox's life stage as its backend sees it.
type Status string

// Statuses.
const (
	StatusStarting Status = "starting" // created or restarting, agent not healthy yet
	StatusRunning  Status = "running"  // agent answered its health check
	StatusPaused   Status = "paused"   // frozen
	StatusStopping Status = "stopping" // being stopped or removed
	StatusStopped  Status = "stopped"  // stopped on purpose; Use restarts it
	StatusExited   Status = "exited"   // stopped on its own; Err says why
	StatusRemoved  Status = "removed"  // gone
)

// StatusChange is one entry of Backend.Changes.
type StatusChange struct {
	Owner  string // "" for a warm pool sandbox
	ID     string // the sandbox's id
	Status Status
	Err    error // for StatusExited: an *ExitError
}

// State is a sandbox's state as the engine reports it.
type State struct {
	Status     Status
	Running    bool
	Paused     bool
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	Endpoint   string
}

// ChangeLister is a Sandbox that can list the paths of its own filesystem
// (the container's layer, not its mounts) that changed since it was made:
// added, changed or deleted. Checkpoints take those paths beside the
// workspace. Paths of the engine and of GoHands (/proc, /sys, /dev, /run,
// /tmp, AgentDir, the engine's /etc/hosts and the like) are left out.
type ChangeLister interface {
	ChangedPaths(ctx context.Context) ([]string, error)
}
