package tools_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/tools"
	"github.com/google/go-cmp/cmp"
)

// fakePage is a browser whose answers the test sets: each method records
// its call and answers with state (or tabs), or with err when set.
type fakePage struct {
	calls   []string
	state   tools.PageState
	tabs    []tools.PageTab
	content string
	err     error
}

func (p *fakePage) answer(call string) (tools.PageState, error) {
	p.calls = append(p.calls, call)
	if p.err != nil {
		return tools.PageState{}, p.err
	}
	return p.state, nil
}

func (p *fakePage) Navigate(_ context.Context, url string, newTab bool) (tools.PageState, error) {
	return p.answer(fmt.Sprintf("navigate %s %v", url, newTab))
}
func (p *fakePage) Click(_ context.Context, index int, newTab bool) (tools.PageState, error) {
	return p.answer(fmt.Sprintf("click %d %v", index, newTab))
}
func (p *fakePage) Type(_ context.Context, index int, text string) (tools.PageState, error) {
	return p.answer(fmt.Sprintf("type %d %s", index, text))
}
func (p *fakePage) Scroll(_ context.Context, down bool) (tools.PageState, error) {
	return p.answer(fmt.Sprintf("scroll down=%v", down))
}
func (p *fakePage) Back(context.Context) (tools.PageState, error) { return p.answer("back") }
func (p *fakePage) State(_ context.Context, screenshot bool) (tools.PageState, error) {
	st, err := p.answer(fmt.Sprintf("state %v", screenshot))
	if !screenshot {
		st.Screenshot = nil
	}
	return st, err
}
func (p *fakePage) Content(_ context.Context, links bool, start, limit int) (string, error) {
	p.calls = append(p.calls, fmt.Sprintf("content %v %d %d", links, start, limit))
	if p.err != nil {
		return "", p.err
	}
	end := min(start+limit, len(p.content))
	return p.content[min(start, end):end], nil
}
func (p *fakePage) Tabs(context.Context) ([]tools.PageTab, error) {
	p.calls = append(p.calls, "tabs")
	return p.tabs, p.err
}
func (p *fakePage) SwitchTab(_ context.Context, id string) (tools.PageState, error) {
	return p.answer("switch " + id)
}
func (p *fakePage) CloseTab(_ context.Context, id string) ([]tools.PageTab, error) {
	p.calls = append(p.calls, "close "+id)
	return p.tabs, p.err
}

// browserWorkspace is a workspace with a browser; with none set, its
// deployment has no browser.
type browserWorkspace struct {
	*workspace
	page  *fakePage
	start error // WithBrowser's own failure
}

func (w *browserWorkspace) WithBrowser(_ context.Context, fn func(tools.Page) error) error {
	if w.start != nil {
		return w.start
	}
	if w.page == nil {
		return fmt.Errorf("start browser: %w", tools.ErrNoBrowser)
	}
	return fn(w.page)
}

// saved makes the workspace's agent run the screenshot's decoding: it
// returns the files written, by path.
func saved(ws *workspace) map[string][]byte {
	files := map[string][]byte{}
	ws.agent.Runner = func(req agentapi.RunRequest) (agentapi.RunResult, error) {
		if len(req.Args) != 6 || req.Args[0] != "sh" || !strings.Contains(req.Args[2], "base64 -d") {
			return agentapi.RunResult{ExitCode: 127}, nil
		}
		b, err := base64.StdEncoding.DecodeString(req.Stdin)
		if err != nil {
			return agentapi.RunResult{ExitCode: 1, Stderr: "base64: invalid input"}, nil
		}
		files[req.Args[5]] = b
		return agentapi.RunResult{}, nil
	}
	return files
}

var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake picture")

func newBrowserWorkspace() *browserWorkspace {
	return &browserWorkspace{workspace: newWorkspace(), page: &fakePage{state: tools.PageState{
		URL: "http://localhost:3000/", Title: "Greeter",
		Text: "URL: http://localhost:3000/\nTitle: Greeter\n[0] <input> name\n[1] <button> Greet\n",
	}}}
}

