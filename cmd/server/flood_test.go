package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/sandbox/docker"
)

// A client that floods its socket must not starve the others: every
// socket kind is flooded below, with valid and garbage frames, while
// another client on the same server is served.

// servedWithin bounds each request and each socket round trip of the
// client that is not flooding. It is not a measure of speed: a request
// that takes this long is starved.
const servedWithin = time.Minute

// flooder is a socket client writing frames as fast as it can while it
// reads whatever the server sends back. Meanwhile it samples the
// process's goroutines (the server runs in this process).
type flooder struct {
	conn  *websocket.Conn
	stop  chan struct{}
	done  chan struct{} // closed when the writer ends
	ended chan struct{} // closed when the reader ends
	wg    sync.WaitGroup

	sent, received, peak atomic.Int64

	// Set by the reader before it ends: the close frame the server sent,
	// or the error that ended the socket without one before end was called.
	closed *websocket.CloseError
	cut    error
}

// startFlood dials u and writes frame(i), for i = 0, 1, ..., until end is
// called or the socket fails; frame returns a message type and its data.
func startFlood(t *testing.T, u string, header http.Header, frame func(i int) (int, []byte)) *flooder {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("dial %s: %v: %d %s", u, err, resp.StatusCode, body)
		}
		t.Fatalf("dial %s: %v", u, err)
	}
	f := &flooder{conn: conn, stop: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{})}
	f.peak.Store(int64(runtime.NumGoroutine()))
	f.wg.Go(func() {
		defer close(f.ended)
		for {
			_, _, err := conn.ReadMessage()
			if err == nil {
				f.received.Add(1)
				continue
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.closed = ce
				return
			}
			select {
			case <-f.stop: // closed by end
			default:
				f.cut = err
			}
			return
		}
	})
	f.wg.Go(func() {
		defer close(f.done)
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			default:
			}
			typ, data := frame(i)
			if conn.WriteMessage(typ, data) != nil {
				return
			}
			f.sent.Add(1)
		}
	})
	f.wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			f.peak.Store(max(f.peak.Load(), int64(runtime.NumGoroutine())))
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	})
	return f
}

// waitSent waits until n frames are written, or until the writer ends
// (the server closed the socket).
func (f *flooder) waitSent(n int64) {
	for f.sent.Load() < n {
		select {
		case <-f.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// end stops the flood and closes the socket.
func (f *flooder) end() {
	close(f.stop)
	f.conn.Close()
	f.wg.Wait()
}

// check fails if the flood piled up more than limit goroutines over base,
// or if the server ended the flooding socket other than with one of the
// close codes allowed (none: the flood must have been held back, not
// closed).
func (f *flooder) check(t *testing.T, base, limit int, allowed ...int) {
	t.Helper()
	t.Logf("the flood sent %d frames and received %d; goroutines: %d before it, at most %d during it",
		f.sent.Load(), f.received.Load(), base, f.peak.Load())
	if f.peak.Load() > int64(base+limit) {
		t.Errorf("%d goroutines during the flood, %d before it: the flood piles up goroutines", f.peak.Load(), base)
	}
	switch {
	case f.cut != nil:
		t.Errorf("the server cut the flooding socket without a close frame: %v", f.cut)
	case f.closed != nil && !slices.Contains(allowed, f.closed.Code):
		t.Errorf("the server closed the flooding socket with %d %q, want the flood held back or one of %v", f.closed.Code, f.closed.Text, allowed)
	case f.closed != nil:
		t.Logf("the server closed the flooding socket: %d %q", f.closed.Code, f.closed.Text)
	default:
		t.Logf("the flooding socket was held back, not closed")
	}
}

// garbage is a frame of no protocol: binary, not JSON.
func garbage(i int) []byte {
	return []byte{0xff, 0x00, byte(i), 0xfe, '{', 0x80}
}

// wsURL is the ws:// URL of path on the server at base.
func wsURL(base, path string) string { return "ws" + strings.TrimPrefix(base, "http") + path }

// peer is the client that does not flood: it times its REST calls and its
// socket round trips, each of which must be answered within servedWithin.
type peer struct {
	t       *testing.T
	base    string
	conn    *websocket.Conn
	slowest time.Duration
}

// dialPeer opens the peer's socket.
func dialPeer(t *testing.T, base, path string, header http.Header) *peer {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(base, path), header)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, base: base, conn: conn}
}

// took keeps the slowest answer.
func (p *peer) took(began time.Time) { p.slowest = max(p.slowest, time.Since(began)) }

// call sends a request with the key and returns the status and body.
func (p *peer) call(method, path, body string) (int, []byte) {
	p.t.Helper()
	defer p.took(time.Now())
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("X-Session-API-Key", "key")
	resp, err := (&http.Client{Timeout: servedWithin}).Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// send writes a text frame.
func (p *peer) send(data string) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(servedWithin))
	if err := p.conn.WriteMessage(websocket.TextMessage, []byte(data)); err != nil {
		p.t.Fatalf("send %s: %v", data, err)
	}
}

