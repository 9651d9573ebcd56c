package mcpclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/mcpclient"
	"github.com/google/go-cmp/cmp"
)

func TestParseTestRequest(t *testing.T) {
	tests := []struct {
		in   string
		want mcpclient.TestRequest
	}{
		{`{"server":{"type":"stdio","command":"srv","args":["-x"],"env":{"A":"1"},"cwd":"/w"}}`,
			mcpclient.TestRequest{Name: "test-server", Timeout: 15, Server: mcpclient.ServerConfig{Command: "srv", Args: []string{"-x"}, Env: map[string]string{"A": "1"}, Cwd: "/w", Transport: "stdio"}}},
		{`{"name":" my gh ","server":{"type":"shttp","url":"https://h/mcp","headers":{"A":"b"}},"timeout":5,"tool_call":{"name":"whoami","arguments":{"x":1}}}`,
			mcpclient.TestRequest{Name: "my_gh", Timeout: 5, Server: mcpclient.ServerConfig{URL: "https://h/mcp", Headers: map[string]string{"A": "b"}, Transport: "shttp"},
				ToolCall: &mcpclient.ToolCall{Name: "whoami", Arguments: json.RawMessage(`{"x":1}`)}}},
		{`{"server":{"url":"http://h/sse","transport":"sse"}}`,
			mcpclient.TestRequest{Name: "test-server", Timeout: 15, Server: mcpclient.ServerConfig{URL: "http://h/sse", Transport: "sse"}}},
	}
	for _, tt := range tests {
		got, err := mcpclient.ParseTestRequest([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{
		`{}`, `{"server":{}}`, `{"server":{"command":"x"},"timeout":0}`, `{"server":{"command":"x"},"timeout":121}`,
		`{"server":{"command":"x"},"tool_call":{}}`, `{"name":"","server":{"command":"x"}}`, `{"server":{"type":"ws","url":"http://h"}}`,
	} {
		if _, err := mcpclient.ParseTestRequest([]byte(bad)); err == nil {
			t.Errorf("ParseTestRequest(%s) accepted", bad)
		}
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	l := &hostLauncher{}
	ctx := context.Background()

	req, err := mcpclient.ParseTestRequest([]byte(`{"name":"ev","server":{"command":"` + bins.everything + `"},"tool_call":{"name":"greet","arguments":{"name":"Probe"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp := mcpclient.Probe(ctx, req, l)
	if !resp.OK || !strings.Contains(strings.Join(resp.Tools, ","), "greet (structured)") {
		t.Errorf("Probe = %+v", resp)
	}
	if diff := cmp.Diff(resp.ToolResult, &mcpclient.TestToolResult{Text: "Hi Probe"}); diff != "" {
		t.Errorf("tool_result (-got +want):\n%s", diff)
	}

	req.ToolCall = &mcpclient.ToolCall{Name: "nope"}
	resp = mcpclient.Probe(ctx, req, l)
	if !resp.OK || resp.ToolResult == nil || !resp.ToolResult.IsError || !strings.Contains(resp.ToolResult.Text, "not advertised") {
		t.Errorf("Probe with an unknown tool = %+v", resp)
	}
	raw, _ := json.Marshal(mcpclient.TestResponse{OK: true})
	if string(raw) != `{"ok":true,"tools":[]}` {
		t.Errorf("empty success = %s", raw)
	}

	req, _ = mcpclient.ParseTestRequest([]byte(`{"server":{"command":"` + bins.broken + `","args":["-mode","hang"]},"timeout":0.5}`))
	start := time.Now()
	resp = mcpclient.Probe(ctx, req, l)
	if resp.OK || resp.ErrorKind != "timeout" || time.Since(start) > 10*time.Second {
		t.Errorf("Probe of a hanging server = %+v after %v", resp, time.Since(start))
	}
	req, _ = mcpclient.ParseTestRequest([]byte(`{"server":{"command":"/no/such/server"}}`))
	if resp = mcpclient.Probe(ctx, req, l); resp.OK || resp.ErrorKind != "connection" || !strings.Contains(resp.Error, "/no/such/server") {
		t.Errorf("Probe of a missing command = %+v", resp)
	}
}

func TestTestWithinContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := mcpclient.Test(ctx, "hangs", stdio(bins.broken, "-mode", "hang"), &hostLauncher{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Test of a hanging server = %v", err)
	}
	tools, err := mcpclient.Test(context.Background(), "ev", stdio(bins.everything), &hostLauncher{})
	if err != nil || len(tools) != 10 {
		t.Errorf("Test = %d tools, %v", len(tools), err)
	}
}
