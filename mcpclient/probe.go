package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
)

// Test connects to one server, lists its tools and closes, all within ctx;
// for POST /api/mcp/test.
func Test(ctx context.Context, server string, cfg ServerConfig, l Launcher) ([]Tool, error) {
	tools, _, err := TestCall(ctx, server, cfg, l, nil)
	return tools, err
}

// ToolCall names one tool to call while testing a server, as upstream's
// test request's "tool_call" does. Name may be the tool's name on its
// server or as offered.
type ToolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// TestCall is Test that also calls one tool when call is not nil, so that
// credentials a server only uses inside its tools are checked too. A tool
// the server does not list is an error Result, not an error: the server
// did connect.
func TestCall(ctx context.Context, server string, cfg ServerConfig, l Launcher, call *ToolCall) ([]Tool, *Result, error) {
	return testCall(ctx, ctx, server, cfg, l, call)
}

// testCall connects and lists within connectCtx and calls within callCtx.
func testCall(connectCtx, callCtx context.Context, name string, cfg ServerConfig, l Launcher, call *ToolCall) ([]Tool, *Result, error) {
	ctx := connectCtx
	if err := cfg.Validate(name); err != nil {
		return nil, nil, err
	}
	opts := Options{Launcher: l}
	if d, ok := ctx.Deadline(); ok {
		opts.ConnectTimeout = time.Until(d)
		if opts.ConnectTimeout <= 0 {
			return nil, nil, fmt.Errorf("MCP server %q: %w", name, context.DeadlineExceeded)
		}
	}
	s := newSet(ctx, opts)
	defer s.Close()
	srv := &server{set: s, name: name, cfg: cfg}
	s.servers[name] = srv
	c, tools, err := srv.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("MCP server %q: %w", name, err)
	}
	srv.mu.Lock()
	srv.conn = c
	srv.mu.Unlock()
	s.setTools(name, tools)
	offered := s.Tools()
	if call == nil {
		return offered, nil, nil
	}
	offeredName := ""
	var names []string
	for _, t := range offered {
		names = append(names, t.Remote)
		if t.Name == call.Name || t.Remote == call.Name && offeredName == "" {
			offeredName = t.Name
		}
	}
	if offeredName == "" {
		r := failed("Tool %q not advertised by server (available: %s)", call.Name, strings.Join(names, ", "))
		return offered, &r, nil
	}
	r := s.Call(callCtx, offeredName, call.Arguments)
	return offered, &r, nil
}

// TestRequest is the body of POST /api/mcp/test as upstream defines it.
type TestRequest struct {
	Name     string       // the server's name in messages; "test-server" when none
	Server   ServerConfig // upstream's "server": stdio or remote, by "type" or "transport"
	Timeout  float64      // seconds for connect and tools/list, and again for the call; default 15, at most 120
	ToolCall *ToolCall    // optional tool to call after listing
}

// Test request bounds, as upstream's.
const (
	DefaultTestTimeout = 15.0
	MaxTestTimeout     = 120.0
	defaultTestName    = "test-server"
)