func TestBrowserToolsDrivePage(t *testing.T) {
	ws := newBrowserWorkspace()
	for _, tt := range []struct {
		tool string
		args map[string]any
		call string
	}{
		{event.ToolBrowserNavigate, map[string]any{"url": "http://localhost:3000/", "new_tab": true}, "navigate http://localhost:3000/ true"},
		{event.ToolBrowserClick, map[string]any{"index": 1}, "click 1 false"},
		{event.ToolBrowserType, map[string]any{"index": 0, "text": "Ada"}, "type 0 Ada"},
		{event.ToolBrowserScroll, map[string]any{}, "scroll down=true"},
		{event.ToolBrowserScroll, map[string]any{"direction": "up"}, "scroll down=false"},
		{event.ToolBrowserGoBack, map[string]any{}, "back"},
		{event.ToolBrowserGetState, map[string]any{}, "state false"},
		{event.ToolBrowserSwitchTab, map[string]any{"tab_id": "AB12"}, "switch AB12"},
	} {
		ws.page.calls = nil
		o := call(t, ws, tt.tool, tt.args).(*event.BrowserObservation)
		if diff := cmp.Diff(ws.page.calls, []string{tt.call}); diff != "" {
			t.Errorf("%s %v: calls (-got +want):\n%s", tt.tool, tt.args, diff)
		}
		if o.IsError || text(o) != ws.page.state.Text || o.URL != "http://localhost:3000/" || o.ScreenshotData != "" {
			t.Errorf("%s: %+v", tt.tool, o)
		}
	}
}

// TestBrowserStateWithoutText: a state that comes without its text is
// written from its fields.
func TestBrowserStateWithoutText(t *testing.T) {
	ws := newBrowserWorkspace()
	ws.page.state = tools.PageState{URL: "http://a/", Title: "A", Elements: []tools.PageElement{{Index: 0, Tag: "a", Text: "Home"}}}
	o := call(t, ws, event.ToolBrowserGetState, map[string]any{})
	if want := "URL: http://a/\nTitle: A\n\nInteractive elements:\n[0] <a> Home\n"; text(o) != want {
		t.Errorf("got %q, want %q", text(o), want)
	}
}

