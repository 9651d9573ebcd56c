package agentapi

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
)

// RunRequest runs one program by its argument list, with no shell and no
// terminal: what a route needs that calls a tool (git) with arguments a
// client chose, none of which a shell may read.
type RunRequest struct {
	Args []string `json:"args"`
	// Dir is where it runs; the agent's working directory when empty.
	Dir string `json:"dir,omitempty"`
	// Timeout, in seconds, kills the program (default 60, at most 600).
	Timeout float64 `json:"timeout,omitempty"`
	// MaxOutput bounds the bytes of stdout kept (default and most
	// MaxRunOutput); stderr keeps at most MaxRunStderr.
	MaxOutput int64 `json:"max_output,omitempty"`
	// Stdin is the program's standard input; it reads end of file
	// when empty.
	Stdin string `json:"stdin,omitempty"`
}

// RunResult is what the program did.
type RunResult struct {
	ExitCode  int    `json:"exit_code"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	Truncated bool   `json:"truncated,omitempty"` // stdout was longer than MaxOutput
	TimedOut  bool   `json:"timed_out,omitempty"`
}

// Limits of a run.
const (
	DefaultRunTimeout = 60.0
	MaxRunTimeout     = 600.0
	MaxRunOutput      = 16 << 20
	MaxRunStderr      = 64 << 10
)

// ProgramNotFound is the status the agent answers a run with when the
// program is not installed in the sandbox.
const ProgramNotFound = http.StatusFailedDependency

// Run runs a program in the sandbox as the agent's user.
func (c *Client) Run(ctx context.Context, req RunRequest) (RunResult, error) {
	var res RunResult
	err := c.do(ctx, http.MethodPost, "/run", req, &res)
	return res, err
}

// ProxyPath is the agent's route that forwards a request to a port on the
// sandbox's loopback: ProxyPath + "/PORT/path".
const ProxyPath = "/proxy"

// PortProxy returns a handler that forwards each request it serves,
// WebSocket upgrades included, through the agent to port on the sandbox's
// loopback, at the request's own path and query. Connections to the agent
// are verified by the handshake as for every other call; the agent's token
// goes only to the agent, which drops it before forwarding. onError
// answers a request that could not be forwarded.
func (c *Client) PortProxy(port int, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	base, err := url.Parse(c.base)
	if err != nil || port < 1 || port > 65535 {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			onError(w, r, &HTTPError{Status: http.StatusBadRequest, Detail: "port " + strconv.Itoa(port) + " is not one of 1-65535"})
		})
	}
	prefix := ProxyPath + "/" + strconv.Itoa(port)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			out := pr.Out
			out.URL.Scheme, out.URL.Host = base.Scheme, base.Host
			out.URL.Path = prefix + pr.In.URL.Path
			out.URL.RawPath = prefix + pr.In.URL.EscapedPath()
			out.Host = base.Host
			out.Header.Set("Authorization", "Bearer "+c.token)
		},
		Transport:     c.http.Transport,
		FlushInterval: -1,
		ErrorHandler:  onError,
	}
}