// ParseTestRequest reads upstream's test request body:
// {"name"?, "server": {...}, "timeout"?, "tool_call"?: {"name", "arguments"}}.
func ParseTestRequest(raw []byte) (TestRequest, error) {
	var w struct {
		Name     *string         `json:"name"`
		Server   json.RawMessage `json:"server"`
		Timeout  *float64        `json:"timeout"`
		ToolCall *ToolCall       `json:"tool_call"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return TestRequest{}, fmt.Errorf("MCP test request: %w", err)
	}
	req := TestRequest{Name: defaultTestName, Timeout: DefaultTestTimeout, ToolCall: w.ToolCall}
	if w.Name != nil {
		if *w.Name == "" || len(*w.Name) > 128 {
			return TestRequest{}, errors.New("MCP test request: name must be 1 to 128 characters")
		}
		if n := strings.TrimSpace(*w.Name); n != "" {
			req.Name = n
		}
	}
	if checkName(req.Name) != nil {
		// Upstream allows any name here; it only labels messages.
		if req.Name = sanitize(req.Name); req.Name == "" || len(req.Name) > maxServerName {
			req.Name = defaultTestName
		}
	}
	if w.Timeout != nil {
		if !(*w.Timeout > 0 && *w.Timeout <= MaxTestTimeout) {
			return TestRequest{}, fmt.Errorf("MCP test request: timeout must be over 0 and at most %g seconds", MaxTestTimeout)
		}
		req.Timeout = *w.Timeout
	}
	if len(bytes.TrimSpace(w.Server)) == 0 {
		return TestRequest{}, errors.New("MCP test request: \"server\" is required")
	}
	s, err := parseServer(w.Server)
	if err != nil {
		return TestRequest{}, fmt.Errorf("MCP test request: server: %w", err)
	}
	if err := s.Validate(req.Name); err != nil {
		return TestRequest{}, err
	}
	req.Server = s
	if req.ToolCall != nil && req.ToolCall.Name == "" {
		return TestRequest{}, errors.New("MCP test request: tool_call needs a name")
	}
	return req, nil
}

// TestResponse is upstream's answer to a test: ok with the tools'
// names (as the server lists them), or not ok with an error and its kind
// ("timeout", "connection" or "unknown").
type TestResponse struct {
	OK         bool            `json:"ok"`
	Tools      []string        `json:"tools,omitempty"`
	ToolResult *TestToolResult `json:"tool_result,omitempty"`
	Error      string          `json:"error,omitempty"`
	ErrorKind  string          `json:"error_kind,omitempty"`
}

// MarshalJSON writes "tools" always when OK, as upstream does.
func (r TestResponse) MarshalJSON() ([]byte, error) {
	type plain TestResponse
	if !r.OK {
		return json.Marshal(plain(r))
	}
	if r.Tools == nil {
		r.Tools = []string{}
	}
	return json.Marshal(struct {
		OK         bool            `json:"ok"`
		Tools      []string        `json:"tools"`
		ToolResult *TestToolResult `json:"tool_result,omitempty"`
	}{true, r.Tools, r.ToolResult})
}

// TestToolResult is the outcome of a test's tool call: its isError flag
// and its text content.
type TestToolResult struct {
	IsError bool   `json:"is_error"`
	Text    string `json:"text"`
}

// Probe answers a test request: connect and list within req.Timeout, then
// make the tool call, if any, within req.Timeout again. Failing to connect
// is an answer (OK false), not an error.
func Probe(ctx context.Context, req TestRequest, l Launcher) TestResponse {
	d := time.Duration(req.Timeout * float64(time.Second))
	cfg := req.Server
	if req.ToolCall != nil {
		// The call gets its own req.Timeout after the listing.
		cfg.Timeout = req.Timeout
	}
	connectCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// TestCall bounds connecting by connectCtx's deadline; the call runs
	// under ctx and the server's timeout.
	tools, result, err := testCall(connectCtx, ctx, req.Name, cfg, l, req.ToolCall)
	if err != nil {
		kind := "connection"
		if errors.Is(err, context.DeadlineExceeded) {
			kind = "timeout"
		}
		return TestResponse{Error: err.Error(), ErrorKind: kind}
	}
	resp := TestResponse{OK: true, Tools: []string{}}
	for _, t := range tools {
		resp.Tools = append(resp.Tools, t.Remote)
	}
	if result != nil {
		var texts []string
		for i, c := range result.Content {
			if c.Type == event.ContentText && !(i == 0 && strings.HasPrefix(c.Text, "[Tool '")) {
				texts = append(texts, c.Text)
			}
		}
		resp.ToolResult = &TestToolResult{IsError: result.IsError, Text: strings.Join(texts, "\n")}
	}
	return resp
}
