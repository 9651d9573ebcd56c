package frontend_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
)

// browserEvents are the agent's use of its browser, as the server stores
// them: it opens a page, types a secret (stored hidden), looks at the page
// with a screenshot, and gets a result whose screenshot is not a PNG.
var browserEvents = []string{
	`{"kind":"ActionEvent","id":"9e0c1a52-0000-4000-8000-000000000001","timestamp":"2026-01-02T03:04:05Z","source":"agent",
	  "action":{"kind":"BrowserNavigateAction","url":"http://localhost:3000/","new_tab":false},
	  "tool_name":"browser_navigate","tool_call_id":"call_1","security_risk":"LOW"}`,
	`{"kind":"ActionEvent","id":"9e0c1a52-0000-4000-8000-000000000002","timestamp":"2026-01-02T03:04:06Z","source":"agent",
	  "action":{"kind":"BrowserTypeAction","index":0,"text":"<secret-hidden>"},
	  "tool_name":"browser_type","tool_call_id":"call_2","security_risk":"HIGH",
	  "security_reason":"rules: browser-type-secret: types one of the conversation's secrets into a web page"}`,
	`{"kind":"ActionEvent","id":"9e0c1a52-0000-4000-8000-000000000003","timestamp":"2026-01-02T03:04:07Z","source":"agent",
	  "action":{"kind":"BrowserGetStateAction","include_screenshot":true},
	  "tool_name":"browser_get_state","tool_call_id":"call_3","security_risk":"LOW"}`,
	`{"kind":"ObservationEvent","id":"9e0c1a52-0000-4000-8000-000000000004","timestamp":"2026-01-02T03:04:08Z","source":"environment",
	  "observation":{"kind":"BrowserObservation","is_error":false,"url":"http://localhost:3000/",
	    "content":[{"type":"text","text":"URL: http://localhost:3000/\nTitle: Greeter <script>window.pwned=1</script>\n[0] <input> name\n[1] <button> Greet"},
	      {"type":"text","text":"Screenshot saved to: /tmp/gohands/browser_observations/browser_screenshot_0a1b2c3d.png"},
	      {"type":"image","image_urls":["` + onePixel + `"]}],
	    "screenshot_data":"` + strings.TrimPrefix(onePixel, "data:image/png;base64,") + `",
	    "screenshot_path":"/tmp/gohands/browser_observations/browser_screenshot_0a1b2c3d.png",
	    "full_output_save_dir":"/tmp/gohands/browser_observations"},
	  "action_id":"9e0c1a52-0000-4000-8000-000000000003","tool_name":"browser_get_state","tool_call_id":"call_3"}`,
	`{"kind":"ObservationEvent","id":"9e0c1a52-0000-4000-8000-000000000005","timestamp":"2026-01-02T03:04:09Z","source":"environment",
	  "observation":{"kind":"BrowserObservation","is_error":false,"url":"http://localhost:3000/",
	    "content":[{"type":"text","text":"state"}],
	    "screenshot_data":"\" onerror=\"window.pwned=2"},
	  "action_id":"9e0c1a52-0000-4000-8000-000000000003","tool_name":"browser_get_state","tool_call_id":"call_3"}`,
}

// TestBrowserActionsAndScreenshot: stored browser actions show the URL,
// the element and the typed text (a secret hidden and marked); the
// screenshot shows inline and loads, with its path; the page state is
// folded and its markup is text; a screenshot that is not a PNG is not
// shown.
func TestBrowserActionsAndScreenshot(t *testing.T) {
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
	for _, js := range browserEvents {
		ev, err := event.Unmarshal([]byte(js))
		if err != nil {
			t.Fatalf("decode %s: %v", js, err)
		}
		if err := g.store.Append(info.ID, ev); err != nil {
			t.Fatal(err)
		}
	}

	b.open(g, "#/c/"+info.ID)
	const shot = `document.querySelector('#timeline li[data-kind=ObservationEvent].ev-browser img.browser-screenshot')`
	b.wait("the screenshot", shot+` && `+shot+`.complete && `+shot+`.naturalWidth === 1`, 30*time.Second)
	checkOnce(b, g, info.ID)

	got := eval[map[string]string](b, `(() => {
		const acts = [...document.querySelectorAll('#timeline li[data-kind=ActionEvent].ev-browser')];
		const obs = [...document.querySelectorAll('#timeline li[data-kind=ObservationEvent].ev-browser')];
		const state = obs[0].querySelector('details.browser-state');
		return {
			actions: String(acts.length),
			navigate: acts[0].querySelector('.ev-title').textContent + ' ' + acts[0].querySelector('a.browser-url').getAttribute('href'),
			typed: acts[1].querySelector('.browser-typed').textContent,
			secret: acts[1].querySelector('.browser-secret') ? 'marked' : 'not marked',
			risk: acts[1].querySelector('.risk').dataset.risk,
			title: obs[0].querySelector('.ev-title').textContent,
			path: obs[0].querySelector('.browser-shot p').textContent,
			open: String(state.open),
			state: state.querySelector('pre').textContent,
			elements: String(state.querySelectorAll('pre *').length),
			images: String(document.querySelectorAll('#timeline img').length),
			refused: obs[1].querySelector('.browser-shot-refused') ? 'refused' : 'shown',
			pwned: String(window.pwned),
		};
	})()`)
	want := map[string]string{
		"actions":  "3",
		"navigate": "Open a web page http://localhost:3000/",
		"typed":    "<secret-hidden>",
		"secret":   "marked",
		"risk":     "HIGH",
		"title":    "Page: http://localhost:3000/",
		"path":     "saved in the sandbox as /tmp/gohands/browser_observations/browser_screenshot_0a1b2c3d.png",
		"open":     "false",
		"state":    "URL: http://localhost:3000/\nTitle: Greeter <script>window.pwned=1</script>\n[0] <input> name\n[1] <button> Greet",
		"elements": "0",
		"images":   "1",
		"refused":  "refused",
		"pwned":    "undefined",
	}
	for k, w := range want {
		if got[k] != w {
			b.fail("%s: got %q, want %q", k, got[k], w)
		}
	}
	b.screenshot("browser")
}

