package frontend_test

// End-to-end tests of the web page: a real GoHands server (storage,
// sandboxes on the Docker engine, the agent loop, the HTTP layer) with
// the scripted model, driven through a real headless Chromium.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/frontend"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/sandboxtest"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sandboxtest.Cleanup()
	os.Exit(code)
}

const apiKey = "e2e-key"

// gohands is a GoHands server built in-process for one test.
type gohands struct {
	t     *testing.T
	url   string
	model *llmtest.Server
	conns *tracker
}

// startGoHands builds a server with real sandboxes (skipping when the
// Docker engine is absent) or none, and the scripted model.
func startGoHands(t *testing.T, sandboxes bool, steps ...llmtest.Step) *gohands {
	t.Helper()
	model := llmtest.New(t, steps...)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var convs atomic.Pointer[session.ConversationManager]
	var sbs session.Sandboxes
	if sandboxes {
		sbs = sandboxtest.Manager(t, func(o *sandbox.Options) {
			o.PoolSize = 0
			o.OnStatus = func(c sandbox.StatusChange) {
				if m := convs.Load(); m != nil {
					m.OnSandboxStatus(c)
				}
			}
		})
	}
	loop := controller.New(controller.Options{Logger: logger, NewClient: func(cfg llm.Config) (llm.Client, error) {
		cfg.MaxRetries = 1
		cfg.RetryMinWait = time.Millisecond
		cfg.Timeout = 20 * time.Second
		return llm.New(cfg)
	}})
	m, err := session.New(session.Options{Store: store, Sandboxes: sbs, Loop: loop, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	convs.Store(m)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
	})
	srv := server.New(server.Config{Logger: logger, Conversations: m, APIKeys: []string{apiKey}, Web: frontend.Handler()})
	hs := httptest.NewUnstartedServer(srv)
	tr := &tracker{Listener: hs.Listener, conns: make(map[net.Conn]struct{})}
	hs.Listener = tr
	hs.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		hs.Close()
	})
	return &gohands{t: t, url: hs.URL, model: model, conns: tr}
}

// do calls the API with the key and decodes a 2xx answer into out.
func (g *gohands) do(method, path, body string, out any) int {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	req.Header.Set("X-Session-API-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		g.t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, data)
	} else if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// client keeps no connection open: the tests cut connections on purpose.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// status is the conversation's execution status.
func (g *gohands) status(id string) string {
	g.t.Helper()
	var info struct {
		ExecutionStatus string `json:"execution_status"`
	}
	g.do("GET", "/api/conversations/"+id, "", &info)
	return info.ExecutionStatus
}

// seqs lists the seqs of the conversation's stored events.
func (g *gohands) seqs(id string) []int {
	g.t.Helper()
	var page struct {
		Items []struct {
			Seq int `json:"seq"`
		} `json:"items"`
	}
	g.do("GET", "/api/conversations/"+id+"/events/search?limit=100", "", &page)
	out := make([]int, len(page.Items))
	for i, e := range page.Items {
		out[i] = e.Seq
	}
	return out
}

// tracker is a listener that can cut every connection it accepted, as a
// network failure would.
type tracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *tracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c, nil
}

// cut closes every connection accepted so far.
func (l *tracker) cut() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.conns)
	for c := range l.conns {
		c.Close()
		delete(l.conns, c)
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// browser is one headless Chromium with one tab. Every error the page
// writes to its console fails the test, except the 401 answers a page
// without the right key gets by design.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go

	mu   sync.Mutex
	errs []string
}

// expected are console errors the page causes on purpose: the browser
// logs every 401 answer, and a page without the key gets them before it
// asks for the key.
var expected = regexp.MustCompile(`status of 401 \(Unauthorized\)`)

func chromium() string {
	if p := os.Getenv("GOHANDS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("Chromium tests skipped under -short")
	}
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium binary (chromium, chromium-browser, google-chrome): install Debian's chromium, or set GOHANDS_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root otherwise
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, dir: artifacts(t)}
	if err := chromedp.Do(ctx); err != nil { // start the browser and open the tab
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			if m.Source == "network" && expected.MatchString(m.Text) {
				continue
			}
			b.mu.Lock()
			b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// Let late messages arrive before closing.
		time.Sleep(200 * time.Millisecond)
		cancel()
		cancelAlloc()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			t.Errorf("browser console: %s", e)
		}
	})
	return b
}

