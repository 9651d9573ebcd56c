package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/sandbox"
	sbdocker "github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// The labels the tests put on their sandboxes, as in the sandbox package's
// tests: leftovers of a crashed run are removed by a later one, and runs
// going on at the same time leave each other alone.
const (
	labelTest    = "gohands.test"
	labelTestRun = "gohands.testrun"
	labelServer  = "gohands.server" // the sandbox package's server label
	leftoverAge  = 30 * time.Minute
)

// dockerSuite is what the tests that need sandboxes share: the engine, a
// runtime-agent built for the run, and one sandbox.Manager. It is prepared
// on first use, so tests without sandboxes and fuzzing never touch the
// engine.
type dockerSuite struct {
	once     sync.Once
	engine   *client.Client
	dir      string // temp dir holding the agent binary and the run dirs
	agent    string
	run      string // this run's id (label gohands.testrun)
	skip     string // why sandbox tests skip
	fatal    string // why they fail
	serverID string // of the shared manager
	shared   *sbdocker.Manager

	mu        sync.Mutex
	listeners map[*fanout]struct{}
}

var docker = dockerSuite{listeners: make(map[*fanout]struct{})}

func TestMain(m *testing.M) {
	code := m.Run()
	docker.shutdown()
	os.Exit(code)
}

func (d *dockerSuite) prepare() {
	if testing.Short() {
		d.skip = "sandbox tests skipped under -short"
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	engine, err := sbdocker.Connect(ctx)
	cancel()
	if err != nil {
		d.skip = fmt.Sprintf("no Docker engine answers: %v", err)
		return
	}
	d.engine = engine
	d.run = randomHex(6)
	if d.dir, err = os.MkdirTemp("", "ghsrv"); err != nil {
		d.fatal = err.Error()
		return
	}
	d.agent = filepath.Join(d.dir, "runtime-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", d.agent, "github.com/gohands/gohands/cmd/runtime-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		d.fatal = fmt.Sprintf("build runtime-agent: %v\n%s", err, out)
		return
	}
	d.reap(filters.Arg("label", labelTest+"=1"), time.Now().Add(-leftoverAge))
	ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = engine.ImageInspect(ictx, sandbox.DefaultImage)
	icancel()
	if err != nil {
		d.fatal = fmt.Sprintf("sandbox image %s is missing (%v): build it with `make sandbox-image`", sandbox.DefaultImage, err)
		return
	}
	d.serverID = "srvtest-" + d.run
	d.shared, err = d.newManager(d.serverID)
	if err != nil {
		d.fatal = err.Error()
		return
	}
	go d.dispatch()
}

// newManager makes a sandbox manager for serverID whose containers carry
// this run's labels and have the given mounts.
func (d *dockerSuite) newManager(serverID string, mounts ...sandbox.Mount) (*sbdocker.Manager, error) {
	opts := sbdocker.DefaultOptions()
	opts.ServerID = serverID
	opts.Mounts = mounts
	opts.AgentBinary = d.agent
	opts.Labels = map[string]string{labelTest: "1", labelTestRun: d.run}
	opts.StartTimeout = time.Minute
	// Unix socket paths are limited to 108 bytes: keep the run dir short.
	runDir, err := os.MkdirTemp(d.dir, "r")
	if err != nil {
		return nil, err
	}
	opts.RunDir = runDir
	return sbdocker.New(d.engine, opts, nil)
}

// fanout is the shared manager as one conversation manager sees it: the
// shared manager's status changes reach it on a channel of its own.
type fanout struct {
	*sbdocker.Manager
	changes chan sandbox.StatusChange
}

func (f *fanout) Changes() <-chan sandbox.StatusChange { return f.changes }

// dispatch hands the shared manager's status changes to every
// conversation manager using it; each ignores the conversations it does
// not know.
func (d *dockerSuite) dispatch() {
	for c := range d.shared.Changes() {
		d.mu.Lock()
		for f := range d.listeners {
			select {
			case f.changes <- c:
			default:
			}
		}
		d.mu.Unlock()
	}
}

// listen gives a conversation manager the shared manager.
func (d *dockerSuite) listen() *fanout {
	f := &fanout{Manager: d.shared, changes: make(chan sandbox.StatusChange, 256)}
	d.mu.Lock()
	d.listeners[f] = struct{}{}
	d.mu.Unlock()
	return f
}

func (d *dockerSuite) unlisten(f *fanout) {
	d.mu.Lock()
	delete(d.listeners, f)
	d.mu.Unlock()
}

// reap removes the test containers matching f created before the given
// time.
func (d *dockerSuite) reap(f filters.KeyValuePair, before time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := d.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(f)})
	if err != nil {
		return
	}
	for _, c := range list {
		if time.Unix(c.Created, 0).Before(before) {
			d.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}

func (d *dockerSuite) shutdown() {
	if d.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		d.shared.Close(ctx)
		cancel()
	}
	if d.engine != nil {
		d.reap(filters.Arg("label", labelTestRun+"="+d.run), time.Now().Add(time.Hour))
		d.engine.Close()
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

// needDocker skips under -short or without an engine and fails when the
// suite could not be prepared.
func needDocker(t testing.TB) {
	t.Helper()
	docker.once.Do(docker.prepare)
	if docker.skip != "" {
		t.Skip(docker.skip)
	}
	if docker.fatal != "" {
		t.Fatal(docker.fatal)
	}
}

// containers lists the containers of a server id.
func containers(t testing.TB, serverID string) []container.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := docker.engine.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", labelServer+"="+serverID))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// clock is a fake clock that moves on a millisecond at every reading, so
// that events and conversations never share a timestamp.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// options of a test server.
type options struct {
	// sandboxes gives the conversations real sandboxes, from the shared
	// manager unless manager is set. Without it conversations have none
	// (and the tests of routes that need none start no container).
	sandboxes bool
	manager   *sbdocker.Manager
	// statePath reopens an existing state file.
	statePath string
	clock     *clock
	config    func(*server.Config)
	// keep leaves the conversations in place when the test ends (the
	// test removes them itself).
	keep bool
	// loop is the agent loop; none by default.
	loop session.Loop
	// meter counts what the conversations do; none by default.
	meter session.Meter
	// hostRoots are the workspace roots (session.Options.HostRoots).
	hostRoots []string
	// llm is the server's model settings; none by default.
	llm session.LLM
	// backend, if set, runs the sandboxes instead of the engine (the
	// in-memory one of sandboxtest, say).
	backend sandbox.Backend
}

// env is a real GoHands server: a ConversationManager on a Store in a temp
// dir, sandboxes on the real engine when asked for, the HTTP layer behind
// an httptest server. Its helpers report to t; in a subtest, use e.in(t).
type env struct {
	t testing.TB
	*envState
}

type envState struct {
	statePath string
	clock     *clock
	key       string // sent with every request when set
	store     *storage.Store
	sbx       *sbdocker.Manager
	shared    *fanout // when sbx is the shared manager
	convs     *session.ConversationManager
	srv       *server.Server
	hs        *httptest.Server
	url       string

	closeOnce sync.Once
	closed    atomic.Bool
}

// in returns the env reporting to t.
func (e *env) in(t testing.TB) *env { return &env{t: t, envState: e.envState} }

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	e := &env{t: t, envState: &envState{statePath: o.statePath, clock: o.clock}}
	if e.statePath == "" {
		e.statePath = filepath.Join(t.TempDir(), "gohands.db")
	}
	if e.clock == nil {
		e.clock = newClock()
	}
	if o.sandboxes {
		needDocker(t)
		e.sbx = o.manager
		if e.sbx == nil {
			e.sbx = docker.shared
		}
	}
	store, err := storage.Open(e.statePath, storage.Options{Now: e.clock.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	so := session.Options{Store: store, Now: e.clock.Now, Logger: testLogger(t),
		Defaults: session.Defaults{Image: sandbox.DefaultImage, LLM: o.llm}, Loop: o.loop, Meter: o.meter,
		HostRoots: o.hostRoots}
	switch {
	case e.sbx != nil && e.sbx == docker.shared:
		e.shared = docker.listen()
		so.Sandboxes = e.shared
	case e.sbx != nil:
		so.Sandboxes = e.sbx
	case o.backend != nil:
		so.Sandboxes = o.backend
	}
	e.convs, err = session.New(so)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	cfg := server.Config{Logger: testLogger(t), Conversations: e.convs}
	if o.config != nil {
		o.config(&cfg)
	}
	if len(cfg.APIKeys) > 0 {
		e.key = cfg.APIKeys[0]
	}
	e.srv = server.New(cfg)
	e.hs = httptest.NewServer(e.srv)
	e.url = e.hs.URL
	t.Cleanup(func() {
		if !o.keep {
			e.deleteAll()
		}
		e.close()
	})
	return e
}

// deleteAll deletes every conversation, and with it its sandbox.
func (e *env) deleteAll() {
	if e.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		convs, _, err := e.store.Conversations(storage.ConversationQuery{Limit: 100})
		if err != nil || len(convs) == 0 {
			return
		}
		for _, c := range convs {
			if err := e.convs.Delete(ctx, c.ID); err != nil {
				e.t.Errorf("delete conversation %s: %v", c.ID, err)
				return
			}
		}
	}
}

// close stops the server and closes the manager and the store, leaving
// the sandboxes running (as a server that stops does).
func (e *env) close() {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		e.srv.Shutdown()
		e.hs.CloseClientConnections()
		e.hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		docker.unlisten(e.shared)
		if err := e.convs.Close(ctx); err != nil {
			e.t.Errorf("close conversations: %v", err)
		}
		if err := e.store.Close(); err != nil {
			e.t.Errorf("close store: %v", err)
		}
	})
}

