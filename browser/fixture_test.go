package browser_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/docker/dockertest"
)

// appPort is where the sandbox serves the test's web app.
const appPort = 8000

// The web app: a form whose button changes the page with JavaScript, a
// link to a second page, a button that raises an alert, and a page whose
// script eats memory.
var appFiles = map[string]string{
	"index.html": `<!doctype html>
<html><head><title>Greeter</title></head>
<body>
<h1>Greeter</h1>
<form onsubmit="return false">
  <input id="name" name="name" placeholder="Your name">
  <button id="go" type="button" onclick="greet()">Greet</button>
</form>
<p id="out">Nobody greeted yet</p>
<a href="/second.html">Second page</a>
<a href="/data.bin">Get the data</a>
<button type="button" onclick="alert('careful now')">Warn me</button>
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
</body></html>`,
	"data.bin":    "\x00\x01binary data, served as application/octet-stream\n",
	"second.html": `<!doctype html><html><head><title>Second</title></head><body><h1>The second page</h1><a href="/">Home</a></body></html>`,
	"hog.html": `<!doctype html><html><head><title>Hog</title></head><body><script>
const keep = [];
setInterval(() => { for (let i = 0; i < 20; i++) keep.push(new Float64Array(4 << 20).fill(Math.random())); }, 5);
</script></body></html>`,
}

// fixture is a sandbox serving the app and a Browser beside it.
type fixture struct {
	m     *docker.Manager
	sb    sandbox.Sandbox
	owner string
	cl    *agentapi.Client
	b     *browser.Browser

	mu       sync.Mutex
	restarts []error
}

func (f *fixture) restarted() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.restarts...)
}

// newFixture starts a sandbox with network mode network, serves the app in
// it on appPort, and makes a Browser for it with opts.
func newFixture(t testing.TB, network string, editOpts func(*docker.Options), opts browser.Options) *fixture {
	t.Helper()
	m := dockertest.Manager(t, func(o *docker.Options) {
		o.Limits.Network = network
		if editOpts != nil {
			editOpts(o)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rb [4]byte
	rand.Read(rb[:])
	owner := "conv-" + hex.EncodeToString(rb[:])
	sb, err := m.Start(ctx, owner, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{m: m, sb: sb, owner: owner, cl: sb.Client()}
	for name, body := range appFiles {
		if _, err := f.cl.WriteFile(ctx, "/tmp/app/"+name, body); err != nil {
			t.Fatal(err)
		}
	}
	f.serve(t, []string{"python3", "-m", "http.server", fmt.Sprint(appPort), "--bind", "127.0.0.1", "--directory", "/tmp/app"}, appPort)
	if opts.LoadTimeout == 0 {
		opts.LoadTimeout = 20 * time.Second
	}
	opts.OnRestart = func(reason error) {
		f.mu.Lock()
		f.restarts = append(f.restarts, reason)
		f.mu.Unlock()
	}
	f.b = browser.New(func(ctx context.Context) (browser.Conn, error) { return m.StartBrowser(ctx, owner) }, opts)
	t.Cleanup(func() { f.b.Close() })
	return f
}

// serve starts argv in the sandbox and waits until it listens on port.
func (f *fixture) serve(t testing.TB, argv []string, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.cl.StartProcess(ctx, agentapi.ProcessSpec{Argv: argv}); err != nil {
		t.Fatal(err)
	}
	for {
		conn, err := f.cl.Dial(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%v never listened on %d: %v", argv, port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// find returns the index of the first element of st whose tag is tag and
// whose text or attributes hold s.
func find(t testing.TB, st browser.State, tag, s string) int {
	t.Helper()
	for _, e := range st.Elements {
		if e.Tag != tag {
			continue
		}
		if strings.Contains(e.Text, s) {
			return e.Index
		}
		for _, v := range e.Attrs {
			if strings.Contains(v, s) {
				return e.Index
			}
		}
	}
	t.Fatalf("no <%s> with %q in the state:\n%s", tag, s, st.Text)
	return 0
}

func appURL(path string) string { return fmt.Sprintf("http://localhost:%d%s", appPort, path) }