// artifacts is the folder for screenshots: $GOHANDS_ARTIFACTS/frontend,
// or a temporary one.
func artifacts(t *testing.T) string {
	dir := os.Getenv("GOHANDS_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "frontend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs actions with a time limit.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds.
func (b *browser) wait(what, cond string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fail("waited %v for %s (%s); last error %v", timeout, what, cond, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fail saves a screenshot and the page's text, then stops the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.screenshot("FAILED")
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if len(text) > 4000 {
		text = "..." + text[len(text)-4000:]
	}
	b.t.Fatalf(format+"\npage text:\n%s", append(args, text)...)
}

// screenshot saves the whole page as a PNG named after the test.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return b.save(name, png)
}

func (b *browser) save(name string, png []byte) string {
	b.t.Helper()
	file := filepath.Join(b.dir, strings.NewReplacer("/", "-", " ", "_").Replace(b.t.Name())+"-"+name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", file)
	return file
}

// viewport saves what the window shows as a PNG.
func (b *browser) viewport(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.save(name, png)
}

// open loads the page and gives the key when the page asks for it, as a
// person does on a first visit.
func (b *browser) open(g *gohands, hash string) {
	b.t.Helper()
	b.do("load the page", chromedp.Navigate(g.url+"/"+hash))
	b.wait("the key dialog", `document.querySelector('#key-dialog').open`, 15*time.Second)
	msg := eval[string](b, `document.querySelector('#key-message').textContent`)
	if !strings.Contains(msg, "needs a session API key") {
		b.fail("key dialog says %q, want it to say the server needs a key", msg)
	}
	b.do("give the key", chromedp.SendKeys(chromedp.ID("key-input"), apiKey), chromedp.Click(chromedp.ID("key-save")))
	b.wait("the dialog to close", `!document.querySelector('#key-dialog').open`, 5*time.Second)
}

// renderedSeqs lists the seqs of the timeline's items, in page order.
func renderedSeqs(b *browser) []int {
	return eval[[]int](b, `[...document.querySelectorAll('#timeline li[data-seq]')].map(e => +e.dataset.seq)`)
}

// checkOnce checks that the timeline shows every stored event exactly
// once, in order.
func checkOnce(b *browser, g *gohands, id string) {
	b.t.Helper()
	want := g.seqs(id)
	b.wait(fmt.Sprintf("%d events on the page", len(want)),
		fmt.Sprintf(`document.querySelectorAll('#timeline li[data-seq]').length >= %d`, len(want)), 30*time.Second)
	got := renderedSeqs(b)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		b.fail("the page shows events %v, the server has %v", got, want)
	}
}

func convID(b *browser) string {
	return strings.TrimPrefix(eval[string](b, `location.hash`), "#/c/")
}

// TestCreateFromFormAndReload creates a conversation from the form, sees
// the hello observation, survives a dropped connection, sends a message
// with Enter, and after a reload shows the history exactly once.
func TestCreateFromFormAndReload(t *testing.T) {
	t.Parallel()
	write := llmtest.Call{Name: "file_editor", Args: `{"command":"create","path":"/workspace/hello.sh","file_text":"#!/bin/bash\necho hello\n"}`}
	run := llmtest.Call{Name: "terminal", Args: `{"command":"bash /workspace/hello.sh"}`}
	finish := llmtest.Call{Name: "finish", Args: `{"message":"**hello.sh** prints ` + "`hello`" + `."}`}
	g := startGoHands(t, true,
		llmtest.Reply{Text: "Writing the script.", ToolCalls: []llmtest.Call{write}},
		llmtest.Reply{ToolCalls: []llmtest.Call{run}},
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}},
	)
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Glad to help."})

	b.open(g, "")
	b.do("open the form", chromedp.Click(chromedp.CSS("a.new-btn")))
	b.wait("the form", `document.querySelector('#new-form')`, 5*time.Second)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.ID("f-task"), "write a bash script that prints hello"),
		chromedp.SendKeys(chromedp.ID("f-model"), "openai/scripted"),
		chromedp.SendKeys(chromedp.ID("f-base"), g.model.URL()+"/v1"),
		chromedp.SendKeys(chromedp.ID("f-llm-key"), "test"),
		chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the conversation view", `location.hash.startsWith('#/c/') && document.querySelector('#timeline')`, 15*time.Second)
	id := convID(b)

	b.wait("the hello terminal observation",
		`[...document.querySelectorAll('#timeline li[data-kind=ObservationEvent].ev-terminal pre.term-output')].some(e => e.textContent.trim() === 'hello')`,
		2*time.Minute)
	b.wait("the finished status", `document.querySelector('#conv-status').dataset.status === 'finished'`, time.Minute)
	b.wait("the live connection", `document.querySelector('#conn').dataset.state === 'open'`, 10*time.Second)
	b.wait("the exit code", `[...document.querySelectorAll('#timeline li.ev-terminal .badge')].some(e => e.textContent === 'exit 0')`, 5*time.Second)
	b.wait("the diff of hello.sh", `[...document.querySelectorAll('#timeline .diff-add')].some(e => e.textContent.includes('echo hello'))`, 5*time.Second)
	b.wait("the finish message as Markdown", `[...document.querySelectorAll('#timeline li.ev-finish strong')].some(e => e.textContent === 'hello.sh')`, 5*time.Second)
	b.wait("the command in the terminal pane", `document.querySelector('#terminal').textContent.includes('bash /workspace/hello.sh')`, 5*time.Second)
	b.wait("the list's status", `document.querySelector('#conv-list li[data-id="`+id+`"] .badge').dataset.status === 'finished'`, 10*time.Second)
	checkOnce(b, g, id)
	b.screenshot("hello")

	// A dropped connection: events stored meanwhile arrive once the page
	// reconnects, and none twice.
	if n := g.conns.cut(); n == 0 {
		t.Fatal("no connection to cut")
	}
	if st := g.do("POST", "/api/conversations/"+id+"/events",
		`{"role":"user","content":[{"type":"text","text":"a note sent while the page was away"}],"run":false}`, nil); st != 200 {
		t.Fatalf("post a message: status %d", st)
	}
	b.wait("the note after the reconnection",
		`document.querySelector('#timeline').textContent.includes('a note sent while the page was away')`, 30*time.Second)
	b.wait("the live connection again", `document.querySelector('#conn').dataset.state === 'open'`, 10*time.Second)
	checkOnce(b, g, id)

	// Shift+Enter adds a line, Enter sends.
	b.do("type a message",
		chromedp.Click(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "thanks"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("message"), "that is all"))
	if v := eval[string](b, `document.querySelector('#message').value`); v != "thanks\nthat is all" {
		b.fail("after Shift+Enter the message box holds %q", v)
	}
	b.do("send it with Enter", chromedp.KeyEvent("\r"))
	b.wait("the message in the timeline",
		`[...document.querySelectorAll('#timeline li.ev-role-user')].some(e => e.innerText.includes('thanks\nthat is all'))`, 15*time.Second)
	b.wait("the empty message box", `document.querySelector('#message').value === ''`, 5*time.Second)
	b.wait("the agent's answer", `[...document.querySelectorAll('#timeline li[data-kind=MessageEvent]')].some(e => e.textContent.includes('Glad to help.'))`, time.Minute)
	b.wait("the end of the run", `['finished','idle'].includes(document.querySelector('#conv-status').dataset.status)`, time.Minute)
	checkOnce(b, g, id)

	// A reload shows the history once; the key is not asked again.
	b.do("reload", chromedp.Reload())
	b.wait("the timeline after the reload", `document.querySelectorAll('#timeline li[data-seq]').length > 0`, 15*time.Second)
	checkOnce(b, g, id)
	if open := eval[bool](b, `document.querySelector('#key-dialog').open`); open {
		b.fail("the key was asked again after a reload")
	}
	hellos := eval[int](b, `[...document.querySelectorAll('#timeline li.ev-terminal pre.term-output')].filter(e => e.textContent.trim() === 'hello').length`)
	if hellos != 1 {
		b.fail("the hello observation shows %d times after the reload, want once", hellos)
	}
	b.screenshot("reloaded")

	// A narrow screen: one view at a time, the list behind a button.
	b.do("narrow screen", chromedp.EmulateViewport(390, 844))
	b.wait("the timeline tab", `getComputedStyle(document.querySelector('#tab-timeline')).display !== 'none'`, 5*time.Second)
	b.do("show the timeline", chromedp.Click(chromedp.ID("tab-timeline")))
	b.wait("the timeline alone", `getComputedStyle(document.querySelector('#panel-terminal')).display === 'none' && document.querySelector('#timeline').offsetHeight > 0`, 5*time.Second)
	b.do("scroll to the end", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
	b.viewport("narrow-timeline")
	b.do("show the terminal", chromedp.Click(chromedp.ID("tab-terminal")))
	b.wait("the terminal alone", `getComputedStyle(document.querySelector('#panel-timeline')).display === 'none' && document.querySelector('#terminal').offsetHeight > 0`, 5*time.Second)
	b.viewport("narrow-terminal")
	b.do("open the list", chromedp.Click(chromedp.ID("menu-toggle")))
	b.wait("the list", `document.body.classList.contains('menu-open') && document.querySelector('#sidebar').getBoundingClientRect().left === 0`, 5*time.Second)
	b.viewport("narrow-list")
}

