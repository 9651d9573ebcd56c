package tools_test

import (
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
)

func TestBrowser(t *testing.T) {
	ws := newWorkspace()
	ws.agent.Pages = map[string]agentapi.BrowseResult{
		"https://example.com/": {Title: "Example", Content: "Hello page", NextChar: 5, Links: []string{"https://example.com/more"}},
	}
	o := call(t, ws, event.ToolBrowser, map[string]any{"url": "https://example.com/"}).(*event.BrowserObservation)
	want := "# Example\nURL: https://example.com/ (HTTP 200)\n\nHello page\n\n[5 of 10 characters shown; call browser with start_from_char 5 for more]\n\nLinks:\n[1] https://example.com/more\n"
	if o.IsError || o.URL != "https://example.com/" || text(o) != want {
		t.Errorf("navigate: %+v\n%q", o, text(o))
	}
	o = call(t, ws, event.ToolBrowser, map[string]any{"start_from_char": 6}).(*event.BrowserObservation)
	if o.IsError || text(o) != "# Example\nURL: https://example.com/ (HTTP 200)\n\npage\n\nLinks:\n[1] https://example.com/more\n" {
		t.Errorf("read more: %q", text(o))
	}
	// A page that answers with an error status is an error observation.
	if o := call(t, ws, event.ToolBrowser, map[string]any{"url": "https://example.com/gone"}); !o.Output().IsError {
		t.Errorf("404 page: %q is not an error", text(o))
	}
	tool, _ := tools.Lookup(event.ToolBrowser)
	if _, err := tool.Decode([]byte(`{"url":"file:///etc/passwd"}`)); err == nil {
		t.Error("a file: URL decoded")
	}
	f := tools.Failed(&event.BrowserNavigateAction{URL: "https://x/"}, "down").(*event.BrowserObservation)
	if !f.IsError || f.URL != "https://x/" {
		t.Errorf("Failed: %+v", f)
	}
}
