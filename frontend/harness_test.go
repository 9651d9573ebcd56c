package frontend_test

// The harness of the end-to-end tests: a GoHands server built in-process
// from its packages, and a headless Chromium whose console errors fail the
// test.

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
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/frontend"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dockertest.Cleanup()
	os.Exit(code)
}

const apiKey = "e2e-key"

// gohands is a GoHands server built in-process for one test.
type gohands struct {
	t     *testing.T
	url   string
	model *llmtest.Server
	conns *tracker
	store *storage.Store // for tests that put events in as a run would have
}

// startGoHands builds a server with real sandboxes (skipping when the
// Docker engine is absent) or none, and the scripted model.
func startGoHands(t *testing.T, sandboxes bool, steps ...llmtest.Step) *gohands {
	t.Helper()
	return startGoHandsWith(t, sandboxes, nil, steps...)
}

// startGoHandsWith is startGoHands with the session options changed by
// tune before the server is built.
func startGoHandsWith(t *testing.T, sandboxes bool, tune func(*session.Options), steps ...llmtest.Step) *gohands {
	t.Helper()
	model := llmtest.New(t, steps...)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var sbs sandbox.Backend
	if sandboxes {
		sbs = dockertest.Manager(t, func(o *docker.Options) { o.PoolSize = 0 })
	}
	loop := controller.New(controller.Options{Logger: logger, NewClient: func(cfg llm.Config) (llm.Client, error) {
		cfg.MaxRetries = 1
		cfg.RetryMinWait = time.Millisecond
		cfg.Timeout = 20 * time.Second
		return llm.New(cfg)
	}})
	opts := session.Options{Store: store, Sandboxes: sbs, Loop: loop, Logger: logger}
	if tune != nil {
		tune(&opts)
	}
	m, err := session.New(opts)
	if err != nil {
		t.Fatal(err)
	}
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
	return &gohands{t: t, url: hs.URL, model: model, conns: tr, store: store}
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
// writes to its console fails the test, except those listed in expected.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go

	mu   sync.Mutex
	errs []string
}

// expected are the network errors the browser logs that are no fault of
// the page's:
//   - every 401 answer: a page without the key gets them before it asks
//     for the key;
//   - net::ERR_NETWORK_CHANGED: Chromium drops the requests in flight when
//     a network interface of the machine comes or goes, as the engine's
//     do for the containers of tests running alongside. The page sends a
//     GET again (api.js), and what it shows is checked by each test.
var expected = regexp.MustCompile(`status of 401 \(Unauthorized\)|net::ERR_NETWORK_CHANGED`)

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
	b.wait("the key dialog", `document.querySelector('#key-dialog').open`, 45*time.Second)
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