// TestRejectRiskyAction asks for confirmation of every action, and rejects
// the agent's rm -rf with the button.
func TestRejectRiskyAction(t *testing.T) {
	t.Parallel()
	rm := llmtest.Call{Name: "terminal", Args: `{"command":"rm -rf /workspace/important","security_risk":"HIGH"}`}
	g := startGoHands(t, true, llmtest.Reply{Text: "Cleaning up the workspace.", ToolCalls: []llmtest.Call{rm}})
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Understood, I will leave it."})

	b.open(g, "#/new")
	b.wait("the form", `document.querySelector('#new-form')`, 5*time.Second)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.ID("f-task"), "clean up the workspace"),
		chromedp.SendKeys(chromedp.ID("f-model"), "openai/scripted"),
		chromedp.SendKeys(chromedp.ID("f-base"), g.model.URL()+"/v1"),
		chromedp.SendKeys(chromedp.ID("f-llm-key"), "test"),
		chromedp.SetValue(chromedp.ID("f-policy"), "AlwaysConfirm"),
		chromedp.SetValue(chromedp.ID("f-analyzer"), "RuleAnalyzer"),
		chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the conversation view", `location.hash.startsWith('#/c/') && document.querySelector('#timeline')`, 15*time.Second)
	id := convID(b)

	deadline := time.Now().Add(2 * time.Minute)
	for g.status(id) != session.StatusWaitingForConfirmation {
		if time.Now().After(deadline) {
			t.Skipf("the server never put conversation %s into waiting_for_confirmation under AlwaysConfirm (status %q): the confirmation flow is not wired", id, g.status(id))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.wait("the pending action", `document.querySelector('#pending:not([hidden]) .pending-card')`, 15*time.Second)
	card := eval[string](b, `document.querySelector('#pending').innerText`)
	for _, want := range []string{"rm -rf /workspace/important", "risk", "Why: "} {
		if !strings.Contains(card, want) {
			b.fail("the pending card says %q, want %q in it", card, want)
		}
	}
	b.screenshot("pending")

	b.do("reject with a reason",
		chromedp.SendKeys(chromedp.ID("reject-reason"), "keep that folder"),
		chromedp.Click(chromedp.ID("btn-reject")))
	b.wait("the rejection in the timeline",
		`[...document.querySelectorAll('#timeline li[data-kind=UserRejectObservation]')].some(e => e.textContent.includes('keep that folder'))`, 30*time.Second)
	b.wait("the pending panel to go", `document.querySelector('#pending').hidden`, 10*time.Second)
	b.wait("the terminal pane's rejected command", `document.querySelector('#terminal').textContent.includes('rejected')`, 5*time.Second)
	checkOnce(b, g, id)
	b.screenshot("rejected")
}

// TestFilesAndTerminal uploads a file from the files pane and sees it
// listed and readable, then runs a command from the terminal pane and
// sees its coloured output.
func TestFilesAndTerminal(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, true)
	b := newBrowser(t) // after the server: its cleanup runs first
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"title":"files","agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the conversation view", `document.querySelector('#tab-files')`, 10*time.Second)
	b.do("open the files", chromedp.Click(chromedp.ID("tab-files")))
	b.wait("the listing of /workspace", `document.querySelector('#crumbs').textContent.includes('workspace') && document.querySelector('#files-state').textContent !== 'Loading…'`, time.Minute)

	file := filepath.Join(t.TempDir(), "notes.txt")
	content := "notes from the browser\n<b>not bold</b>\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload", chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{file}))
	b.wait("the file in the list", `document.querySelector('#file-list li[data-name="notes.txt"]')`, 30*time.Second)
	b.do("view it", chromedp.Click(chromedp.CSS(`#file-list li[data-name="notes.txt"] button.file-name`)))
	b.wait("its text", `document.querySelector('#file-view pre.file-text') && document.querySelector('#file-view pre.file-text').textContent.includes('<b>not bold</b>')`, 15*time.Second)
	href := eval[string](b, `document.querySelector('#file-list li[data-name="notes.txt"] a.file-download').href`)
	if !strings.HasSuffix(href, "/api/conversations/"+info.ID+"/file/download?path=%2Fworkspace%2Fnotes.txt") {
		b.fail("download link %q", href)
	}
	b.screenshot("files")

	// The server has it where the pane said.
	req, _ := http.NewRequest("GET", g.url+"/api/conversations/"+info.ID+"/file/download?path=/workspace/notes.txt", nil)
	req.Header.Set("X-Session-API-Key", apiKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != content {
		t.Errorf("download: %q, want %q", data, content)
	}

	// A command typed in the terminal pane runs in the sandbox; its
	// output comes back over the bash socket, in colour.
	b.do("open the terminal", chromedp.Click(chromedp.ID("tab-terminal")))
	b.do("run a command",
		chromedp.SendKeys(chromedp.ID("bash-input"), `printf '\033[32mgreen\033[0m and plain\n'; ls /workspace; exit 3`),
		chromedp.KeyEvent("\r"))
	b.wait("the green output", `[...document.querySelectorAll('#terminal .term-output span.ansi-fg-2')].some(e => e.textContent === 'green')`, 30*time.Second)
	b.wait("the exit code", `[...document.querySelectorAll('#terminal .term-entry[data-by=api] .badge')].some(e => e.textContent === 'exit 3')`, 30*time.Second)
	b.wait("the uploaded file in the output", `document.querySelector('#terminal').textContent.includes('notes.txt')`, 5*time.Second)
	b.screenshot("terminal")
}