func TestBrowserScreenshot(t *testing.T) {
	ws := newBrowserWorkspace()
	files := saved(ws.workspace)
	ws.page.state.Screenshot = png
	o := call(t, ws, event.ToolBrowserGetState, map[string]any{"include_screenshot": true}).(*event.BrowserObservation)
	b64 := base64.StdEncoding.EncodeToString(png)
	if o.IsError || o.ScreenshotData != b64 {
		t.Fatalf("observation: %+v", o)
	}
	p := tools.ScreenshotPath(b64)
	if o.ScreenshotPath != p || o.FullOutputSaveDir != tools.ScreenshotDir || !strings.HasPrefix(p, tools.ScreenshotDir+"/browser_screenshot_") || !strings.HasSuffix(p, ".png") {
		t.Errorf("path %q, dir %q", o.ScreenshotPath, o.FullOutputSaveDir)
	}
	if got := files[p]; string(got) != string(png) {
		t.Errorf("saved %q, want the PNG", got)
	}
	want := event.ContentList{
		{Type: event.ContentText, Text: ws.page.state.Text},
		{Type: event.ContentText, Text: "Screenshot saved to: " + p},
		{Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64," + b64}},
	}
	if diff := cmp.Diff(o.Content, want); diff != "" {
		t.Errorf("content (-got +want):\n%s", diff)
	}

	// A screenshot the sandbox cannot save is still shown, and says so.
	ws.agent.Runner = func(agentapi.RunRequest) (agentapi.RunResult, error) {
		return agentapi.RunResult{ExitCode: 1, Stderr: "No space left on device"}, nil
	}
	o = call(t, ws, event.ToolBrowserGetState, map[string]any{"include_screenshot": true}).(*event.BrowserObservation)
	if o.ScreenshotPath != "" || len(o.Content) != 3 || !strings.Contains(o.Content[1].Text, "No space left") || o.Content[2].Type != event.ContentImage {
		t.Errorf("unsaved screenshot: %+v", o)
	}

	// Bytes that are not a PNG are not passed on as one.
	ws.page.state.Screenshot = []byte("<svg onload=alert(1)>")
	o = call(t, ws, event.ToolBrowserGetState, map[string]any{"include_screenshot": true}).(*event.BrowserObservation)
	if o.ScreenshotData != "" || len(o.Content) != 1 {
		t.Errorf("not a PNG: %+v", o)
	}
}

// TestBrowserFaults: each failure of the browser is an error observation
// that says what happened, and the next action works.
func TestBrowserFaults(t *testing.T) {
	ws := newBrowserWorkspace()
	for _, tt := range []struct {
		err  error
		tool string
		args map[string]any
		want string
	}{
		{fmt.Errorf("click: %w", tools.ErrNoElement), event.ToolBrowserClick, map[string]any{"index": 7},
			"Element 7 is not on the page (the page may have changed); call browser_get_state for the current indices."},
		{fmt.Errorf("type: %w", tools.ErrNoElement), event.ToolBrowserType, map[string]any{"index": 3, "text": "x"},
			"Element 3 is not on the page"},
		{fmt.Errorf("navigate http://10.0.0.1/: %w", tools.ErrTimeout), event.ToolBrowserNavigate, map[string]any{"url": "http://10.0.0.1/"},
			"The page did not load in time"},
		{fmt.Errorf("cdp: %w", tools.ErrCrashed), event.ToolBrowserGetState, map[string]any{},
			"The browser crashed; it restarts on the next browser action"},
		{errors.New("a download was refused: report.pdf"), event.ToolBrowserClick, map[string]any{"index": 0},
			"Browser operation failed: a download was refused: report.pdf"},
		{errors.New("boom"), event.ToolBrowserListTabs, map[string]any{}, "Browser operation failed: boom"},
		{errors.New("boom"), event.ToolBrowserGetContent, map[string]any{}, "Browser operation failed: boom"},
	} {
		ws.page.err = tt.err
		o := call(t, ws, tt.tool, tt.args)
		if _, ok := o.(*event.BrowserObservation); !ok || !o.Output().IsError || !strings.HasPrefix(text(o), tt.want) {
			t.Errorf("%s with %v: %T %v %q", tt.tool, tt.err, o, o.Output().IsError, text(o))
		}
		ws.page.err = nil
		if o := call(t, ws, event.ToolBrowserGetState, map[string]any{}); o.Output().IsError {
			t.Errorf("after %v: %q", tt.err, text(o))
		}
	}
	// A browser that cannot start is an error observation too.
	ws.start = errors.New("start browser container: image gohands-browser not found")
	if o := call(t, ws, event.ToolBrowserGetState, map[string]any{}); !o.Output().IsError || !strings.Contains(text(o), "image gohands-browser not found") {
		t.Errorf("start failure: %q", text(o))
	}
	// A cancelled conversation is not an observation.
	ws.start = context.Canceled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tool, _ := tools.Lookup(event.ToolBrowserGetState)
	act, _ := tool.Decode([]byte(`{}`))
	if _, err := tools.Run(ctx, ws, act); err == nil {
		t.Error("a cancelled run gave an observation")
	}
}

func TestBrowserContent(t *testing.T) {
	ws := newBrowserWorkspace()
	ws.page.content = "# Title\n\nshort page"
	o := call(t, ws, event.ToolBrowserGetContent, map[string]any{"extract_links": true, "start_from_char": 2})
	if text(o) != "Title\n\nshort page" || ws.page.calls[0] != "content true 2 20000" {
		t.Errorf("content %q, calls %q", text(o), ws.page.calls)
	}
	ws.page.content = strings.Repeat("x", 25000)
	o = call(t, ws, event.ToolBrowserGetContent, map[string]any{})
	if !strings.HasSuffix(text(o), "[cut at 20000 characters; call browser_get_content with start_from_char 20000 for more]") {
		t.Errorf("long page ends %q", text(o)[len(text(o))-120:])
	}
}

func TestBrowserTabs(t *testing.T) {
	ws := newBrowserWorkspace()
	ws.page.tabs = []tools.PageTab{{ID: "A1", URL: "http://a/", Title: "A"}, {ID: "B2", URL: "http://b/", Title: "B", Active: true}}
	o := call(t, ws, event.ToolBrowserListTabs, map[string]any{}).(*event.BrowserObservation)
	if text(o) != "[A1] A - http://a/\n[B2] B - http://b/ (current)\n" || o.URL != "http://b/" {
		t.Errorf("tabs: %q %q", text(o), o.URL)
	}
	ws.page.tabs = nil
	o = call(t, ws, event.ToolBrowserCloseTab, map[string]any{"tab_id": "B2"}).(*event.BrowserObservation)
	if text(o) != "No tabs are open." || ws.page.calls[len(ws.page.calls)-1] != "close B2" {
		t.Errorf("close: %q %q", text(o), ws.page.calls)
	}
}

func TestBrowserDecode(t *testing.T) {
	for _, tt := range []struct {
		tool, args string
		want       event.ToolAction
	}{
		{event.ToolBrowserScroll, `{}`, &event.BrowserScrollAction{Direction: "down"}},
		{event.ToolBrowserScroll, `{"direction":"sideways"}`, nil},
		{event.ToolBrowserClick, `{"index":-1}`, nil},
		{event.ToolBrowserClick, `{"index":2,"security_risk":"LOW"}`, &event.BrowserClickAction{Index: 2}},
		{event.ToolBrowserType, `{"index":0,"text":"hi","submit":true}`, nil},
		{event.ToolBrowserSwitchTab, `{"tab_id":" "}`, nil},
		{event.ToolBrowserCloseTab, `{}`, nil},
		{event.ToolBrowserNavigate, `{}`, nil},
		{event.ToolBrowserGetContent, `{"start_from_char":-5}`, nil},
		{event.ToolBrowserGoBack, `{}`, &event.BrowserGoBackAction{}},
	} {
		tool, _ := tools.Lookup(tt.tool)
		got, err := tool.Decode([]byte(tt.args))
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s %s: decoded %+v, want an error", tt.tool, tt.args, got)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("%s %s: %+v, %v; want %+v", tt.tool, tt.args, got, err, tt.want)
		}
	}
}

