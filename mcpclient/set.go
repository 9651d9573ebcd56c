package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultConnectTimeout bounds initialize and tools/list for one server when
// Options.ConnectTimeout is zero.
const DefaultConnectTimeout = 30 * time.Second

// maxTools bounds how many tools one server may list, so that a server
// paginating forever cannot keep Connect busy.
const maxTools = 2000

// stderrTail is how much of a server's stderr an error message quotes.
const stderrTail = 2000

// Options configure Connect.
type Options struct {
	Launcher       Launcher
	Logger         *slog.Logger
	ConnectTimeout time.Duration // per server, initialize + tools/list; default 30s
	MaxText        int           // cut text content past this many bytes (head and tail kept, like terminal output); default 30000
	OnToolsChanged func()        // after a tools/list_changed notification (or a restart) changed the tools offered
	// OnToolsChanged runs on a goroutine of the Set's: it may call Tools
	// and Call, but not Close, which waits for it.
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxText <= 0 {
		o.MaxText = DefaultMaxText
	}
	return o
}

// Set is a conversation's connected MCP servers and the tools they offer.
// Its methods are safe for concurrent use.
type Set struct {
	opts Options
	life context.Context // ends at Close; the connections' lifetime
	stop context.CancelFunc
	wg   sync.WaitGroup // list_changed refreshes

	mu      sync.Mutex
	closed  bool
	servers map[string]*server
	lists   map[string][]*mcp.Tool // each server's tools as last listed
	tools   []Tool
	byName  map[string]Tool
}

// Connect connects to every enabled server of cfg in parallel and lists its
// tools. A server that fails is a Warning, with the end of its stderr; the
// others work. ctx bounds the connecting, not the Set's life: Close ends it.
// cfg should have been through Expand.
func Connect(ctx context.Context, cfg Config, opts Options) (*Set, []Warning) {
	s := newSet(ctx, opts)
	opts = s.opts
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		warnings []Warning
	)
	for _, name := range cfg.Names() {
		sc := cfg.Servers[name]
		if !sc.enabled() {
			continue
		}
		srv := &server{set: s, name: name, cfg: sc}
		s.servers[name] = srv
		if err := sc.Validate(name); err != nil {
			warnings = append(warnings, Warning{Server: name, Message: err.Error()})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, tools, err := srv.dial(ctx)
			if err != nil {
				mu.Lock()
				warnings = append(warnings, Warning{Server: name, Message: err.Error()})
				mu.Unlock()
				return
			}
			srv.mu.Lock()
			srv.conn = c
			srv.mu.Unlock()
			s.mu.Lock()
			s.lists[name] = tools
			s.mu.Unlock()
		}()
	}
	wg.Wait()
	s.mu.Lock()
	warnings = append(warnings, s.rebuildLocked()...)
	s.mu.Unlock()
	for _, w := range warnings {
		opts.Logger.Warn("MCP", "server", w.Server, "tool", w.Tool, "warning", w.Message)
	}
	return s, warnings
}

func newSet(ctx context.Context, opts Options) *Set {
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Set{
		opts:    opts.withDefaults(),
		life:    life,
		stop:    stop,
		servers: map[string]*server{},
		lists:   map[string][]*mcp.Tool{},
	}
}

// Tools returns the tools offered, in a stable order.
func (s *Set) Tools() []Tool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tools)
}

// rebuildLocked names the tools of every server again and reports whether
// the names or schemas offered changed.
func (s *Set) rebuildLocked() []Warning {
	var lists []listed
	for name, tools := range s.lists {
		lists = append(lists, listed{server: name, tools: tools})
	}
	tools, warnings := offer(lists)
	s.tools = tools
	s.byName = make(map[string]Tool, len(tools))
	for _, t := range tools {
		s.byName[t.Name] = t
	}
	return warnings
}

