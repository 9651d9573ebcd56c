package mcpclient_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/mcpclient"
	"github.com/google/go-cmp/cmp"
)

func brokenConfig(name string, sc mcpclient.ServerConfig) mcpclient.Config {
	return mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{name: sc}}
}

// TestConnectFailures: each server that cannot be used is a warning that
// says why, in good time, and the working server beside it still works.
func TestConnectFailures(t *testing.T) {
	t.Parallel()
	cfg := mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"hangs":   stdio(bins.broken, "-mode", "hang"),
		"garbage": stdio(bins.broken, "-mode", "garbage"),
		"exits":   stdio(bins.broken, "-mode", "exit"),
		"missing": stdio("/no/such/mcp-server"),
		"nowhere": {URL: "http://127.0.0.1:1/mcp"},
		"works":   stdio(bins.everything),
	}}
	start := time.Now()
	s, warnings := connect(t, cfg, mcpclient.Options{Launcher: &hostLauncher{}, ConnectTimeout: 2 * time.Second})
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("Connect took %v", elapsed)
	}
	got := map[string]string{}
	for _, w := range warnings {
		got[w.Server] = w.Message
	}
	for server, want := range map[string][]string{
		"hangs":   {"no answer to initialize", "2s", "starting in mode hang"},
		"garbage": {"invalid character", "starting in mode garbage"},
		"exits":   {"missing configuration"},
		"missing": {"/no/such/mcp-server"},
		"nowhere": {"connect"},
	} {
		msg, ok := got[server]
		if !ok {
			t.Errorf("no warning for %s", server)
			continue
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s warning %q lacks %q", server, msg, w)
			}
		}
	}
	if _, ok := got["works"]; ok || len(warnings) != 5 {
		t.Errorf("warnings = %v", warnings)
	}
	if r := s.Call(context.Background(), "greet", json.RawMessage(`{"name":"x"}`)); r.IsError {
		t.Errorf("the working server failed: %+v", r)
	}
}

func TestBrokenTools(t *testing.T) {
	t.Parallel()
	changed := make(chan struct{}, 10)
	s, warnings := connect(t, brokenConfig("broken", stdio(bins.broken)), mcpclient.Options{
		Launcher:       &hostLauncher{},
		OnToolsChanged: func() { changed <- struct{}{} },
	})
	if diff := cmp.Diff(toolNames(s.Tools()), []string{"add_tool", "big", "crash", "echo", "fail", "sleep"}); diff != "" {
		t.Errorf("tools (-got +want):\n%s", diff)
	}
	left := map[string]string{}
	for _, w := range warnings {
		left[w.Tool] = w.Message
	}
	for tool, want := range map[string]string{
		"string schema": `type "string", not "object"`,
		"huge schema":   "over the 65536-byte limit",
		"()":            "no letter or digit",
	} {
		if !strings.Contains(left[tool], want) {
			t.Errorf("warning for %q = %q, want %q in it", tool, left[tool], want)
		}
	}
	ctx := context.Background()

	t.Run("content kinds", func(t *testing.T) {
		r := s.Call(ctx, "echo", json.RawMessage(`{"text":"hi"}`))
		want := mcpclient.Result{
			Content: event.ContentList{
				{Type: event.ContentText, Text: "[Tool 'echo' executed.]"},
				{Type: event.ContentText, Text: "echo: hi"},
				{Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64,iVBORyBmYWtl"}},
				{Type: event.ContentText, Text: "[audio content (audio/wav, 4 bytes) not shown]"},
				{Type: event.ContentText, Text: "[resource link: x.txt <file:///tmp/x.txt>]"},
			},
			Structured: json.RawMessage(`{"echoed":"hi"}`),
		}
		if diff := cmp.Diff(r, want); diff != "" {
			t.Errorf("echo (-got +want):\n%s", diff)
		}
	})

	t.Run("50 MB result is cut", func(t *testing.T) {
		r := s.Call(ctx, "big", nil)
		if r.IsError || len(r.Content) != 2 {
			t.Fatalf("big: error %v, %d parts", r.IsError, len(r.Content))
		}
		text := r.Content[1].Text
		if len(text) > mcpclient.DefaultMaxText || !strings.HasPrefix(text, "HEADxx") || !strings.HasSuffix(text, "xxTAIL") || !strings.Contains(text, "52428800 bytes in all") {
			t.Errorf("cut text: %d bytes, starts %q, ends %q", len(text), text[:10], text[len(text)-10:])
		}
		if len(r.Full) != 50<<20 {
			t.Errorf("Full has %d bytes", len(r.Full))
		}
	})

	t.Run("tool error", func(t *testing.T) {
		r := s.Call(ctx, "fail", nil)
		if !r.IsError || !strings.Contains(r.Text(), "the widget is broken") {
			t.Errorf("fail = %+v", r)
		}
	})

	t.Run("bad calls", func(t *testing.T) {
		for name, args := range map[string]string{"echo": `[1,2]`, "no_such_tool": `{}`, "sleep": `{"seconds":`} {
			if r := s.Call(ctx, name, json.RawMessage(args)); !r.IsError || len(r.Content) != 1 {
				t.Errorf("%s(%s) = %+v", name, args, r)
			}
		}
	})

	t.Run("list_changed", func(t *testing.T) {
		if r := s.Call(ctx, "add_tool", nil); r.IsError {
			t.Fatal(r)
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatal("OnToolsChanged not called after tools/list_changed")
		}
		if r := s.Call(ctx, "added", nil); r.Text() != "[Tool 'added' executed.]\nI was added" {
			t.Errorf("added = %+v", r)
		}
	})
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	sc := stdio(bins.broken)
	sc.Timeout = 0.5
	s, _ := connect(t, brokenConfig("slow", sc), mcpclient.Options{Launcher: &hostLauncher{}})
	start := time.Now()
	r := s.Call(context.Background(), "sleep", json.RawMessage(`{"seconds":60}`))
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("call took %v", elapsed)
	}
	if !r.IsError || !strings.Contains(r.Text(), "timed out after 0.5 seconds") {
		t.Errorf("sleep = %+v", r)
	}
	// The server is still usable after a timed-out call.
	if r := s.Call(context.Background(), "sleep", json.RawMessage(`{"seconds":0}`)); r.IsError {
		t.Errorf("sleep 0 after a timeout = %+v", r)
	}
}

