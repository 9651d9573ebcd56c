package frontend_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
)

// onePixel is a 1×1 PNG.
const onePixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// mcpEvents are a call to an MCP server's tool and its result, as the
// server stores them, with the hostile content a server may send.
var mcpEvents = []string{
	`{"kind":"ActionEvent","id":"7d0c1a52-0000-4000-8000-000000000001","timestamp":"2026-01-02T03:04:05Z","source":"agent",
	  "thought":[{"type":"text","text":"Let me greet."}],
	  "action":{"kind":"MCPToolAction","data":{"name":"Ada"},"server":"everything","tool":"greet"},
	  "tool_name":"everything_greet","tool_call_id":"call_1",
	  "tool_call":{"id":"call_1","name":"everything_greet","arguments":"{\"name\":\"Ada\"}","origin":"completion"},
	  "llm_response_id":"r1","security_risk":"UNKNOWN"}`,
	`{"kind":"ObservationEvent","id":"7d0c1a52-0000-4000-8000-000000000002","timestamp":"2026-01-02T03:04:06Z","source":"environment",
	  "observation":{"kind":"MCPToolObservation","tool_name":"everything_greet","is_error":false,
	    "content":[{"type":"text","text":"Hi Ada <script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"},
	      {"type":"image","image_urls":["` + onePixel + `","javascript:window.pwned=3"]}],
	    "structured_content":{"greeting":"Hi Ada"},"full_output_path":"/workspace/.mcp/out.txt"},
	  "action_id":"7d0c1a52-0000-4000-8000-000000000001","tool_name":"everything_greet","tool_call_id":"call_1"}`,
}

// TestMCPCallAndResult: a stored call to an MCP server's tool shows its
// server, tool and arguments, and its result its text (as text: the markup
// in it neither runs nor shows as elements), its inline image loaded, no
// image for a javascript: URL, its structured content and its full output.
func TestMCPCallAndResult(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, false)
	b := newBrowser(t)
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	for _, js := range mcpEvents {
		ev, err := event.Unmarshal([]byte(js))
		if err != nil {
			t.Fatalf("decode %s: %v", js, err)
		}
		if err := g.store.Append(info.ID, ev); err != nil {
			t.Fatal(err)
		}
	}

	b.open(g, "#/c/"+info.ID)
	const call = `document.querySelector('#timeline li[data-kind=ActionEvent].ev-mcp')`
	const result = `document.querySelector('#timeline li[data-kind=ObservationEvent].ev-mcp')`
	b.wait("the call", call, 30*time.Second)
	b.wait("the result", result, 10*time.Second)
	checkOnce(b, g, info.ID)

	got := eval[map[string]string](b, `(() => {
		const c = `+call+`, r = `+result+`;
		const img = r.querySelector('img.mcp-image');
		return {
			server: c.querySelector('.mcp-server').textContent,
			tool: c.querySelector('.mcp-tool').textContent,
			args: c.querySelector('.mcp-args').textContent,
			title: r.querySelector('.ev-title').textContent,
			text: r.querySelector('.mcp-text').textContent,
			elements: String(r.querySelectorAll('script, a, .mcp-text *').length),
			images: String(r.querySelectorAll('img').length),
			loaded: img && img.complete && img.naturalWidth === 1 ? 'yes' : 'no',
			refused: r.querySelector('.mcp-image-refused').textContent,
			structured: r.querySelector('.mcp-structured').textContent,
			full: r.querySelector('.mcp-full').textContent,
			pwned: String(window.pwned),
		};
	})()`)
	want := map[string]string{
		"server":     "everything",
		"tool":       "greet",
		"args":       "{\n  \"name\": \"Ada\"\n}",
		"title":      "Result of everything · greet",
		"text":       `Hi Ada <script>window.pwned=1</script><img src=x onerror="window.pwned=2">`,
		"elements":   "0",
		"images":     "1",
		"loaded":     "yes",
		"structured": "{\n  \"greeting\": \"Hi Ada\"\n}",
		"full":       "full output kept in /workspace/.mcp/out.txt",
		"pwned":      "undefined",
	}
	for k, w := range want {
		if got[k] != w {
			b.fail("%s: got %q, want %q", k, got[k], w)
		}
	}
	if !strings.Contains(got["refused"], "javascript:window.pwned=3") {
		b.fail("the javascript: image is not named as refused: %q", got["refused"])
	}
	b.screenshot("mcp")
}
