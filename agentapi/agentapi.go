// Package agentapi is the runtime-agent's wire contract, as the GoHands
// server sees it: the request and answer types of the agent's HTTP API
// (API.md section 4), its constants, and the Go client that calls it. The
// daemon itself (package agentd, with its pty terminals and file
// operations) imports this package for the types it answers with; this
// package holds no daemon code, so the server links none.
//
// Every route but /health and /handshake needs the sandbox's token as
// "Authorization: Bearer TOKEN". The client sends the token only on
// connections whose peer passed the handshake (handshake.go): it proves
// the peer holds the token and, on a Unix socket, listens on the very
// socket file the client opened.
// Errors are JSON {"detail": "..."} with a 4xx or 5xx status, which the
// client returns as an *HTTPError.
package agentapi

import (
	"errors"
	"fmt"
)

// TokenEnv names the environment variable that carries the agent's token
// into the sandbox.
const TokenEnv = "GOHANDS_AGENT_TOKEN"

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

// ExecResult is what a command did.
type ExecResult struct {
	Output         string `json:"output"`
	ExitCode       int    `json:"exit_code"`         // -1: still running
	Running        bool   `json:"running,omitempty"` // the command goes on after this call
	TimedOut       bool   `json:"timed_out,omitempty"`
	WorkingDir     string `json:"working_dir"`
	PID            int    `json:"pid"`                        // the shell's process id
	FullOutputPath string `json:"full_output_path,omitempty"` // set when Output was cut
	Message        string `json:"message,omitempty"`          // what a person or model should know
}

// TerminalInfo describes a terminal.
type TerminalInfo struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	Running    bool   `json:"running"` // a command is in progress
	WorkingDir string `json:"working_dir"`
}

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

// HTTPError is an error with the status the agent answers with. The client
// returns it, so callers can branch on Status.
type HTTPError struct {
	Status int    `json:"-"`
	Detail string `json:"detail"`
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Detail) }

// StatusOf returns the HTTP status of an agent error, or 0.
func StatusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}