// TestRestartOnce: a server that exits mid-call gives an error result (the
// call is not made again: it may have done its work), is restarted for the
// next call, and is not restarted a second time.
func TestRestartOnce(t *testing.T) {
	t.Parallel()
	l := &hostLauncher{}
	s, _ := connect(t, brokenConfig("flaky", stdio(bins.broken)), mcpclient.Options{Launcher: l})
	ctx := context.Background()
	r := s.Call(ctx, "crash", nil)
	if !r.IsError || !strings.Contains(r.Text(), "stopped during the call") || !strings.Contains(r.Text(), "crashing on purpose") || !strings.Contains(r.Text(), "restarted for the next call") {
		t.Errorf("crash = %+v", r)
	}
	if r := s.Call(ctx, "echo", json.RawMessage(`{"text":"again"}`)); r.IsError || !strings.Contains(r.Text(), "echo: again") {
		t.Errorf("echo after restart = %+v", r)
	}
	if n := len(l.started()); n != 2 {
		t.Errorf("%d programs started, want 2", n)
	}
	if !strings.Contains(s.Stderr("flaky"), "restarted") || strings.Count(s.Stderr("flaky"), "starting in mode serve") != 2 {
		t.Errorf("stderr across the restart = %q", s.Stderr("flaky"))
	}
	if r := s.Call(ctx, "crash", nil); !r.IsError || strings.Contains(r.Text(), "restarted for the next call") {
		t.Errorf("second crash = %+v", r)
	}
	if r := s.Call(ctx, "echo", json.RawMessage(`{"text":"x"}`)); !r.IsError || !strings.Contains(r.Text(), "already restarted once") {
		t.Errorf("echo after the second crash = %+v", r)
	}
	if n := len(l.started()); n != 2 {
		t.Errorf("%d programs started, want 2", n)
	}
}

// TestRestartRetriesUnsentCall: a server found dead before a call is
// restarted and the call made on the new one.
func TestRestartRetriesUnsentCall(t *testing.T) {
	t.Parallel()
	l := &hostLauncher{}
	s, _ := connect(t, brokenConfig("killed", stdio(bins.broken)), mcpclient.Options{Launcher: l})
	l.started()[0].kill()
	r := s.Call(context.Background(), "echo", json.RawMessage(`{"text":"retried"}`))
	if r.IsError || !strings.Contains(r.Text(), "echo: retried") {
		t.Errorf("echo on a killed server = %+v", r)
	}
	if n := len(l.started()); n != 2 {
		t.Errorf("%d programs started, want 2", n)
	}
}

func TestCollisionPrefix(t *testing.T) {
	t.Parallel()
	s, warnings := connect(t, mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
		"one":        stdio(bins.broken),
		"two.server": stdio(bins.broken),
		"greeter":    stdio(bins.everything),
	}}, mcpclient.Options{Launcher: &hostLauncher{}})
	if len(warnings) != 6 { // each broken server's three unofferable tools
		t.Errorf("warnings: %v", warnings)
	}
	names := toolNames(s.Tools())
	for _, want := range []string{"one_echo", "two_server_echo", "one_crash", "two_server_crash", "greet", "ping"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("no %s in %v", want, names)
		}
	}
	r := s.Call(context.Background(), "two_server_echo", json.RawMessage(`{"text":"2"}`))
	if r.IsError || !strings.Contains(r.Text(), "echo: 2") {
		t.Errorf("two_server_echo = %+v", r)
	}
	if tool := findTool(t, s, "two_server_echo"); tool.Remote != "echo" || tool.Server != "two.server" {
		t.Errorf("two_server_echo = %+v", tool)
	}
}