func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// request sends a request and returns the status and the body. body is
// nil, a string or []byte sent as is, or a value sent as JSON.
func (e *env) request(method, path string, body any, header http.Header) (int, []byte) {
	e.t.Helper()
	return e.raw(method, path, body, header, true)
}

// raw is request, with the env's key sent only when withKey is set.
func (e *env) raw(method, path string, body any, header http.Header, withKey bool) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withKey && e.key != "" {
		req.Header.Set("X-Session-API-Key", e.key)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// call sends a request, checks the status and decodes the answer into out
// (when not nil).
func (e *env) call(method, path string, body any, want int, out any) []byte {
	e.t.Helper()
	status, data := e.request(method, path, body, nil)
	if status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, status, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
	return data
}

// detail sends a request that must fail with want and returns the
// answer's detail, which must not be empty.
func (e *env) detail(method, path string, body any, want int) string {
	e.t.Helper()
	var d struct {
		Detail *string `json:"detail"`
	}
	data := e.call(method, path, body, want, &d)
	if d.Detail == nil || *d.Detail == "" {
		e.t.Fatalf("%s %s: %d without a detail: %s", method, path, want, data)
	}
	return *d.Detail
}

// create makes a conversation.
func (e *env) create(body any) session.Info {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	var info session.Info
	e.call(http.MethodPost, "/api/conversations", body, http.StatusCreated, &info)
	if info.ID == "" {
		e.t.Fatal("created conversation has no id")
	}
	return info
}

// eventPage is the answer of an event search.
type eventPage struct {
	Items      []frame `json:"items"`
	NextPageID *string `json:"next_page_id"`
}

// events returns every event of a conversation matching the query, walking
// the pages.
func (e *env) events(id string, query url.Values) []frame {
	e.t.Helper()
	var out []frame
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for range 1000 {
		var p eventPage
		e.call(http.MethodGet, "/api/conversations/"+id+"/events/search?"+q.Encode(), nil, http.StatusOK, &p)
		out = append(out, p.Items...)
		if p.NextPageID == nil {
			return out
		}
		q.Set("page_id", *p.NextPageID)
	}
	e.t.Fatal("event search does not end")
	return nil
}

// message is the body of a user message.
func message(text string, run bool) map[string]any {
	return map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": text}}, "run": run}
}

// frame is an event as the API sends it, with the fields the tests read.
type frame struct {
	Kind       string          `json:"kind"`
	ID         string          `json:"id"`
	Seq        int64           `json:"seq"`
	Source     string          `json:"source"`
	Timestamp  string          `json:"timestamp"`
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	Code       string          `json:"code"`
	Detail     string          `json:"detail"`
	LLMMessage *struct {
		Role    string `json:"role"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"llm_message"`
}

// text is the text of a message event.
func (f frame) text() string {
	if f.LLMMessage == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range f.LLMMessage.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// ownServerID returns a server id for the test alone; the containers of
// that id are removed when the test ends.
func ownServerID(t *testing.T) string {
	serverID := "srvtest-" + docker.run + "-" + randomHex(3)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range containers(t, serverID) {
			docker.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	})
	return serverID
}

// socket is a test client of a GoHands socket.
type socket struct {
	t testing.TB
	c *websocket.Conn
}

// wsURL turns the env's URL and a path into a ws:// URL.
func (e *env) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(e.url, "http") + path
}

// dial opens a socket; the env's key is not sent unless in path or header.
func (e *env) dial(path string, header http.Header) *socket {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A frame goes out in one write, whole, as a browser sends it.
	dialer := *websocket.DefaultDialer
	dialer.WriteBufferSize = 64 << 10
	c, resp, err := dialer.DialContext(ctx, e.wsURL(path), header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			e.t.Fatalf("dial %s: %v (%d %s)", path, err, resp.StatusCode, body)
		}
		e.t.Fatalf("dial %s: %v", path, err)
	}
	s := &socket{t: e.t, c: c}
	e.t.Cleanup(func() { c.Close() })
	return s
}

