package agentapi

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls a runtime-agent. It is safe for concurrent use.
//
// Every new connection is verified with the handshake (see ErrUnverified)
// before a request, and so the token, goes over it; kept-alive connections
// are reused as verified.
type Client struct {
	base  string
	token string
	http  *http.Client

	handshakeTimeout time.Duration
	onUnverified     func(error)
	// dialVerified opens a new connection to the agent and runs the
	// handshake on it: every connection the client sends the token on,
	// pooled or upgraded into a stream, comes from it.
	dialVerified func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ClientOption tunes a Client.
type ClientOption func(*Client)

// WithHandshakeTimeout bounds the handshake on a new connection (default
// DefaultHandshakeTimeout).
func WithHandshakeTimeout(d time.Duration) ClientOption {
	return func(c *Client) { c.handshakeTimeout = d }
}

// OnUnverified has f called with the error (wrapping ErrUnverified) each
// time a new connection fails verification, for the caller to log: it
// means the sandbox moved or replaced its agent's socket. The error is
// returned to the call as well.
func OnUnverified(f func(error)) ClientOption {
	return func(c *Client) { c.onUnverified = f }
}

// NewClient returns a client for an agent at baseURL ("http://127.0.0.1:PORT").
func NewClient(baseURL, token string, opts ...ClientOption) *Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return newClient(strings.TrimRight(baseURL, "/"), token, opts, func(ctx context.Context, network, addr string) (net.Conn, string, error) {
		conn, err := d.DialContext(ctx, network, addr)
		return conn, TCPBinding, err
	})
}

// NewUnixClient returns a client for an agent listening on a Unix socket.
// The socket's folder is the sandbox's to write in, so the client never
// follows a symlink there: it opens the socket file itself and connects to
// exactly that file, whose device and inode the handshake binds.
func NewUnixClient(socketPath, token string, opts ...ClientOption) *Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return newClient("http://agent", token, opts, func(ctx context.Context, _, _ string) (net.Conn, string, error) {
		return dialSocketFile(ctx, d, socketPath)
	})
}

// NewDialClient returns a client for an agent whose TCP port dial
// reaches by a tunnel (an orchestrator's port-forward, say), one new
// connection per call. As over TCP, the handshake proves that the peer
// holds the token; the tunnel's own authentication proves where it ends.
func NewDialClient(dial func(ctx context.Context) (net.Conn, error), token string, opts ...ClientOption) *Client {
	return newClient("http://agent", token, opts, func(ctx context.Context, _, _ string) (net.Conn, string, error) {
		conn, err := dial(ctx)
		return conn, TCPBinding, err
	})
}

// dialFunc dials the agent and returns the binding of what it reached.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, string, error)

func newClient(base, token string, opts []ClientOption, dial dialFunc) *Client {
	c := &Client{base: base, token: token, handshakeTimeout: DefaultHandshakeTimeout}
	for _, o := range opts {
		o(c)
	}
	c.dialVerified = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, binding, err := dial(ctx, network, addr)
		if err == nil {
			if err = c.verify(ctx, conn, binding); err != nil {
				conn.Close()
			}
		}
		if err != nil {
			if c.onUnverified != nil && errors.Is(err, ErrUnverified) {
				c.onUnverified(err)
			}
			return nil, err
		}
		return conn, nil
	}
	tr := &http.Transport{
		DialContext:         c.dialVerified,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c.http = &http.Client{Transport: tr}
	return c
}

// BaseURL is the agent's address as the client sees it.
func (c *Client) BaseURL() string { return c.base }

// CloseIdleConnections drops pooled connections (after the agent restarted, say).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Health asks /health; it needs no token.
func (c *Client) Health(ctx context.Context) error {
	var h Health
	return c.do(ctx, http.MethodGet, "/health", nil, &h)
}

// Exec runs a request in a terminal and waits for its result.
func (c *Client) Exec(ctx context.Context, terminal string, req ExecRequest) (ExecResult, error) {
	req.Stream = false
	var res ExecResult
	err := c.do(ctx, http.MethodPost, "/terminals/"+url.PathEscape(terminal)+"/exec", req, &res)
	return res, err
}

// ExecStream runs a request and calls onOutput with raw output as it comes.
func (c *Client) ExecStream(ctx context.Context, terminal string, req ExecRequest, onOutput func(string)) (ExecResult, error) {
	req.Stream = true
	resp, err := c.send(ctx, http.MethodPost, "/terminals/"+url.PathEscape(terminal)+"/exec", req)
	if err != nil {
		return ExecResult{}, err
	}
	defer resp.Body.Close()
	return readExecStream(resp.Body, maxStreamFrame, onOutput)
}

// maxStreamFrame bounds one line of a streamed exec. The agent's lines are
// far shorter (an output frame holds a few hundred KiB of output, a result
// at most 30000 characters, and JSON makes either at most six times
// longer); a longer line comes from a broken or hostile sandbox, and is
// refused before more of it is held in memory.
const maxStreamFrame = 16 << 20

