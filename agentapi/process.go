package agentapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
)

// ProcessSpec starts a long-lived program in the sandbox whose standard
// input and output a caller attaches to (an MCP server speaking over
// stdio, say). The program runs by its argument list, with no shell, as
// the sandbox's user.
type ProcessSpec struct {
	// Name labels the process in listings; the program's name when empty.
	Name string   `json:"name,omitempty"`
	Argv []string `json:"argv"`
	// Env is added to the environment the agent gives commands; it wins
	// over a variable of the same name there.
	Env map[string]string `json:"env,omitempty"`
	// Dir is where it runs; the agent's working directory when empty.
	Dir string `json:"dir,omitempty"`
}

// ProcessInfo describes a process started with StartProcess.
type ProcessInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	// ExitCode is the program's status once it has exited (128 + the
	// signal when one killed it); 0 while it runs.
	ExitCode int `json:"exit_code"`
	// Stderr is the last MaxProcessStderr bytes the program wrote to its
	// standard error, kept for diagnosis.
	Stderr string `json:"stderr"`
}

// Limits and names of the process routes.
const (
	// MaxProcessStderr is how much of a process's standard error the
	// agent keeps: the last bytes written.
	MaxProcessStderr = 64 << 10
	// StdioProtocol is the Upgrade protocol of GET /processes/{id}/stdio:
	// after "101 Switching Protocols" the connection carries raw bytes,
	// the caller's to the program's standard input, the program's
	// standard output back.
	StdioProtocol = "gohands-stdio"
	// DialProtocol is the Upgrade protocol of GET /dial: after 101 the
	// connection carries the raw bytes of a TCP connection the agent
	// opened from inside the sandbox.
	DialProtocol = "gohands-tcp"
)

// StartProcess starts a program in the sandbox. Its standard input and
// output wait for AttachProcess; its standard error is kept in a ring
// (ProcessInfo.Stderr). A program not installed in the sandbox fails with
// status ProgramNotFound; too many running processes with 429.
func (c *Client) StartProcess(ctx context.Context, spec ProcessSpec) (ProcessInfo, error) {
	var info ProcessInfo
	err := c.do(ctx, http.MethodPost, "/processes", spec, &info)
	return info, err
}

// Process describes a process, running or exited, with the tail of its
// standard error.
func (c *Client) Process(ctx context.Context, id string) (ProcessInfo, error) {
	var info ProcessInfo
	err := c.do(ctx, http.MethodGet, "/processes/"+url.PathEscape(id), nil, &info)
	return info, err
}

// Processes lists the processes the agent knows, running or exited.
func (c *Client) Processes(ctx context.Context) ([]ProcessInfo, error) {
	var out []ProcessInfo
	err := c.do(ctx, http.MethodGet, "/processes", nil, &out)
	return out, err
}

// StopProcess kills a process and the processes it started (its process
// group) and forgets it.
func (c *Client) StopProcess(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/processes/"+url.PathEscape(id), nil, nil)
}

// AttachProcess connects to a process's standard input and output: what is
// written to the stream goes to the program's standard input, what is read
// from it is the program's standard output, which ends (io.EOF) when the
// program exits. Close ends the attachment and closes the program's
// standard input; so does CloseWrite (the stream has one), which leaves
// its output to be read to the end. A process has one attachment: a
// second fails with status 409. ctx bounds the connecting only.
func (c *Client) AttachProcess(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	s, err := c.upgrade(ctx, "/processes/"+url.PathEscape(id)+"/stdio", StdioProtocol, nil)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Dial opens a connection from inside the sandbox, with the sandbox's
// network rules, to address, relayed through the agent. Only "tcp" (and
// "tcp4", "tcp6") networks are served. The connection is a net.Conn with
// working deadlines, so it fits http.Transport.DialContext (TLS runs on
// top of it, in the caller). A dial the sandbox cannot make fails with
// status 502 and the sandbox's error. ctx bounds the connecting only.
func (c *Client) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	q := url.Values{"network": {network}, "address": {address}}
	s, err := c.upgrade(ctx, "/dial?"+q.Encode(), DialProtocol, &streamAddr{network: network, address: address})
	if err != nil {
		return nil, err
	}
	return s, nil
}
