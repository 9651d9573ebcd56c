package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/sandbox/sandboxtest"
)

// everythingServer builds the Go SDK's example MCP server once per run.
var everythingServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gohands-everything-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "everything")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/examples/server/everything")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

type mcpTestAnswer struct {
	OK         bool     `json:"ok"`
	Tools      []string `json:"tools"`
	ToolResult *struct {
		IsError bool   `json:"is_error"`
		Text    string `json:"text"`
	} `json:"tool_result"`
	Error     string `json:"error"`
	ErrorKind string `json:"error_kind"`
}

// TestMCPTest: POST /api/mcp/test starts a stdio server in a workspace
// sandbox (here the in-memory one, whose runtime-agent runs in the test
// process), lists its tools and makes a tool call; a server that cannot
// be reached is an answer saying why; bad bodies are refused.
func TestMCPTest(t *testing.T) {
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	e := newEnv(t, options{backend: sandboxtest.New(t)})

	t.Run("lists and calls", func(t *testing.T) {
		e := e.in(t)
		var got mcpTestAnswer
		e.call(http.MethodPost, "/api/mcp/test", map[string]any{"name": "everything",
			"server":    map[string]any{"command": bin},
			"tool_call": map[string]any{"name": "greet", "arguments": map[string]any{"name": "Ada"}}}, http.StatusOK, &got)
		if !got.OK || !slices.Contains(got.Tools, "greet") || got.ToolResult == nil || !strings.Contains(got.ToolResult.Text, "Hi Ada") {
			t.Errorf("answer %+v, want ok with greet listed and called", got)
		}
	})
	t.Run("upstream's type field", func(t *testing.T) {
		e := e.in(t)
		var got mcpTestAnswer
		e.call(http.MethodPost, "/api/mcp/test", map[string]any{"server": map[string]any{"type": "stdio", "command": bin}}, http.StatusOK, &got)
		if !got.OK || len(got.Tools) < 5 {
			t.Errorf("answer %+v, want ok with the tools", got)
		}
	})
	t.Run("streamable HTTP from the sandbox", func(t *testing.T) {
		e := e.in(t)
		url := serveEverything(t, bin)
		var got mcpTestAnswer
		e.call(http.MethodPost, "/api/mcp/test", map[string]any{"server": map[string]any{"url": url},
			"tool_call": map[string]any{"name": "greet", "arguments": map[string]any{"name": "Web"}}}, http.StatusOK, &got)
		if !got.OK || !slices.Contains(got.Tools, "greet") || got.ToolResult == nil || !strings.Contains(got.ToolResult.Text, "Hi Web") {
			t.Errorf("answer %+v, want ok with greet listed and called", got)
		}
	})
	failures := []struct {
		name   string
		server map[string]any
		kind   string
		says   string
	}{
		{"no such program", map[string]any{"command": "no-such-mcp-server-gohands"}, "connection", "no-such-mcp-server-gohands"},
		{"unreachable url", map[string]any{"url": "http://127.0.0.1:1/mcp"}, "connection", ""},
		{"never answers", map[string]any{"command": "sleep", "args": []string{"60"}}, "timeout", ""},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			var got mcpTestAnswer
			e.call(http.MethodPost, "/api/mcp/test", map[string]any{"server": tt.server, "timeout": 2}, http.StatusOK, &got)
			if got.OK || got.Error == "" || got.ErrorKind != tt.kind || !strings.Contains(got.Error, tt.says) {
				t.Errorf("answer %+v, want ok false (%s) saying %q", got, tt.kind, tt.says)
			}

		})
	}
	refused := []struct {
		name string
		body string
		want int
	}{
		{"not JSON", `{"server":`, http.StatusUnprocessableEntity},
		{"no server", `{"name":"x"}`, http.StatusUnprocessableEntity},
		{"command and url", `{"server":{"command":"a","url":"http://b"}}`, http.StatusUnprocessableEntity},
		{"unknown transport", `{"server":{"type":"pigeon","url":"http://b"}}`, http.StatusUnprocessableEntity},
		{"timeout too long", `{"server":{"command":"a"},"timeout":1000}`, http.StatusUnprocessableEntity},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e := e.in(t)
			status, body := e.request(http.MethodPost, "/api/mcp/test", tt.body, http.Header{"Content-Type": {"application/json"}})
			var detail struct{ Detail string }
			json.Unmarshal(body, &detail)
			if status != tt.want || detail.Detail == "" {
				t.Errorf("%d %s, want %d with a detail", status, body, tt.want)
			}
		})
	}
}