// readExecStream decodes a streamed exec (NDJSON StreamFrames, as the agent
// writes them): output frames go to onOutput until a result frame, whose
// result it returns, or an error frame, which it returns as an *HTTPError
// with a 4xx or 5xx status. Frames of unknown types are skipped. A line
// longer than maxFrame bytes, a line that is not a frame, or an answer that
// ends before a result is an error; nothing past the result is decoded.
func readExecStream(r io.Reader, maxFrame int, onOutput func(string)) (ExecResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, min(64<<10, maxFrame)), maxFrame)
	for sc.Scan() {
		if data, ok := decodeOutputFrame(sc.Bytes()); ok {
			if onOutput != nil {
				onOutput(data)
			}
			continue
		}
		var f StreamFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return ExecResult{}, fmt.Errorf("exec stream: bad frame: %w", err)
		}
		switch f.Type {
		case "output":
			if onOutput != nil {
				onOutput(f.Data)
			}
		case "result":
			if f.Result == nil {
				return ExecResult{}, errors.New("exec stream: result frame without a result")
			}
			return *f.Result, nil
		case "error":
			if f.Status < 400 || f.Status > 599 {
				return ExecResult{}, fmt.Errorf("exec stream: error frame with status %d, not 4xx or 5xx: %q", f.Status, f.Detail)
			}
			if f.Detail == "" {
				f.Detail = cmp.Or(http.StatusText(f.Status), "error")
			}
			return ExecResult{}, &HTTPError{Status: f.Status, Detail: f.Detail}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return ExecResult{}, fmt.Errorf("exec stream: a line is longer than %d bytes", maxFrame)
		}
		return ExecResult{}, fmt.Errorf("exec stream: %w", err)
	}
	return ExecResult{}, errors.New("exec stream: ended without a result")
}

// SendKeys sends keys ("C-c", "C-d", "C-z") to a terminal.
func (c *Client) SendKeys(ctx context.Context, terminal, keys string) error {
	return c.do(ctx, http.MethodPost, "/terminals/"+url.PathEscape(terminal)+"/keys", KeysRequest{Keys: keys}, nil)
}

// ResetTerminal kills a terminal's shell and its jobs and starts a new one.
func (c *Client) ResetTerminal(ctx context.Context, terminal string) error {
	return c.do(ctx, http.MethodPost, "/terminals/"+url.PathEscape(terminal)+"/reset", struct{}{}, nil)
}

// CreateTerminal makes a named terminal starting in dir ("" for the workdir).
func (c *Client) CreateTerminal(ctx context.Context, name, dir string) (TerminalInfo, error) {
	var info TerminalInfo
	err := c.do(ctx, http.MethodPost, "/terminals", CreateTerminalRequest{Name: name, Dir: dir}, &info)
	return info, err
}

// CloseTerminal ends a terminal.
func (c *Client) CloseTerminal(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/terminals/"+url.PathEscape(name), nil, nil)
}

// Terminals lists the terminals.
func (c *Client) Terminals(ctx context.Context) ([]TerminalInfo, error) {
	var out []TerminalInfo
	err := c.do(ctx, http.MethodGet, "/terminals", nil, &out)
	return out, err
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return decodeAnswer(resp, out)
}

// maxAnswer bounds a JSON answer of the agent. The largest it gives (a file
// read whole, up to 10 MiB, or a listing of 10000 entries) is far shorter
// even as JSON; a longer answer comes from a broken or hostile sandbox.
const maxAnswer = 256 << 20

func decodeAnswer(resp *http.Response, out any) error {
	if err := readAnswer(resp.Body, maxAnswer, out); err != nil {
		return fmt.Errorf("agent %s %s: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}

// readAnswer decodes the JSON value at the start of r into out, reading at
// most limit+1 bytes: a value that does not end within limit bytes is an
// error, before more of it is held in memory.
func readAnswer(r io.Reader, limit int64, out any) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	dec := json.NewDecoder(lr)
	err := dec.Decode(out)
	// Past the limit the decoder saw a cut answer: an error, or (for a bare
	// number) a value that may be cut short.
	if lr.N <= 0 && (err != nil || dec.InputOffset() > limit) {
		return fmt.Errorf("decode answer: longer than %d bytes", limit)
	}
	if err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// send makes a request and turns a non-2xx answer into an *HTTPError.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	return c.sendRaw(ctx, method, path, body, "application/json")
}

func (c *Client) sendRaw(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	he := &HTTPError{Status: resp.StatusCode}
	if json.Unmarshal(data, he) != nil || he.Detail == "" {
		he.Detail = strings.TrimSpace(string(data))
		if he.Detail == "" {
			he.Detail = http.StatusText(resp.StatusCode)
		}
	}
	return he
}