// TestPauseAndResume pauses an agent waiting for a slow model and runs it
// again with the buttons.
func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, false, llmtest.Reply{Text: "too late", Delay: time.Minute})
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Resumed, and **done**."})
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}},
		"initial_message":{"role":"user","content":[{"type":"text","text":"take your time"}]}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the running status", `document.querySelector('#conv-status').dataset.status === 'running'`, 30*time.Second)
	b.wait("the pause button", `!document.querySelector('#btn-pause').hidden`, 5*time.Second)
	b.do("pause", chromedp.Click(chromedp.ID("btn-pause")))
	b.wait("the paused status", `document.querySelector('#conv-status').dataset.status === 'paused'`, 30*time.Second)
	b.wait("the pause in the timeline", `document.querySelector('#timeline li[data-kind=PauseEvent]')`, 10*time.Second)
	b.wait("the resume button", `!document.querySelector('#btn-run').hidden && document.querySelector('#btn-run').textContent.includes('Resume')`, 5*time.Second)
	b.screenshot("paused")
	b.do("resume", chromedp.Click(chromedp.ID("btn-run")))
	b.wait("the agent's answer", `[...document.querySelectorAll('#timeline li[data-kind=MessageEvent] strong')].some(e => e.textContent === 'done')`, time.Minute)
	checkOnce(b, g, info.ID)
	b.screenshot("resumed")
}