// TestBrowserWithoutBrowser: where the deployment has no browser,
// navigate and get_content read pages through the fetcher and the other
// tools say why they cannot run.
func TestBrowserWithoutBrowser(t *testing.T) {
	for name, ws := range map[string]tools.Workspace{
		"no WithBrowser": newWorkspace(),
		"ErrNoBrowser":   &browserWorkspace{workspace: newWorkspace()},
	} {
		var agent *workspace
		switch w := ws.(type) {
		case *workspace:
			agent = w
		case *browserWorkspace:
			agent = w.workspace
		}
		agent.agent.Pages = map[string]agentapi.BrowseResult{"https://example.com/": {Title: "Example", Content: "Hello page"}}
		o := call(t, ws, event.ToolBrowserNavigate, map[string]any{"url": "https://example.com/"}).(*event.BrowserObservation)
		if o.IsError || !strings.Contains(text(o), "Hello page") {
			t.Errorf("%s: navigate %q", name, text(o))
		}
		o = call(t, ws, event.ToolBrowserGetContent, map[string]any{"start_from_char": 6}).(*event.BrowserObservation)
		if o.IsError || !strings.Contains(text(o), "page") || strings.Contains(text(o), "Hello") {
			t.Errorf("%s: get_content %q", name, text(o))
		}
		o = call(t, ws, event.ToolBrowserClick, map[string]any{"index": 0}).(*event.BrowserObservation)
		if !o.IsError || !strings.Contains(text(o), "browser_click cannot run: this deployment has no browser") {
			t.Errorf("%s: click %q", name, text(o))
		}
	}
}

// wrapped is a workspace that wraps another, as the controller's does.
type wrapped struct{ tools.Workspace }

func (w wrapped) Unwrap() tools.Workspace { return w.Workspace }

// available is a browser workspace that knows whether its deployment has
// a browser.
type available struct {
	*browserWorkspace
	ok bool
}

func (a available) BrowserAvailable() bool { return a.ok }