// TestMCPTestWithoutSandboxes: a server that runs no sandboxes runs no MCP
// server either: nothing runs on its host.
func TestMCPTestWithoutSandboxes(t *testing.T) {
	e := newEnv(t, options{})
	status, body := e.request(http.MethodPost, "/api/mcp/test", map[string]any{"server": map[string]any{"command": "true"}}, nil)
	if status != http.StatusServiceUnavailable {
		t.Errorf("%d %s, want 503", status, body)
	}
}

// TestConversationMCPConfig: agent.mcp_config is checked at create (422
// with the reason), its literal env values become secrets (named by
// reference in what the conversation shows), and the conversation's tools
// list its MCP servers' tools once they are connected in its sandbox.
func TestConversationMCPConfig(t *testing.T) {
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	e := newEnv(t, options{backend: sandboxtest.New(t)})
	const token = "literal-token-value-4242"
	info := e.create(map[string]any{"agent": map[string]any{"llm": map[string]any{"model": "openai/x"},
		"mcp_config": map[string]any{"mcpServers": map[string]any{"everything": map[string]any{
			"command": bin, "env": map[string]any{"MY_TOKEN": token, "HOME_DIR": "${HOME_DIR:-/tmp}"}}}}}})
	raw := e.call(http.MethodGet, "/api/conversations/"+info.ID, nil, http.StatusOK, nil)
	if strings.Contains(string(raw), token) {
		t.Errorf("the conversation shows the literal token: %s", raw)
	}
	if !strings.Contains(string(raw), `"MY_TOKEN":"${MCP_EVERYTHING_ENV_MY_TOKEN}"`) || !strings.Contains(string(raw), `"HOME_DIR":"${HOME_DIR:-/tmp}"`) ||
		!slices.Contains(info.Secrets, "MCP_EVERYTHING_ENV_MY_TOKEN") {
		t.Errorf("the conversation %s does not name its MCP env by secret", raw)
	}
	var tools []convTool
	e.call(http.MethodGet, "/api/conversations/"+info.ID+"/tools", nil, http.StatusOK, &tools)
	if !slices.ContainsFunc(tools, func(t convTool) bool {
		return t.Name == "greet" && t.MCPServer == "everything" && t.MCPTool == "greet" && t.Kind == "MCPToolDefinition"
	}) || !slices.ContainsFunc(tools, func(t convTool) bool {
		return t.Name == "terminal"
	}) {
		t.Errorf("tools %+v, want greet of everything beside terminal", tools)
	}
	var names []string
	e.call(http.MethodGet, "/api/tools/?conversation_id="+info.ID, nil, http.StatusOK, &names)
	if !slices.Contains(names, "greet") {
		t.Errorf("/api/tools/?conversation_id= %v, want greet", names)
	}
	var again struct {
		Tools []string `json:"tools"`
	}
	e.call(http.MethodGet, "/api/conversations/"+info.ID, nil, http.StatusOK, &again)
	if !slices.Contains(again.Tools, "greet") || !slices.Contains(again.Tools, "terminal") {
		t.Errorf("ConversationInfo tools %v, want greet beside terminal", again.Tools)
	}

	for _, bad := range []struct{ cfg, says string }{
		{`{"mcpServers":{"both":{"command":"a","url":"http://b"}}}`, "both"},
		{`{"mcpServers":{"x":{"url":"ftp://b"}}}`, "x"},
		{`{"mcpServers":{"bad name!":{"command":"a"}}}`, "bad name!"},
		{`"not an object"`, "mcp_config"},
	} {
		status, body := e.request(http.MethodPost, "/api/conversations", `{"agent":{"llm":{"model":"openai/x"},"mcp_config":`+bad.cfg+`}}`,
			http.Header{"Content-Type": {"application/json"}})
		if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), bad.says) {
			t.Errorf("mcp_config %s: %d %s, want 422 naming %q", bad.cfg, status, body, bad.says)
		}
	}
}

// convTool is a tool of GET /api/conversations/{id}/tools.
type convTool struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	MCPServer string `json:"mcp_server"`
	MCPTool   string `json:"mcp_tool"`
}

// serveEverything runs the everything server over streamable HTTP on a
// free local port until the test ends, and returns its URL.
func serveEverything(t *testing.T, bin string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-http", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the everything server does not listen on %s", addr)
	return ""
}
