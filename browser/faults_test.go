package browser_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
)

// browserID returns the id of the running browser container of f.
func browserID(t *testing.T, f *fixture) string {
	t.Helper()
	list, err := dockertest.Engine().ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "gohands.browser=1"), filters.Arg("label", "gohands.conversation="+f.owner))})
	if err != nil || len(list) != 1 {
		t.Fatalf("browser containers of %s: %d, %v", f.owner, len(list), err)
	}
	return list[0].ID
}

// With SANDBOX_NETWORK=none the browser reaches the sandbox's own
// servers and nothing outside, and says so.
func TestNoNetworkReachesOnlyTheSandbox(t *testing.T) {
	f := newFixture(t, sandbox.NetworkNone, nil, browser.Options{LoadTimeout: 15 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if st, err := f.b.Navigate(ctx, appURL("/"), false); err != nil || st.Title != "Greeter" {
		t.Fatalf("the sandbox's own app: %q, %v", st.Title, err)
	}
	for _, u := range []string{"http://example.com/", "http://1.1.1.1/"} {
		start := time.Now()
		_, err := f.b.Navigate(ctx, u, false)
		if err == nil {
			t.Fatalf("navigate to %s with no network succeeded", u)
		}
		if !strings.Contains(err.Error(), "ERR_") || time.Since(start) > 10*time.Second {
			t.Errorf("navigate to %s: %v after %s; want a quick net::ERR_ error", u, err, time.Since(start))
		}
	}
	if st, err := f.b.State(ctx, false); err != nil || st.URL == "" {
		t.Errorf("after the failures the browser does not go on: %+v, %v", st, err)
	}
}

// A browser container killed under the conversation is started again
// by the next call, which works, and OnRestart hears of it.
func TestKilledBrowserRestarts(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := f.b.Navigate(ctx, appURL("/"), false); err != nil {
		t.Fatal(err)
	}
	old := browserID(t, f)
	if err := dockertest.Engine().ContainerKill(ctx, old, "KILL"); err != nil {
		t.Fatal(err)
	}
	st, err := f.b.Navigate(ctx, appURL("/second.html"), false)
	if errors.Is(err, browser.ErrCrashed) {
		// The call raced the kill's news: the one after restarts.
		st, err = f.b.Navigate(ctx, appURL("/second.html"), false)
	}
	if err != nil || st.Title != "Second" {
		t.Fatalf("after the kill: %q, %v", st.Title, err)
	}
	if !strings.Contains(st.Text, "started again") {
		t.Errorf("the state does not tell of the restart:\n%s", st.Text)
	}
	if r := f.restarted(); len(r) != 1 || !strings.Contains(r[0].Error(), "137") {
		t.Errorf("OnRestart got %v, want one report of the kill (code 137)", r)
	}
	if id := browserID(t, f); id == old {
		t.Error("the same container serves after the kill")
	}
}

// A page that never answers gives ErrTimeout within the bound, and the
// browser goes on.
func TestPageThatNeverLoadsTimesOut(t *testing.T) {
	const bound = 3 * time.Second
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{LoadTimeout: bound})
	// Accepts connections (the kernel does, from the backlog) and never answers.
	f.serve(t, []string{"python3", "-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',8001))\ns.listen(64)\ntime.sleep(3600)"}, 8001)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, err := f.b.Navigate(ctx, "http://localhost:8001/", false)
	took := time.Since(start)
	if !errors.Is(err, browser.ErrTimeout) {
		t.Fatalf("navigate to a silent server: %v, want ErrTimeout", err)
	}
	if took < bound || took > bound+5*time.Second {
		t.Errorf("the timeout came after %s, want about %s", took, bound)
	}
	if st, err := f.b.Navigate(ctx, appURL("/"), false); err != nil || st.Title != "Greeter" {
		t.Errorf("after the timeout: %q, %v", st.Title, err)
	}
}

// A page that eats memory gets the browser container's limit, not the
// server's: the call fails with ErrCrashed (or the bound), the next works.
func TestMemoryHogKillsOnlyTheBrowser(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, func(o *docker.Options) { o.Browser.Memory = 512 << 20 }, browser.Options{LoadTimeout: 20 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := f.b.Navigate(ctx, appURL("/hog.html"), false)
	if err == nil {
		// The page loaded before it grew: read it until it dies.
		deadline := time.Now().Add(60 * time.Second)
		for err == nil && time.Now().Before(deadline) {
			_, err = f.b.State(ctx, false)
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !errors.Is(err, browser.ErrCrashed) {
		t.Fatalf("the hog: %v, want ErrCrashed", err)
	}
	t.Logf("the hog ended with: %v", err)
	st, err := f.b.Navigate(ctx, appURL("/"), false)
	if err != nil || st.Title != "Greeter" {
		t.Fatalf("after the hog: %q, %v", st.Title, err)
	}
}

// The sandbox shares the browser's loopback, but Chromium listens on no
// port there: a sandbox process that takes the usual DevTools port first
// is never spoken to, and no DevTools endpoint answers from the sandbox.
func TestSandboxCannotReachDevTools(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{})
	// A fake DevTools endpoint that logs whoever connects.
	fake := "import http.server\n" +
		"class H(http.server.BaseHTTPRequestHandler):\n" +
		"  def do_GET(self):\n" +
		"    open('/tmp/devtools-hits','a').write(self.path+'\\n')\n" +
		"    self.send_response(200); self.end_headers(); self.wfile.write(b'{\"webSocketDebuggerUrl\":\"ws://127.0.0.1:9222/devtools/browser/x\"}')\n" +
		"http.server.HTTPServer(('127.0.0.1',9222),H).serve_forever()\n"
	f.serve(t, []string{"python3", "-c", fake}, 9222)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := f.b.Navigate(ctx, appURL("/"), false)
	if err != nil || st.Title != "Greeter" {
		t.Fatalf("navigate: %q, %v", st.Title, err)
	}
	if _, err := f.b.Click(ctx, find(t, st, "a", "Second page"), false); err != nil {
		t.Fatal(err)
	}
	// Nobody came to the fake endpoint.
	res, err := f.cl.Run(ctx, agentapi.RunRequest{Args: []string{"cat", "/tmp/devtools-hits"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 && strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("something spoke to the sandbox's port 9222: %q", res.Stdout)
	}
	// The only listening TCP sockets in the shared network namespace are
	// the sandbox's own: the app, the fake, and the agent's.
	res, err = f.cl.Run(ctx, agentapi.RunRequest{Args: []string{"cat", "/proc/net/tcp", "/proc/net/tcp6"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range listening(res.Stdout) {
		switch port {
		case appPort, 9222, docker.AgentPort:
		default:
			t.Errorf("port %d listens in the sandbox's network beside the browser", port)
		}
	}
}

// listening returns the local ports of the LISTEN sockets in
// /proc/net/tcp{,6} text.
func listening(text string) []int {
	var ports []int
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" { // TCP_LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		var p int
		fmt.Sscanf(hexPort, "%X", &p)
		ports = append(ports, p)
	}
	return ports
}

// A browser an earlier run of the server left (its channel died with that
// run) is removed when the server's next sandbox manager starts.
func TestLeftBrowserReapedByNextRun(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := f.b.State(ctx, false); err != nil {
		t.Fatal(err)
	}
	left := browserID(t, f)
	dockertest.Manager(t, func(o *docker.Options) { o.ServerID = labelOf(t, left, "gohands.server") })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := dockertest.Engine().ContainerInspect(ctx, left); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the next manager of the same server left the old browser running")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func labelOf(t *testing.T, id, key string) string {
	t.Helper()
	info, err := dockertest.Engine().ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Config.Labels[key]
}

// A download is refused and reported; the page stays.
func TestDownloadRefused(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := f.b.Navigate(ctx, appURL("/"), false)
	if err != nil {
		t.Fatal(err)
	}
	st, err = f.b.Click(ctx, find(t, st, "a", "Get the data"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Text, "refused") {
		time.Sleep(500 * time.Millisecond) // the event may follow the click's state
		if st, err = f.b.State(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(st.Text, "download") || !strings.Contains(st.Text, "data.bin") || !strings.Contains(st.Text, "refused") {
		t.Errorf("the download is not reported as refused:\n%s", st.Text)
	}
	if st.Title != "Greeter" {
		t.Errorf("after the download the page is %q, want the app still", st.Title)
	}
}

// A browser unused for its idle time is stopped; the next call starts a
// new one without calling it a crash.
func TestIdleBrowserStops(t *testing.T) {
	f := newFixture(t, sandbox.NetworkBridge, nil, browser.Options{IdleTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := f.b.Navigate(ctx, appURL("/"), false); err != nil {
		t.Fatal(err)
	}
	id := browserID(t, f)
	deadline := time.Now().Add(20 * time.Second)
	for f.b.Running() {
		if time.Now().After(deadline) {
			t.Fatal("the idle browser was not stopped")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if _, err := dockertest.Engine().ContainerInspect(ctx, id); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle browser's container is still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := f.b.Navigate(ctx, appURL("/second.html"), false)
	if err != nil || st.Title != "Second" {
		t.Fatalf("after the idle stop: %q, %v", st.Title, err)
	}
	if r := f.restarted(); len(r) != 0 || strings.Contains(st.Text, "started again") {
		t.Errorf("an idle stop was told as a crash: %v\n%s", r, st.Text)
	}
}