// send writes a text frame: a string or []byte as is, a value as JSON.
func (s *socket) send(v any) {
	s.t.Helper()
	var data []byte
	switch x := v.(type) {
	case string:
		data = []byte(x)
	case []byte:
		data = x
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			s.t.Fatal(err)
		}
	}
	s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := s.c.WriteMessage(websocket.TextMessage, data); err != nil {
		s.t.Fatalf("send %s: %v", data, err)
	}
}

// read returns the next text frame.
func (s *socket) read() []byte {
	s.t.Helper()
	data, err := s.tryRead(30 * time.Second)
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	return data
}

func (s *socket) tryRead(timeout time.Duration) ([]byte, error) {
	s.c.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := s.c.ReadMessage()
	return data, err
}

// event reads the next frame as an event.
func (s *socket) event() frame {
	s.t.Helper()
	data := s.read()
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		s.t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// closed reads until the server closes the socket and returns the close
// code and reason, failing if a frame other than those skip accepts
// comes first.
func (s *socket) closed(skip func([]byte) bool) (int, string) {
	s.t.Helper()
	for {
		data, err := s.tryRead(30 * time.Second)
		if err == nil {
			if skip != nil && skip(data) {
				continue
			}
			s.t.Fatalf("frame %s before the close", data)
		}
		var ce *websocket.CloseError
		if ok := asCloseError(err, &ce); !ok {
			s.t.Fatalf("socket ended without a close frame: %v", err)
		}
		return ce.Code, ce.Text
	}
}

func asCloseError(err error, out **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*out = ce
	}
	return ok
}
