// Package agentd is the runtime-agent: the small daemon that runs as PID 1
// inside every sandbox and gives the GoHands server terminals and file
// operations over HTTP (TCP or a Unix socket). It also holds the Go client
// the server uses to call it.
//
// The API is private to GoHands (API.md section 4). Every route but
// /health and /handshake needs the sandbox's token as "Authorization:
// Bearer TOKEN". The client sends the token only on connections whose peer
// passed the handshake (handshake.go): it proves the peer holds the token
// and, on a Unix socket, listens on the very socket file the client
// opened.
// Errors are JSON {"detail": "..."} with a 4xx status that says what kind of
// mistake it was; the agent never exits because of a request.
package agentd

import (
	"time"

	"github.com/gohands/gohands/agentd/terminal"
)

// Version is reported by /health.
const Version = "0.1.0"

// DefaultTerminal is the terminal that exists without being created.
const DefaultTerminal = "main"

// ExecRequest runs a command in a terminal, waits for a running one, or types
// into it.
type ExecRequest struct {
	Command string `json:"command"`
	// IsInput types Command into the running program; "C-c", "C-d" and
	// "C-z" are sent as keys.
	IsInput bool `json:"is_input,omitempty"`
	// Timeout is the soft no-output timeout in seconds (default 30): after
	// it the call returns exit code -1 and the command goes on.
	Timeout float64 `json:"timeout,omitempty"`
	// HardTimeout, in seconds, interrupts the command with C-c.
	HardTimeout float64 `json:"hard_timeout,omitempty"`
	// Stream asks for NDJSON: output chunks as they come, then the result.
	Stream bool `json:"stream,omitempty"`
}

// ExecResult is what a command did; see terminal.Result.
type ExecResult = terminal.Result

// TerminalInfo describes a terminal.
type TerminalInfo = terminal.Info

// StreamFrame is one line of a streamed exec: output, then one result or
// one error.
type StreamFrame struct {
	Type   string      `json:"type"` // "output", "result" or "error"
	Data   string      `json:"data,omitempty"`
	Result *ExecResult `json:"result,omitempty"`
	Detail string      `json:"detail,omitempty"`
	Status int         `json:"status,omitempty"`
}

// Health is the answer of /health.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Uptime  string `json:"uptime"`
}

// KeysRequest sends keys to a terminal.
type KeysRequest struct {
	Keys string `json:"keys"`
}

// CreateTerminalRequest makes a named terminal.
type CreateTerminalRequest struct {
	Name string `json:"name"`
	Dir  string `json:"dir,omitempty"`
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
