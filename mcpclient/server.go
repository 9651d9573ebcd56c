package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// errConnectTimeout is the cause of a connection's context ending because
// initialize and tools/list took longer than Options.ConnectTimeout.
var errConnectTimeout = errors.New("connect timeout")

// server is one configured server and its current connection.
type server struct {
	set  *Set
	name string
	cfg  ServerConfig

	mu        sync.Mutex // held across a restart, so calls wait for it
	conn      *conn      // nil when the first connect failed
	restarted bool
	closed    bool

	refreshMu sync.Mutex  // one tools/list after list_changed at a time
	queued    atomic.Bool // a refresh waits to start: more notifications add nothing

	outMu   sync.Mutex
	proc    *pipe  // the latest program, for its stderr
	earlier string // stderr of the programs before it
}

// conn is one connection to a server: an SDK session and, for a stdio
// server, its program.
type conn struct {
	session *mcp.ClientSession
	pipe    *pipe // nil for a remote server
	cancel  context.CancelCauseFunc
	done    chan struct{} // closed when the session has ended
}

func (c *conn) written() int64 {
	if c.pipe == nil {
		return 0
	}
	return c.pipe.written.Load()
}

// ended reports whether the session has ended, waiting up to wait for it:
// the SDK may report a failed request a moment before the session's end.
func (c *conn) ended(wait time.Duration) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

func (c *conn) close() {
	_ = c.session.Close() // ends the program too, through pipe.Close
	c.cancel(nil)
	if c.pipe != nil {
		_ = c.pipe.Close()
	}
	<-c.done
}

// dial starts or reaches the server, initializes the session and lists the
// tools, all within the connect timeout and ctx.
func (srv *server) dial(ctx context.Context) (*conn, []*mcp.Tool, error) {
	s := srv.set
	// The connection lives until Close, but SSE's event stream is bound to
	// the context it is opened with: so that context is the Set's, ended
	// early only by the connect timeout or the caller giving up first.
	connCtx, cancel := context.WithCancelCause(s.life)
	timer := time.AfterFunc(s.opts.ConnectTimeout, func() { cancel(errConnectTimeout) })
	stopCaller := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stopCaller()

	c := &conn{cancel: cancel, done: make(chan struct{})}
	var transport mcp.Transport
	if srv.cfg.Kind() == TransportStdio {
		if s.opts.Launcher == nil {
			timer.Stop()
			cancel(nil)
			return nil, nil, errors.New("no launcher to start stdio servers with")
		}
		p, err := s.opts.Launcher.Start(connCtx, srv.name, srv.cfg)
		if err != nil {
			timer.Stop()
			cancel(nil)
			return nil, nil, fmt.Errorf("start %q: %w", srv.cfg.Command, err)
		}
		c.pipe = &pipe{Process: p}
		srv.outMu.Lock()
		srv.proc = c.pipe
		srv.outMu.Unlock()
		transport = &mcp.IOTransport{Reader: c.pipe, Writer: c.pipe, MaxLineLength: MaxMessage}
	} else {
		transport = remoteTransport(srv.cfg, s.opts.Launcher)
	}

	client := mcp.NewClient(&mcp.Implementation{Name: "gohands", Version: "1"}, &mcp.ClientOptions{
		Logger: s.opts.Logger.With("component", "mcpclient", "server", srv.name),
		// No roots, sampling or elicitation: GoHands offers the server
		// nothing but tool calls.
		Capabilities: &mcp.ClientCapabilities{},
		ToolListChangedHandler: func(_ context.Context, req *mcp.ToolListChangedRequest) {
			s.refreshLater(srv, req.Session)
		},
	})
	session, err := client.Connect(connCtx, transport, nil)
	var tools []*mcp.Tool
	if err == nil {
		tools, err = listTools(connCtx, session)
		if err != nil {
			_ = session.Close()
		}
	}
	if !timer.Stop() && err == nil {
		_ = session.Close()
		err = errConnectTimeout
	}
	if err != nil {
		cause := context.Cause(connCtx)
		cancel(nil)
		if c.pipe != nil {
			_ = c.pipe.Close() // first, so that its stderr is whole
		}
		return nil, nil, srv.connectError(ctx, err, cause)
	}
	c.session = session
	go func() {
		_ = session.Wait()
		close(c.done)
	}()
	return c, tools, nil
}