// roundTrip sends a frame and reads until a frame matching answer comes.
func (p *peer) roundTrip(data string, answer func([]byte) bool) {
	p.t.Helper()
	defer p.took(time.Now())
	p.send(data)
	p.conn.SetReadDeadline(time.Now().Add(servedWithin))
	for {
		_, got, err := p.conn.ReadMessage()
		if err != nil {
			p.t.Fatalf("waiting for the answer to %s: %v", data, err)
		}
		if answer(got) {
			return
		}
	}
}

// bash runs a command over the peer's bash-events socket and waits for
// its last output event, which must carry exit code 0 and want.
func (p *peer) bash(command, want string) {
	p.t.Helper()
	req, _ := json.Marshal(map[string]string{"command": command})
	var id, stdout string
	p.roundTrip(string(req), func(raw []byte) bool {
		var e struct {
			Kind      string `json:"kind"`
			ID        string `json:"id"`
			Command   string `json:"command"`
			CommandID string `json:"command_id"`
			Stdout    string `json:"stdout"`
			ExitCode  *int   `json:"exit_code"`
		}
		if json.Unmarshal(raw, &e) != nil {
			return false
		}
		switch {
		case e.Kind == "BashCommand" && e.Command == command && id == "":
			id = e.ID
		case e.Kind == "BashOutput" && e.CommandID == id && id != "":
			stdout += e.Stdout
			if e.ExitCode != nil {
				if *e.ExitCode != 0 || !strings.Contains(stdout, want) {
					p.t.Fatalf("%s over the socket: exit code %d, output %q, want 0 and %q", command, *e.ExitCode, stdout, want)
				}
				return true
			}
		}
		return false
	})
}

// floodServer starts gohands with sandboxes and makes two conversations,
// the one to flood and the other, each with its sandbox up.
func floodServer(t *testing.T) (g *gohands, flooded, other string) {
	t.Helper()
	engine, dir, agent := dockerSetup(t)
	g = start(t, map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
	})
	c := api{t: t, url: g.url}
	flooded, other = c.create(`{}`), c.create(`{}`)
	t.Cleanup(func() {
		removeConversationContainers(engine, flooded)
		removeConversationContainers(engine, other)
	})
	for _, id := range []string{flooded, other} {
		if st, out, body := c.bash(id, "echo up"); st != http.StatusOK || strings.TrimSpace(out) != "up" {
			g.shutdown()
			t.Fatalf("first command of %s: status %d, stdout %q: %s", id, st, out, body)
		}
	}
	return g, flooded, other
}

// floodUnauthed floods u without a key: the first frame is not the auth
// frame, and the socket must be closed with 4001.
func floodUnauthed(t *testing.T, u string, frame func(int) (int, []byte)) {
	t.Helper()
	f := startFlood(t, u, nil, frame)
	select {
	case <-f.ended:
	case <-time.After(servedWithin):
		t.Errorf("a flood without a key is still open after %s", servedWithin)
	}
	f.end()
	if f.closed == nil || f.closed.Code != 4001 {
		t.Errorf("a flood without a key ended with %v (cut: %v), want close 4001", f.closed, f.cut)
	}
}

// settledSlack is how many more goroutines than before a flood may stay
// once it is gone: the flooded sandbox's agent client keeps up to 16
// idle connections (two goroutines each) for a while, and a few more
// come and go.
const settledSlack = 2*16 + 10

// checkSettled fails unless, once every client is gone, the goroutines
// come back to at most settledSlack over base.
func checkSettled(t *testing.T, base int) {
	t.Helper()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	left, _ := settled(base+settledSlack, 1<<62)
	t.Logf("goroutines once the flood is gone: %d", left)
	if left > base+settledSlack {
		t.Errorf("%d goroutines once the flood is gone, %d before it\n%s", left, base, goroutines())
	}
}

