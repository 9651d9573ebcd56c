package frontend_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
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

// everythingServer builds the Go SDK's example MCP server once per run,
// static, so that it runs in a container.
var everythingServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gohands-everything-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "everything")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/modelcontextprotocol/go-sdk/examples/server/everything")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	return bin, nil
})

// uploadFile puts a local file at path in the conversation's workspace
// through the API, as the files pane does.
func (g *gohands) uploadFile(id, path, local string) {
	g.t.Helper()
	data, err := os.ReadFile(local)
	if err != nil {
		g.t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", filepath.Base(local))
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", g.url+"/api/conversations/"+id+"/file/upload?path="+url.QueryEscape(path), &body)
	req.Header.Set("X-Session-API-Key", apiKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		g.t.Fatalf("upload %s: status %d: %s", path, resp.StatusCode, msg)
	}
}

// TestMCPCallLive: the Go SDK's example server "everything", named in the
// conversation's agent.mcp_config and run as a stdio server in its Docker
// sandbox, is offered to the scripted model, which calls its greet tool.
// The open page shows the call (server · tool, arguments) and then its
// result text as they arrive over the live connection, while the run is
// still going, without a reload.
func TestMCPCallLive(t *testing.T) {
	t.Parallel()
	bin, err := everythingServer()
	if err != nil {
		t.Fatalf("build the everything MCP server: %v", err)
	}
	greet := llmtest.Call{Name: "greet", Args: `{"name":"Ada"}`}
	finish := llmtest.Call{Name: "finish", Args: `{"message":"Greeted Ada."}`}
	g := startGoHands(t, true,
		llmtest.Reply{Text: "Greeting Ada.", ToolCalls: []llmtest.Call{greet}},
		// Held back, so that the page shows the result while the run goes on.
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}, Delay: 3 * time.Second},
	)
	b := newBrowser(t) // after the server: its cleanup runs first

	// The server's program goes into the workspace before the first run,
	// which starts the conversation's MCP servers; the upload keeps no
	// mode bits, so the command makes it executable first.
	const prog = "/workspace/.mcp/everything"
	cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{
		"everything": map[string]any{"command": "/bin/sh", "args": []string{"-c", "chmod 755 " + prog + " && exec " + prog}},
	}})
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"title":"mcp","agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"},"mcp_config":%s}}`,
		g.model.URL()+"/v1", cfg)
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	g.uploadFile(info.ID, prog, bin)

	b.open(g, "#/c/"+info.ID)
	b.wait("the live connection", `document.querySelector('#conn').dataset.state === 'open'`, 30*time.Second)
	// Each MCP item is noted as it is added, with the status shown then;
	// the note lives in the page, so a reload would lose it.
	b.do("watch the timeline", chromedp.Evaluate[chromedp.Void](`(() => {
		window.mcpSeen = [];
		new MutationObserver(() => {
			for (const li of document.querySelectorAll('#timeline li.ev-mcp')) {
				if (li.dataset.noted) continue;
				li.dataset.noted = '1';
				window.mcpSeen.push(li.dataset.kind + ' ' + document.querySelector('#conv-status').dataset.status);
			}
		}).observe(document.querySelector('#timeline'), { childList: true, subtree: true });
	})()`))
	b.do("send the message",
		chromedp.Click(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "greet Ada"),
		chromedp.KeyEvent("\r"))

	const call = `document.querySelector('#timeline li[data-kind=ActionEvent].ev-mcp')`
	const result = `document.querySelector('#timeline li[data-kind=ObservationEvent].ev-mcp')`
	b.wait("the call", call, 2*time.Minute)
	b.wait("the result", result, time.Minute)
	got := eval[map[string]string](b, `(() => {
		const c = `+call+`, r = `+result+`;
		return {
			server: c.querySelector('.mcp-server').textContent,
			tool: c.querySelector('.mcp-tool').textContent,
			args: c.querySelector('.mcp-args').textContent,
			title: r.querySelector('.ev-title').textContent,
			text: [...r.querySelectorAll('.mcp-text')].map(e => e.textContent).join(' | '),
			seen: window.mcpSeen.join(', '),
		};
	})()`)
	want := map[string]string{
		"server": "everything",
		"tool":   "greet",
		"args":   "{\n  \"name\": \"Ada\"\n}",
		"title":  "Result of everything · greet",
		"text":   "[Tool 'greet' executed.] | Hi Ada",
		"seen":   "ActionEvent running, ObservationEvent running",
	}
	for k, w := range want {
		if got[k] != w {
			b.fail("%s: got %q, want %q", k, got[k], w)
		}
	}
	b.screenshot("mcp-live")

	b.wait("the finished status", `document.querySelector('#conv-status').dataset.status === 'finished'`, time.Minute)
	checkOnce(b, g, info.ID)

	// The model was offered greet with its description and schema, and got
	// its result back.
	reqs := g.model.Requests()
	if len(reqs) < 2 {
		t.Fatalf("%d model requests, want 2", len(reqs))
	}
	offered := false
	for _, tl := range reqs[0].Tools() {
		fn, _ := tl["function"].(map[string]any)
		if fn["name"] == "greet" && fn["description"] == "say hi" && strings.Contains(fmt.Sprint(fn["parameters"]), "name") {
			offered = true
		}
	}
	if !offered {
		t.Errorf("the first request's tools %v, want everything's greet", reqs[0].Tools())
	}
	msgs := reqs[1].Messages()
	if last := msgs[len(msgs)-1]; last["role"] != "tool" || !strings.Contains(fmt.Sprint(last["content"]), "Hi Ada") {
		t.Errorf("the second request ends with %v, want greet's result", last)
	}
}