// setTools records a server's new tool list and tells OnToolsChanged if
// what is offered changed.
func (s *Set) setTools(server string, tools []*mcp.Tool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	before := s.tools
	s.lists[server] = tools
	warnings := s.rebuildLocked()
	changed := !slices.EqualFunc(before, s.tools, func(a, b Tool) bool {
		return a.Name == b.Name && a.Server == b.Server && a.Remote == b.Remote &&
			a.Description == b.Description && string(a.InputSchema) == string(b.InputSchema)
	})
	s.mu.Unlock()
	for _, w := range warnings {
		s.opts.Logger.Warn("MCP", "server", w.Server, "tool", w.Tool, "warning", w.Message)
	}
	if changed && s.opts.OnToolsChanged != nil {
		s.opts.OnToolsChanged()
	}
}

// Call calls the tool offered as name with args, a JSON object. It never
// hangs past the server's timeout: a timeout, a protocol error or a dead
// server is a Result with IsError and a text saying so. A stdio server that
// died is restarted once per Set, and the call made on the new one when it
// had not reached the old.
func (s *Set) Call(ctx context.Context, name string, args json.RawMessage) Result {
	s.mu.Lock()
	t, ok := s.byName[name]
	srv := s.servers[t.Server]
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return failed("Error calling MCP tool '%s': the MCP connections are closed.", name)
	case !ok || srv == nil:
		return failed("Error calling MCP tool '%s': no such MCP tool.", name)
	}
	arguments, err := callArguments(args)
	if err != nil {
		return failed("Error calling MCP tool '%s': %v", name, err)
	}
	timeout := srv.cfg.CallTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c, err := srv.live(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return timedOut(ctx, name, timeout)
			}
			return failed("Error calling MCP tool '%s': %v", name, err)
		}
		sent := c.written()
		res, err := c.session.CallTool(ctx, &mcp.CallToolParams{Name: t.Remote, Arguments: arguments})
		if err == nil {
			if res == nil {
				return failed("Error calling MCP tool '%s': the server sent no result.", name)
			}
			return convert(name, res, s.opts.MaxText)
		}
		if ctx.Err() != nil {
			return timedOut(ctx, name, timeout)
		}
		if !c.ended(200 * time.Millisecond) {
			return failed("Error calling MCP tool '%s': %v", name, err)
		}
		// The connection ended under the call. Retry on a restarted
		// server only when none of the call was written to the old one:
		// a call that reached it may have done its work.
		if attempt == 0 && c.written() == sent && srv.canRestart() {
			continue
		}
		return failed("Error calling MCP tool '%s': %s", name, srv.endedDuringCall(err))
	}
}

func timedOut(ctx context.Context, name string, timeout time.Duration) Result {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return failed("MCP tool '%s' timed out after %g seconds. The server may still be working on it.", name, timeout.Seconds())
	}
	return failed("MCP tool '%s' was cancelled: %v", name, context.Cause(ctx))
}

// callArguments checks that args is a JSON object ("" and null mean {}).
func callArguments(args json.RawMessage) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(string(args))
	if trimmed == "" || trimmed == "null" {
		return json.RawMessage(`{}`), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("arguments must be a JSON object, got %.80s", trimmed)
	}
	return args, nil
}

// Stderr returns what the server's program wrote to stderr, across a
// restart; "" for a remote server or an unknown name.
func (s *Set) Stderr(server string) string {
	s.mu.Lock()
	srv := s.servers[server]
	s.mu.Unlock()
	if srv == nil {
		return ""
	}
	return srv.stderr()
}

// Close ends every connection and every stdio server's program, and waits
// for the Set's goroutines.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	servers := make([]*server, 0, len(s.servers))
	for _, srv := range s.servers {
		servers = append(servers, srv)
	}
	s.mu.Unlock()
	s.stop() // first, so that a connect or restart under way gives up
	var errs []error
	for _, srv := range servers {
		if err := srv.close(); err != nil {
			errs = append(errs, fmt.Errorf("close MCP server %s: %w", srv.name, err))
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// refreshLater lists a server's tools again after tools/list_changed, off
// the SDK's notification goroutine (a request made from there would wait on
// the very goroutine that must read its answer).
//
// A server flooding notifications costs at most one refresh running and
// one waiting.
func (s *Set) refreshLater(srv *server, session *mcp.ClientSession) {
	if srv.queued.Swap(true) {
		return
	}
	s.spawn(func() { srv.refresh(session) })
}

// spawn runs f in a goroutine that Close waits for, unless the Set is
// closed.
func (s *Set) spawn(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}
