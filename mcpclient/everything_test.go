package mcpclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/mcpclient"
	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// checkEverything checks the SDK example server's tools as offered and a
// call of greet, over whatever transport s reached it.
func checkEverything(t *testing.T, s *mcpclient.Set, warnings []mcpclient.Warning) {
	t.Helper()
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	want := []string{"elicit_form", "elicit_url", "greet", "greet_content_with_ResourceLink", "greet_structured", "greet_with_Icons", "log", "ping", "roots", "sample"}
	if diff := cmp.Diff(toolNames(s.Tools()), want); diff != "" {
		t.Errorf("tools (-got +want):\n%s", diff)
	}
	greet := findTool(t, s, "greet")
	if greet.Description != "say hi" || greet.Remote != "greet" || greet.Server != "everything" {
		t.Errorf("greet = %+v", greet)
	}
	var schema map[string]any
	if err := json.Unmarshal(greet.InputSchema, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("greet schema %s: %v", greet.InputSchema, err)
	}
	if got := findTool(t, s, "greet_structured").Remote; got != "greet (structured)" {
		t.Errorf("greet_structured remote = %q", got)
	}

	ctx := context.Background()
	got := s.Call(ctx, "greet", json.RawMessage(`{"name":"Ada"}`))
	wantContent := event.ContentList{
		{Type: event.ContentText, Text: "[Tool 'greet' executed.]"},
		{Type: event.ContentText, Text: "Hi Ada"},
	}
	if diff := cmp.Diff(got, mcpclient.Result{Content: wantContent}); diff != "" {
		t.Errorf("greet (-got +want):\n%s", diff)
	}
	structured := s.Call(ctx, "greet_structured", json.RawMessage(`{"name":"Bo"}`))
	if structured.IsError || !strings.Contains(string(structured.Structured), "Bo") {
		t.Errorf("greet_structured = %+v", structured)
	}
	link := s.Call(ctx, "greet_content_with_ResourceLink", json.RawMessage(`{"name":"Cy"}`))
	if !strings.Contains(link.Text(), "[resource link:") {
		t.Errorf("resource link result = %q", link.Text())
	}
}

func TestEverythingStdio(t *testing.T) {
	t.Parallel()
	l := &hostLauncher{}
	s, warnings := connect(t, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{"everything": stdio(bins.everything)}}, mcpclient.Options{Launcher: l})
	checkEverything(t, s, warnings)
	if !strings.Contains(s.Stderr("everything"), "greet") {
		t.Errorf("stderr kept nothing of the session log: %q", s.Stderr("everything"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range l.started() {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Error("Close left the server's program running")
		}
	}
	if r := s.Call(context.Background(), "greet", nil); !r.IsError {
		t.Errorf("call after Close = %+v", r)
	}
}

func TestEverythingStreamableHTTP(t *testing.T) {
	t.Parallel()
	url := startEverythingHTTP(t)
	l := &hostLauncher{}
	cfg, err := mcpclient.ParseConfig([]byte(`{"mcpServers":{"everything":{"url":"` + url + `","headers":{"Authorization":"Bearer ${TOKEN}"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = cfg.Expand(func(name string) (string, bool) { return "s3cret", name == "TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	s, warnings := connect(t, cfg, mcpclient.Options{Launcher: l})
	checkEverything(t, s, warnings)
	hs := l.headers()
	if len(hs) < 3 {
		t.Fatalf("only %d requests went through the launcher's client", len(hs))
	}
	for i, h := range hs {
		if got := h.Get("Authorization"); got != "Bearer s3cret" {
			t.Errorf("request %d Authorization = %q", i, got)
		}
	}
}

// TestSSE reaches an SSE server: the SDK's own server and SSE handler.
func TestSSE(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "sse", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "hello", Description: "says hello"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello over SSE"}}}, nil, nil
		})
	ts := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(ts.Close)
	l := &hostLauncher{}
	s, warnings := connect(t, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"old": {URL: ts.URL, Transport: "sse", Headers: map[string]string{"X-Team": "blue"}, Auth: &mcpclient.Auth{Strategy: "api_key", Value: "k3y", HeaderName: "X-Api-Key"}},
	}}, mcpclient.Options{Launcher: l})
	if len(warnings) != 0 {
		t.Fatal(warnings)
	}
	if r := s.Call(context.Background(), "hello", nil); r.IsError || r.Text() != "[Tool 'hello' executed.]\nhello over SSE" {
		t.Errorf("hello = %+v", r)
	}
	for i, h := range l.headers() {
		if h.Get("X-Team") != "blue" || h.Get("X-Api-Key") != "k3y" {
			t.Errorf("request %d without the configured header", i)
		}
	}
}
