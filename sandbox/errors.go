package sandbox

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels callers branch on. Errors returned by this package wrap them.
var (
	// ErrEngineDown means the engine (Docker, say) did not answer.
	ErrEngineDown = errors.New("docker engine not reachable")
	// ErrImageMissing means the image is not present and could not be pulled.
	ErrImageMissing = errors.New("sandbox image missing")
	// ErrExited means the sandbox's container stopped without being asked
	// to (agent crash, docker kill, out of memory). The error is an *ExitError.
	ErrExited = errors.New("sandbox container exited")
	// ErrNotReady means the runtime-agent did not answer its health check in time.
	ErrNotReady = errors.New("runtime-agent not ready")
	// ErrPaused means the sandbox is paused; Unpause it first.
	ErrPaused = errors.New("sandbox is paused")
	// ErrRemoved means the sandbox's container is gone.
	ErrRemoved = errors.New("sandbox removed")
	// ErrExists means the owner already has a sandbox.
	ErrExists = errors.New("owner already has a sandbox")
	// ErrClosed means the backend is closed.
	ErrClosed = errors.New("sandbox manager closed")
)

// ExitError describes a sandbox that stopped on its own. It wraps ErrExited.
type ExitError struct {
	Container   string // the sandbox's name (a container name)
	Owner       string // the owner key, "" for a pool sandbox
	ExitCode    int
	OOMKilled   bool
	EngineError string // the engine's State.Error, if any
	Logs        string // the container's last log lines
	Crash       string // the line saying why the runtime-agent crashed, if it did
	Starting    bool   // the agent died before it answered its health check
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sandbox %s", e.Container)
	if e.Owner != "" {
		fmt.Fprintf(&b, " (of %s)", e.Owner)
	}
	if e.Starting {
		b.WriteString(": runtime-agent exited during start")
	} else {
		b.WriteString(": container exited unexpectedly")
	}
	fmt.Fprintf(&b, " with code %d", e.ExitCode)
	switch {
	case e.OOMKilled:
		b.WriteString(" (out of memory)")
	case e.ExitCode == 137:
		b.WriteString(" (killed by SIGKILL)")
	case e.ExitCode == 143:
		b.WriteString(" (terminated by SIGTERM)")
	}
	if e.EngineError != "" {
		fmt.Fprintf(&b, "; engine: %s", e.EngineError)
	}
	if e.Crash != "" {
		fmt.Fprintf(&b, "; the runtime-agent crashed: %s", e.Crash)
	}
	if logs := strings.TrimSpace(e.Logs); logs != "" {
		fmt.Fprintf(&b, "; last log lines:\n%s", logs)
	} else {
		b.WriteString("; no log output")
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrExited) match.
func (e *ExitError) Unwrap() error { return ErrExited }