// TestLoadSocketFlood has one client flood its socket with messages as
// fast as it can write, while another client, on another conversation,
// posts messages and follows its events. The flood is held back by its
// own socket: the server's goroutines stay bounded, the other client gets
// every one of its events, and the flood's messages are stored in the
// order they were sent.
func TestLoadSocketFlood(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // no sandboxes
	g := start(t, map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"),
		"GOHANDS_AGENT_BINARY": placeholderAgent(t), "SANDBOX_POOL_SIZE": "0",
	})
	defer g.shutdown()
	c := api{t: t, url: g.url}
	flooded := c.create(`{}`)
	other := c.create(`{}`)
	// A conversation starts no sandbox until something needs one: no
	// failed start is under way.
	base, _ := settled(0, 0)

	flood := startFlood(t, wsURL(g.url, "/sockets/events/"+flooded+"?session_api_key=key"), nil, func(i int) (int, []byte) {
		return websocket.TextMessage, fmt.Appendf(nil, `{"role":"user","content":[{"type":"text","text":"flood %d"}],"run":false}`, i)
	})
	flood.waitSent(1000)

	// Another client is served while the flood goes on.
	sock := listen(t, g.url, other)
	const n = 20
	for i := range n {
		body := fmt.Sprintf(`{"role":"user","content":[{"type":"text","text":"other %d"}],"run":false}`, i)
		if st, data := c.call("POST", "/api/conversations/"+other+"/events", body, nil); st != http.StatusOK {
			t.Fatalf("message %d of the other client: status %d: %s", i, st, data)
		}
	}
	sock.waitFor("the other client's last message", time.Minute, func(f frame) bool {
		return bytes.Contains(f.Raw, []byte(fmt.Sprintf(`"other %d"`, n-1)))
	})
	flood.end()
	flood.check(t, base, 100)

	evs := c.events(other)
	checkSeqs(t, "the other conversation", evs)
	got := 0
	for _, e := range evs {
		if bytes.Contains(e.Raw, []byte(`"other `)) {
			got++
		}
	}
	if got != n {
		t.Errorf("the other conversation has %d of its %d messages", got, n)
	}
	last, stored := -1, 0
	for _, e := range c.events(flooded) {
		var i int
		if _, rest, ok := bytes.Cut(e.Raw, []byte(`"text":"flood `)); ok {
			fmt.Sscanf(string(rest), "%d", &i)
			if i <= last {
				t.Fatalf("flood message %d stored after message %d: out of the order they were sent", i, last)
			}
			last = i
			stored++
		}
	}
	t.Logf("%d flood messages stored, in the order sent", stored)
}

// floodWhileServed has the peer p do one round (round(-1)), then floods u
// without a key (which must be closed with 4001) and with one (the query
// withKey added to u, or the header), while p does ten more rounds. It
// checks the flood as flooder.check does, logs p's slowest answer before
// and during it, and returns the goroutines counted before it.
func floodWhileServed(t *testing.T, p *peer, round func(int), u, withKey string, header http.Header, frames func(int) (int, []byte)) int {
	t.Helper()
	round(-1)
	baseline := p.slowest
	base, _ := settled(0, 0)

	floodUnauthed(t, u, frames)

	flood := startFlood(t, u+withKey, header, frames)
	flood.waitSent(1000)
	for k := range 10 {
		round(k)
	}
	flood.end()
	t.Logf("the other client's slowest answer: %s before the flood, %s during it", baseline, p.slowest)
	flood.check(t, base, 100, 4008)
	return base
}

// bashFlood is the flood of a bash-events socket: commands, and frames
// that are not.
func bashFlood(i int) (int, []byte) {
	switch i % 5 {
	case 0:
		return websocket.TextMessage, fmt.Appendf(nil, `{"command":"echo flood %d"}`, i)
	case 1:
		return websocket.TextMessage, []byte(`{"command":"echo cut sh`) // not JSON
	case 2:
		return websocket.TextMessage, []byte(`{"command":""}`)
	case 3:
		return websocket.TextMessage, []byte(`{"command":"true","timeout":-1}`)
	default:
		return websocket.BinaryMessage, garbage(i)
	}
}

