package frontend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/frontend"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// evilPage is a page of another site that tries to drive the GoHands at
// %[1]s: a simple cross-site POST (no preflight) and a socket that runs a
// command.
const evilPage = `<!doctype html><title>evil</title><script>
window.results = {};
fetch(%[1]q + "/api/conversations", {method: "POST", mode: "no-cors",
	headers: {"Content-Type": "text/plain"}, body: "{}"})
	.then(() => results.post = "sent", e => results.post = "failed: " + e);
const ws = new WebSocket(%[1]q.replace("http", "ws") + "/ws");
ws.onopen = () => { results.ws = "open"; ws.send(JSON.stringify({action: "run", args: {command: "id"}})); };
ws.onerror = () => results.ws = "refused";
</script>`

// TestNoKeyPage: on a server without an API key, the built-in page works
// (it is the server's own origin, sockets included), and a page of another
// origin open in the same browser can neither create a conversation nor
// open a socket.
func TestNoKeyPage(t *testing.T) {
	t.Parallel()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := session.New(session.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Close(ctx)
	})
	srv := server.New(server.Config{Conversations: m, Web: frontend.Handler()})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Shutdown(); hs.Close() })
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, evilPage, hs.URL)
	}))
	t.Cleanup(evil.Close)
	count := func() int {
		t.Helper()
		resp, err := http.Get(hs.URL + "/api/conversations/count") // as curl: no Origin
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var n int
		if err := json.Unmarshal(data, &n); err != nil {
			t.Fatalf("count: %d %s", resp.StatusCode, data)
		}
		return n
	}

	b := newBrowser(t) // after the servers: its cleanup runs first
	// The other site's page, in a tab of its own: what it makes the
	// browser log is no fault of GoHands' page.
	tab, closeTab := chromedp.NewContext(b.ctx)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatal(err)
	}
	var results map[string]string
	for {
		results, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`window.results`))
		if err != nil {
			t.Fatalf("the other site's page: %v", err)
		}
		if results["post"] != "" && results["ws"] != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	closeTab()
	if results["ws"] != "refused" {
		t.Errorf("the other site's socket: %s, want it refused", results["ws"])
	}
	if n := count(); n != 0 {
		t.Errorf("the other site's page made %d conversations", n)
	}

	// The server's own page: no key asked, the list, its own POST and
	// socket.
	for _, base := range []string{hs.URL, strings.Replace(hs.URL, "127.0.0.1", "localhost", 1)} {
		b.do("load the page", chromedp.Navigate(base+"/"))
		b.wait("the empty list", `!document.querySelector('#conv-list-empty').hidden || document.querySelector('#conv-list li')`, 15*time.Second)
		if open := eval[bool](b, `document.querySelector('#key-dialog').open`); open {
			b.fail("%s: the page asks for a key the server does not have", base)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/conversations", {method: "POST",
			headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
		if err != nil || status != http.StatusCreated {
			t.Errorf("%s: the page's own POST: %d %v, want 201", base, status, err)
		}
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise(done => {
			const ws = new WebSocket("ws://" + location.host + "/ws");
			ws.onopen = () => { ws.close(); done("open"); };
			ws.onerror = () => done("refused");
		})`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || state != "open" {
			t.Errorf("%s: the page's own socket: %s %v, want open", base, state, err)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("%d conversations, want the page's 2", n)
	}
}