func TestOffer(t *testing.T) {
	set := event.BrowserTools()
	names := tools.Names([]string{"TerminalTool", "BrowserToolSet", "browser_navigate"})
	if diff := cmp.Diff(names, []string{"terminal", "browser_tool_set", "browser_navigate", "think", "finish"}); diff != "" {
		t.Fatalf("Names (-got +want):\n%s", diff)
	}
	withBrowser := append(append([]string{"terminal"}, set...), "think", "finish")
	for _, tt := range []struct {
		name string
		ws   tools.Workspace
		want []string
	}{
		{"browser", newBrowserWorkspace(), withBrowser},
		{"wrapped browser", wrapped{newBrowserWorkspace()}, withBrowser},
		{"no browser", newWorkspace(), []string{"terminal", "browser", "browser_navigate", "think", "finish"}},
		{"unavailable", available{newBrowserWorkspace(), false}, []string{"terminal", "browser", "browser_navigate", "think", "finish"}},
		{"available", available{newBrowserWorkspace(), true}, withBrowser},
	} {
		if diff := cmp.Diff(tools.Offer(names, tt.ws), tt.want); diff != "" {
			t.Errorf("%s: Offer (-got +want):\n%s", tt.name, diff)
		}
	}
	// The model is shown each tool of the set under upstream's name.
	llmTools, shown := tools.Specs(set, false)
	if len(llmTools) != len(set) {
		t.Fatalf("Specs: %d tools, want %d", len(llmTools), len(set))
	}
	for i, s := range shown {
		if s.Name != set[i] || !strings.HasSuffix(s.Kind, "Tool") || s.Description == "" {
			t.Errorf("spec %d: %+v", i, s)
		}
	}
	// A set no one resolved is the fetcher.
	if _, shown := tools.Specs([]string{event.ToolBrowserToolSet}, false); len(shown) != 1 || shown[0].Name != event.ToolBrowser {
		t.Errorf("unresolved set: %+v", shown)
	}
	// Wrapped, the browser still answers.
	ws := newBrowserWorkspace()
	call(t, wrapped{ws}, event.ToolBrowserGoBack, map[string]any{})
	if !slices.Equal(ws.page.calls, []string{"back"}) {
		t.Errorf("wrapped: calls %q", ws.page.calls)
	}
}

// TestRunToolFetcher: the text fetcher's navigate fetches the page even
// where the conversation has a browser; browser_navigate drives the
// browser.
func TestRunToolFetcher(t *testing.T) {
	ws := newBrowserWorkspace()
	ws.agent.Pages = map[string]agentapi.BrowseResult{"https://example.com/": {Title: "Example", Content: "Hello page"}}
	act := &event.BrowserNavigateAction{URL: "https://example.com/"}
	o, err := tools.RunTool(context.Background(), ws, event.ToolBrowser, act)
	if err != nil || !strings.Contains(text(o), "Hello page") || len(ws.page.calls) != 0 {
		t.Errorf("as browser: %q, %v; browser calls %q", text(o), err, ws.page.calls)
	}
	o, err = tools.RunTool(context.Background(), ws, event.ToolBrowserNavigate, act)
	if err != nil || text(o) != ws.page.state.Text || len(ws.page.calls) != 1 {
		t.Errorf("as browser_navigate: %q, %v; browser calls %q", text(o), err, ws.page.calls)
	}
}

// FuzzBrowserDecode: the model's arguments to any browser tool decode to
// an action of that tool's kind with valid fields, or to an error; never
// a panic.
func FuzzBrowserDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"url":"http://x/"}`, `{"index":2,"text":"a"}`, `{"index":-1}`, `{"direction":"up"}`,
		`{"tab_id":"AB12"}`, `{"include_screenshot":true}`, `{"start_from_char":5,"extract_links":true}`, `[]`, `null`, `{"index":1e30}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		for _, name := range event.BrowserTools() {
			tool, _ := tools.Lookup(name)
			act, err := tool.Decode([]byte(args))
			if err != nil {
				continue
			}
			if act.Kind() != tool.Spec().Actions[0] {
				t.Fatalf("%s decoded %s to %s", name, args, act.Kind())
			}
			switch x := act.(type) {
			case *event.BrowserClickAction:
				if x.Index < 0 {
					t.Fatalf("%s: negative index from %s", name, args)
				}
			case *event.BrowserTypeAction:
				if x.Index < 0 {
					t.Fatalf("%s: negative index from %s", name, args)
				}
			case *event.BrowserScrollAction:
				if x.Direction != event.ScrollUp && x.Direction != event.ScrollDown {
					t.Fatalf("%s: direction %q from %s", name, x.Direction, args)
				}
			case *event.BrowserNavigateAction:
				if x.URL == "" {
					t.Fatalf("%s: no url from %s", name, args)
				}
			case *event.BrowserSwitchTabAction:
				if strings.TrimSpace(x.TabID) == "" {
					t.Fatalf("%s: no tab from %s", name, args)
				}
			}
		}
	})
}