// TestWrongKeySaysSo loads the page with a wrong key kept in the browser:
// the page says the key was refused and asks again.
func TestWrongKeySaysSo(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, false)
	b := newBrowser(t) // after the server: its cleanup runs first
	b.do("load the page", chromedp.Navigate(g.url+"/"))
	b.do("keep a wrong key", chromedp.Evaluate[chromedp.Void](`localStorage.setItem('gohands.sessionApiKey', 'wrong')`), chromedp.Reload())
	b.wait("the key dialog", `document.querySelector('#key-dialog').open`, 15*time.Second)
	msg := eval[string](b, `document.querySelector('#key-message').textContent`)
	if !strings.Contains(msg, "refused") || !strings.Contains(msg, "401") {
		b.fail("key dialog says %q, want it to say the key was refused", msg)
	}
	if focused := eval[string](b, `document.activeElement.id`); focused != "key-input" {
		b.fail("focus is on %q, want the key field", focused)
	}
	b.screenshot("refused")
	b.do("give the right key", chromedp.SendKeys(chromedp.ID("key-input"), apiKey), chromedp.KeyEvent("\r"))
	b.wait("the dialog to close", `!document.querySelector('#key-dialog').open`, 5*time.Second)
	b.wait("the empty list", `!document.querySelector('#conv-list-empty').hidden`, 10*time.Second)
	if k := eval[string](b, `localStorage.getItem('gohands.sessionApiKey')`); k != apiKey {
		b.fail("the browser keeps %q, want the new key", k)
	}
	b.screenshot("accepted")
}