// browserApp is the web app the agent serves in its sandbox: a name
// field and a button whose script greets the name with a new link.
const browserApp = `<!doctype html>
<html><head><title>Greeter</title></head>
<body style="font: 24px sans-serif; background: #fff8e0">
<h1>Greeter</h1>
<input id="name" placeholder="Your name">
<button type="button" onclick="greet()">Greet</button>
<p id="out">Nobody greeted yet</p>
<script>
function greet() {
  const name = document.getElementById('name').value;
  document.getElementById('out').textContent = 'Greeted ' + name;
  const a = document.createElement('a');
  a.href = '#hello';
  a.textContent = 'Hello, ' + name + '!';
  document.body.appendChild(a);
}
</script>
</body></html>`

// TestAgentUsesBrowser: the scripted model serves a web app in its
// sandbox and drives the real browser beside it: it opens the app, types
// a name, clicks the button, reads the changed page from the state, and
// takes a screenshot, which the web page then shows.
func TestAgentUsesBrowser(t *testing.T) {
	t.Parallel()
	steps := []llmtest.Call{
		{Name: "file_editor", Args: fmt.Sprintf(`{"command":"create","path":"/tmp/app/index.html","file_text":%q}`, browserApp)},
		{Name: "terminal", Args: `{"command":"(python3 -m http.server 8000 --bind 127.0.0.1 --directory /tmp/app > /tmp/app.log 2>&1 &) ; sleep 2; echo serving"}`},
		{Name: "browser_navigate", Args: `{"url":"http://localhost:8000/"}`},
		{Name: "browser_type", Args: `{"index":1,"text":"Ada"}`},
		{Name: "browser_click", Args: `{"index":2}`},
		{Name: "browser_get_state", Args: `{"include_screenshot":true}`},
		{Name: "terminal", Args: `{"command":"head -c 4 /tmp/gohands/browser_observations/browser_screenshot_*.png | tail -c 3"}`},
		{Name: "finish", Args: `{"message":"The app greets Ada."}`},
	}
	var script []llmtest.Step
	for _, c := range steps {
		script = append(script, llmtest.Reply{ToolCalls: []llmtest.Call{c}})
	}
	g := startGoHands(t, true, script...)
	b := newBrowser(t) // after the server: its cleanup runs first
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}},
		"initial_message":{"role":"user","content":[{"type":"text","text":"serve the greeter and try it in the browser"}]}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the finished status", `document.querySelector('#conv-status').dataset.status === 'finished'`, 4*time.Minute)
	checkOnce(b, g, info.ID)

	// The tools the model was offered are the browser tool set.
	reqs := g.model.Requests()
	if !strings.Contains(string(reqs[0].Raw), `"browser_get_state"`) || strings.Contains(string(reqs[0].Raw), `"name":"browser"`) {
		t.Errorf("the model was not offered the browser tool set: %.300s", reqs[0].Raw)
	}
	// What the model read: the page's elements after navigating, the new
	// link after the click, the screenshot and where it was saved, and
	// the saved file is a PNG.
	last := strings.Join(stringsIn(reqs[len(reqs)-1].Body["messages"]), "\n")
	for _, want := range []string{
		`[1] <input placeholder="Your name">`,
		`[3] <a href="http://localhost:8000/#hello"> Hello, Ada!`,
		`data:image/png;base64,iVBORw0KGgo`,
		`Screenshot saved to: /tmp/gohands/browser_observations/browser_screenshot_`,
		"\nPNG\n",
	} {
		if !strings.Contains(last, want) {
			t.Errorf("the model did not read %s", want)
		}
	}

	const shot = `document.querySelector('#timeline li[data-kind=ObservationEvent].ev-browser img.browser-screenshot')`
	b.wait("the screenshot", shot+` && `+shot+`.complete && `+shot+`.naturalWidth > 100`, 30*time.Second)
	got := eval[map[string]string](b, `(() => {
		const obs = [...document.querySelectorAll('#timeline li[data-kind=ObservationEvent].ev-browser')];
		const last = obs[obs.length - 1];
		return {
			results: String(obs.length),
			errors: String(obs.filter((o) => o.classList.contains('ev-failed')).length),
			path: last.querySelector('.browser-shot p').textContent,
			state: last.querySelector('details.browser-state pre').textContent,
			typed: document.querySelector('#timeline li.ev-browser .browser-typed').textContent,
		};
	})()`)
	if got["results"] != "4" || got["errors"] != "0" || !strings.Contains(got["state"], "Hello, Ada!") || got["typed"] != "Ada" ||
		!strings.HasPrefix(got["path"], "saved in the sandbox as /tmp/gohands/browser_observations/browser_screenshot_") {
		b.fail("the page shows %q", got)
	}
	b.screenshot("agent-browser")
}

// stringsIn returns the strings of a decoded JSON value, in order.
func stringsIn(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringsIn(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, stringsIn(x[k])...)
		}
		return out
	}
	return nil
}