func (srv *server) connectError(ctx context.Context, err, cause error) error {
	note := srv.stderrNote()
	switch {
	case errors.Is(cause, errConnectTimeout) || errors.Is(err, errConnectTimeout):
		return fmt.Errorf("no answer to initialize and tools/list within %s%s: %w",
			srv.set.opts.ConnectTimeout, note, context.DeadlineExceeded)
	case ctx.Err() != nil:
		return fmt.Errorf("connect: %w", context.Cause(ctx))
	}
	return fmt.Errorf("connect: %v%s", err, note)
}

// listTools lists all the session's tools, page by page, up to maxTools.
func listTools(ctx context.Context, session *mcp.ClientSession) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	for t, err := range session.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		if len(tools) == maxTools {
			return nil, fmt.Errorf("tools/list: over %d tools", maxTools)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// live returns the server's connection, restarting the server first if it
// has stopped and has not been restarted yet.
func (srv *server) live(ctx context.Context) (*conn, error) {
	srv.mu.Lock()
	switch {
	case srv.closed:
		srv.mu.Unlock()
		return nil, fmt.Errorf("MCP server %q is closed", srv.name)
	case srv.conn == nil:
		srv.mu.Unlock()
		return nil, fmt.Errorf("MCP server %q is not connected", srv.name)
	case !srv.conn.ended(0):
		c := srv.conn
		srv.mu.Unlock()
		return c, nil
	case srv.restarted:
		srv.mu.Unlock()
		return nil, fmt.Errorf("MCP server %q stopped and was already restarted once%s", srv.name, srv.stderrNote())
	}
	defer srv.mu.Unlock()
	srv.restarted = true
	srv.conn.close()
	srv.outMu.Lock()
	if srv.proc != nil {
		srv.earlier += srv.proc.Stderr() + "\n[GoHands restarted the MCP server here]\n"
	}
	srv.outMu.Unlock()
	srv.set.opts.Logger.Warn("MCP server stopped; restarting it", "server", srv.name)
	c, tools, err := srv.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("MCP server %q stopped and restarting it failed: %w", srv.name, err)
	}
	srv.conn = c
	// setTools may call OnToolsChanged, which must not run under srv.mu.
	srv.set.spawn(func() { srv.set.setTools(srv.name, tools) })
	return c, nil
}

// canRestart reports whether a stopped server would be restarted.
func (srv *server) canRestart() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return !srv.restarted && !srv.closed && srv.conn != nil
}

// endedDuringCall says that the connection ended under a call.
func (srv *server) endedDuringCall(err error) string {
	what := "the connection to MCP server %q ended during the call (%v)"
	if srv.cfg.Kind() == TransportStdio {
		what = "MCP server %q stopped during the call (%v)"
	}
	msg := fmt.Sprintf(what, srv.name, err)
	if srv.canRestart() {
		msg += "; it will be restarted for the next call"
	}
	return msg + srv.stderrNote()
}

func (srv *server) refresh(session *mcp.ClientSession) {
	srv.refreshMu.Lock()
	defer srv.refreshMu.Unlock()
	// From here a new notification queues another refresh, which lists
	// what changed after this one started.
	srv.queued.Store(false)
	ctx, cancel := context.WithTimeout(srv.set.life, srv.set.opts.ConnectTimeout)
	defer cancel()
	tools, err := listTools(ctx, session)
	if err != nil {
		srv.set.opts.Logger.Warn("MCP tools/list after list_changed failed", "server", srv.name, "err", err)
		return
	}
	srv.set.setTools(srv.name, tools)
}

func (srv *server) stderr() string {
	srv.outMu.Lock()
	defer srv.outMu.Unlock()
	if srv.proc == nil {
		return srv.earlier
	}
	return srv.earlier + srv.proc.Stderr()
}

// stderrNote quotes the end of the current program's stderr for an error
// message, or says nothing when there is none.
func (srv *server) stderrNote() string {
	srv.outMu.Lock()
	p := srv.proc
	srv.outMu.Unlock()
	if p == nil {
		return ""
	}
	tail := p.Stderr()
	if tail == "" {
		return ""
	}
	if len(tail) > stderrTail {
		tail = tail[len(tail)-stderrTail:]
		for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
			tail = tail[1:]
		}
		tail = "..." + tail
	}
	return "; its stderr ends:\n" + tail
}

func (srv *server) close() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closed = true
	if srv.conn != nil {
		srv.conn.close()
	}
	return nil
}