// TestLoadBashSocketFlood floods /sockets/bash-events/{id} with commands
// and garbage while another client runs commands on another
// conversation, through its own bash-events socket and the REST route.
// The flood is held back (at most a few commands of one socket run at
// once), the other client's every command is answered, the server's
// goroutines stay bounded and come back down once the flood is gone, a
// flood without a key is closed with 4001, and the flooded conversation
// still serves a new socket afterwards.
func TestLoadBashSocketFlood(t *testing.T) {
	g, flooded, other := floodServer(t)
	defer g.shutdown()
	p := dialPeer(t, g.url, "/sockets/bash-events?conversation_id="+other, http.Header{"X-Session-API-Key": {"key"}})
	round := func(k int) {
		t.Helper()
		p.bash(fmt.Sprintf("echo other %d", k), fmt.Sprintf("other %d", k))
		if st, body := p.call("GET", "/api/conversations/"+other, ""); st != http.StatusOK {
			t.Fatalf("get the other conversation: status %d: %s", st, body)
		}
		var res struct {
			Stdout string `json:"stdout"`
		}
		st, body := p.call("POST", "/api/conversations/"+other+"/bash/execute_bash_command", fmt.Sprintf(`{"command":"echo rest %d"}`, k))
		json.Unmarshal(body, &res)
		if st != http.StatusOK || strings.TrimSpace(res.Stdout) != fmt.Sprintf("rest %d", k) {
			t.Fatalf("a REST command of the other client: status %d: %s", st, body)
		}
	}
	base := floodWhileServed(t, p, round, wsURL(g.url, "/sockets/bash-events/"+flooded), "?session_api_key=key", nil, bashFlood)

	// The flooded conversation serves a new socket, and what the flood
	// left running ends.
	after := dialPeer(t, g.url, "/sockets/bash-events/"+flooded+"?session_api_key=key", nil)
	after.bash("echo after the flood", "after the flood")
	after.conn.Close()
	p.conn.Close()
	checkSettled(t, base)
}

// v0Flood is the flood of a V0 socket: actions, and frames that are not.
func v0Flood(i int) (int, []byte) {
	switch i % 5 {
	case 0:
		return websocket.TextMessage, fmt.Appendf(nil, `{"action":"run","args":{"command":"echo flood %d"}}`, i)
	case 1:
		return websocket.TextMessage, []byte(`not json`)
	case 2:
		return websocket.TextMessage, []byte(`{"action":"fly","args":{}}`)
	case 3:
		return websocket.TextMessage, fmt.Appendf(nil, `{"action":"think","args":{"thought":"flood %d"}}`, i)
	default:
		return websocket.BinaryMessage, garbage(i)
	}
}

// v0Run runs a command over the peer's V0 socket and waits for its run
// observation, which must carry exit code 0 and want.
func (p *peer) v0Run(command, want string) {
	p.t.Helper()
	req, _ := json.Marshal(map[string]any{"action": "run", "args": map[string]any{"command": command}})
	p.roundTrip(string(req), func(raw []byte) bool {
		var f struct {
			Observation string         `json:"observation"`
			Content     string         `json:"content"`
			Extras      map[string]any `json:"extras"`
		}
		if json.Unmarshal(raw, &f) != nil || f.Observation != "run" || f.Extras["command"] != command {
			return false
		}
		if f.Extras["exit_code"] != float64(0) || !strings.Contains(f.Content, want) {
			p.t.Fatalf("%s over V0: %s, want exit code 0 and %q", command, raw, want)
		}
		return true
	})
}

// TestLoadV0SocketFlood floods the V0 socket /ws of a conversation with
// actions and garbage while another client, authenticated by a first
// frame on its own /ws, runs commands on another conversation and calls
// the REST routes. As with the bash-events socket: the flood is held back
// with the server's goroutines bounded, the other client's every action
// is answered, a flood without a key is closed with 4001, the flooded
// conversation's events keep their seqs without gaps, and it still
// serves a new socket afterwards.
func TestLoadV0SocketFlood(t *testing.T) {
	g, flooded, other := floodServer(t)
	defer g.shutdown()
	p := dialPeer(t, g.url, "/ws?conversation_id="+other, nil)
	p.send(`{"type":"auth","session_api_key":"key"}`)
	round := func(k int) {
		t.Helper()
		p.v0Run(fmt.Sprintf("echo other %d", k), fmt.Sprintf("other %d", k))
		if st, body := p.call("GET", "/api/conversations/"+other, ""); st != http.StatusOK {
			t.Fatalf("get the other conversation: status %d: %s", st, body)
		}
		if st, body := p.call("GET", "/api/conversations/"+other+"/events/count", ""); st != http.StatusOK {
			t.Fatalf("count the other conversation's events: status %d: %s", st, body)
		}
	}
	base := floodWhileServed(t, p, round, wsURL(g.url, "/ws?conversation_id="+flooded), "", http.Header{"X-Session-API-Key": {"key"}}, v0Flood)

	after := dialPeer(t, g.url, "/ws?conversation_id="+flooded, http.Header{"X-Session-API-Key": {"key"}})
	after.v0Run("echo after the flood", "after the flood")
	after.conn.Close()
	p.conn.Close()
	checkSettled(t, base)
	c := api{t: t, url: g.url}
	checkSeqs(t, "the flooded conversation", c.events(flooded))
	checkSeqs(t, "the other conversation", c.events(other))
}

// TestBashSocketClientLeaves has a client send more long commands than a
// bash-events socket runs at once, then leave. The socket notices at once
// (its read loop never waits on busy workers), so the commands it started
// are cancelled and those waiting never start, instead of running to their
// own timeouts.
func TestBashSocketClientLeaves(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sent  int
		drain bool
	}{
		// More than the socket runs at once: the rest wait in its queue.
		{"queued", 24, false},
		// Past the queue's bound, so that the socket's read loop is held
		// back when the client leaves. The client leaves with frames of
		// the server's unread, so its kernel resets the connection, and
		// the server's next write fails.
		{"held back", 16 + 1024 + 64, false},
		// The same, but the client reads what it was sent before it
		// leaves: a clean close, which no write of the server's notices
		// before a command ends; the server must ask its kernel.
		{"held back, clean close", 16 + 1024 + 64, true},
	} {
		t.Run(tt.name, func(t *testing.T) { bashSocketClientLeaves(t, tt.sent, tt.drain) })
	}
}

// bashSocketClientLeaves sends sent long sleeps on a command socket, then
// leaves (after reading what it was sent, with drain), and checks that
// every sleep it started ends.
func bashSocketClientLeaves(t *testing.T, sent int, drain bool) {
	g, conv, _ := floodServer(t)
	defer g.shutdown()
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(g.url, "/sockets/bash-events/"+conv+"?session_api_key=key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		frame := fmt.Sprintf(`{"command":"sleep 600 && echo %d","timeout":1200}`, i)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	// The sleeps are counted through the engine: a command run through
	// GoHands would send the socket events, and a write to a client that
	// left would tell the server before it asks the kernel.
	engine, err := docker.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	list, err := engine.ContainerList(context.Background(), container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "gohands.conversation="+conv))})
	if err != nil || len(list) != 1 {
		t.Fatalf("the conversation's containers: %d, %v; want one", len(list), err)
	}
	// processes lists the sandbox's processes other than its agent.
	processes := func() []string {
		top, err := engine.ContainerTop(context.Background(), list[0].ID, nil)
		if err != nil {
			t.Fatalf("processes of the sandbox: %v", err)
		}
		var out []string
		for _, p := range top.Processes {
			if line := strings.Join(p, " "); !strings.Contains(line, "runtime-agent") {
				out = append(out, line)
			}
		}
		return out
	}
	count := func() int {
		n := 0
		for _, p := range processes() {
			if strings.HasSuffix(p, " sleep 600") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(servedWithin)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the socket's commands did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if drain {
		for {
			conn.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := conn.ReadMessage(); err != nil {
				break
			}
		}
	}
	conn.Close()
	left := time.Now()
	for {
		n := count()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sleeps still run %v after their client left", n, time.Since(left).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ended := time.Since(left)
	// Each command had a terminal of its own: its shell must end too, or
	// the agent's bounded count of terminals would run out.
	for {
		ps := processes()
		if len(ps) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes besides the agent still run %v after the client left, first %q", len(ps), time.Since(left).Round(time.Millisecond), ps[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d commands sent; every sleep ended %v after the client left, every shell %v", sent, ended.Round(time.Millisecond), time.Since(left).Round(time.Millisecond))
}
