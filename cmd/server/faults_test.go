package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
)

// This file tries hard to break gohands: the server killed with SIGKILL,
// sandboxes killed under a running command, the Docker engine away at
// start and while running, a model that fails every way it can, and a
// state file that cannot be written. Each test runs the real server (in
// this process, or as a child process where it must die) against the
// real engine.

// api is a client of a running gohands.
type api struct {
	t   *testing.T
	url string
}

// call sends a request with the test key and decodes a 2xx answer into
// out; it returns the status and the body.
func (c api) call(method, path, body string, out any) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Session-API-Key", "key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, data
}

// convInfo is the part of ConversationInfo the tests read.
type convInfo struct {
	ID              string `json:"id"`
	ExecutionStatus string `json:"execution_status"`
	Sandbox         struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"sandbox"`
}

// create makes a conversation and returns its id.
func (c api) create(body string) string {
	c.t.Helper()
	var info convInfo
	if st, data := c.call("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		c.t.Fatalf("create: status %d: %s", st, data)
	}
	return info.ID
}

func (c api) info(id string) convInfo {
	c.t.Helper()
	var info convInfo
	if st, data := c.call("GET", "/api/conversations/"+id, "", &info); st != http.StatusOK {
		c.t.Fatalf("get %s: status %d: %s", id, st, data)
	}
	return info
}

// waitStatus polls a conversation until its status is one of want.
func (c api) waitStatus(id string, timeout time.Duration, want ...string) convInfo {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info := c.info(id)
		for _, w := range want {
			if info.ExecutionStatus == w {
				return info
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("conversation %s is %s after %s, want one of %v", id, info.ExecutionStatus, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bash runs a command in a conversation's sandbox through the REST route.
func (c api) bash(id, command string) (status int, stdout string, body []byte) {
	c.t.Helper()
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	req, _ := json.Marshal(map[string]any{"command": command})
	status, body = c.call("POST", "/api/conversations/"+id+"/bash/execute_bash_command", string(req), &res)
	return status, res.Stdout, body
}

// frame is what the tests read of an event: stored or received on a
// socket.
type frame struct {
	Seq  int64           `json:"seq"`
	ID   string          `json:"id"`
	Kind string          `json:"kind"`
	Key  string          `json:"key"`
	Raw  json.RawMessage `json:"-"`
}

func decodeFrame(t testing.TB, raw []byte) frame {
	t.Helper()
	var f frame
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	f.Raw = append(json.RawMessage(nil), raw...)
	return f
}

// events returns every stored event of a conversation, in seq order.
func (c api) events(id string) []frame {
	c.t.Helper()
	var out []frame
	page := ""
	for {
		var res struct {
			Items []json.RawMessage `json:"items"`
			Next  *string           `json:"next_page_id"`
		}
		q := "/api/conversations/" + id + "/events/search?limit=100"
		if page != "" {
			q += "&page_id=" + url.QueryEscape(page)
		}
		if st, data := c.call("GET", q, "", &res); st != http.StatusOK {
			c.t.Fatalf("events of %s: status %d: %s", id, st, data)
		}
		for _, raw := range res.Items {
			out = append(out, decodeFrame(c.t, raw))
		}
		if res.Next == nil || *res.Next == "" {
			return out
		}
		page = *res.Next
	}
}

// checkSeqs fails unless evs have seqs 1, 2, ..., n.
func checkSeqs(t testing.TB, what string, evs []frame) {
	t.Helper()
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("%s: event %d has seq %d, want %d: the seqs have a gap or a repeat", what, i, e.Seq, i+1)
		}
	}
}

// find returns the first event of a kind whose JSON contains every one of
// the strings.
func find(evs []frame, kind string, contains ...string) (frame, bool) {
	for _, e := range evs {
		if e.Kind != kind {
			continue
		}
		ok := true
		for _, s := range contains {
			ok = ok && bytes.Contains(e.Raw, []byte(s))
		}
		if ok {
			return e, true
		}
	}
	return frame{}, false
}

// listener is a socket client of /sockets/events that keeps every event
// it receives, across reconnections.
type listener struct {
	t    *testing.T
	base string
	conv string

	mu     sync.Mutex
	got    []frame // events with a seq, in order of arrival
	states int     // full_state frames
	conn   *websocket.Conn
	done   chan struct{} // closed when the current connection's reader ends
}

// listen connects a listener that asks for every stored event.
func listen(t *testing.T, base, conv string) *listener {
	l := &listener{t: t, base: base, conv: conv}
	l.connect(base)
	t.Cleanup(l.close)
	return l
}

// connect (re)connects to base, asking for the events after the last one
// received.
func (l *listener) connect(base string) {
	l.t.Helper()
	l.base = base
	after := l.last()
	u := "ws" + strings.TrimPrefix(base, "http") + "/sockets/events/" + l.conv + "?session_api_key=key"
	if after == 0 {
		u += "&resend_all=true"
	} else {
		u += fmt.Sprintf("&resend_mode=since&after=%d", after)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		l.t.Fatalf("socket %s: %v", u, err)
	}
	done := make(chan struct{})
	l.mu.Lock()
	l.conn, l.done = conn, done
	l.mu.Unlock()
	go func() {
		defer close(done)
		for {
			_, raw, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(raw, &f) != nil {
				continue
			}
			f.Raw = raw
			l.mu.Lock()
			if f.Seq > 0 {
				l.got = append(l.got, f)
			} else if f.Key == "full_state" {
				l.states++
			}
			l.mu.Unlock()
		}
	}()
}

func (l *listener) last() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) == 0 {
		return 0
	}
	return l.got[len(l.got)-1].Seq
}

func (l *listener) received() []frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]frame(nil), l.got...)
}

// waitFor waits until an event matching ok has arrived.
func (l *listener) waitFor(what string, timeout time.Duration, ok func(frame) bool) frame {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, f := range l.received() {
			if ok(f) {
				return f
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("socket of %s: no %s within %s", l.conv, what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSeq waits until the event with seq has arrived.
func (l *listener) waitSeq(seq int64, timeout time.Duration) {
	l.t.Helper()
	l.waitFor(fmt.Sprintf("event %d", seq), timeout, func(f frame) bool { return f.Seq >= seq })
}

// gone waits until the server has closed the connection.
func (l *listener) gone(timeout time.Duration) {
	l.t.Helper()
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	select {
	case <-done:
	case <-time.After(timeout):
		l.t.Fatalf("socket of %s still open %s after the server died", l.conv, timeout)
	}
}

func (l *listener) close() {
	l.mu.Lock()
	conn, done := l.conn, l.done
	l.mu.Unlock()
	if conn != nil {
		conn.Close()
		<-done
	}
}

// checkOnce fails unless the listener received exactly the stored events,
// each once, in order, with the stored ids.
func (l *listener) checkOnce(stored []frame) {
	l.t.Helper()
	got := l.received()
	if len(got) != len(stored) {
		l.t.Errorf("socket of %s received %d events, %d are stored", l.conv, len(got), len(stored))
	}
	for i := range min(len(got), len(stored)) {
		if got[i].Seq != stored[i].Seq || got[i].ID != stored[i].ID {
			l.t.Fatalf("socket of %s: event %d is seq %d id %s, stored seq %d id %s",
				l.conv, i, got[i].Seq, got[i].ID, stored[i].Seq, stored[i].ID)
		}
	}
}

// buildServer builds gohands itself into dir, to run as a child process
// that can be killed. It is built as `make server` builds it, so that the
// two share the build cache.
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gohands")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/gohands/gohands/cmd/server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gohands: %v\n%s", err, out)
	}
	return bin
}

// placeholderAgent is a file standing in for the runtime-agent in tests
// whose engine is absent, where no sandbox ever starts.
func placeholderAgent(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runtime-agent")
	if err := os.WriteFile(p, []byte("never run: the engine is absent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ownedBy lists the containers of a server id.
func ownedBy(t *testing.T, engine *client.Client, serverID string) []container.Summary {
	t.Helper()
	list, err := engine.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "gohands.server="+serverID))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// waitRecovered waits up to a minute for /ready to stop saying that
// sandboxes are being recovered (the server takes them over in the
// background after it listens).
func waitRecovered(t *testing.T, g api) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var ready map[string]any
		if st, _ := g.call("GET", "/ready", "", &ready); st == http.StatusOK && ready["sandboxes_recovering"] == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("sandboxes still being recovered a minute after the restart")
		}
	}
}

// waitNoneOwned waits up to a minute for a server id to have no
// container left (deletes remove them in the background) and returns
// those left then.
func waitNoneOwned(t *testing.T, engine *client.Client, serverID string) []container.Summary {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		left := ownedBy(t, engine, serverID)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeOwnedBy removes whatever a server id left on the engine.
func removeOwnedBy(engine *client.Client, serverID string) {
	if serverID == "" {
		return
	}
	list, _ := engine.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "gohands.server="+serverID))})
	for _, c := range list {
		engine.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// waitProcess waits until a process whose command line contains cmd runs
// in a container.
func waitProcess(t *testing.T, engine *client.Client, ctr, cmd string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		top, err := engine.ContainerTop(context.Background(), ctr, nil)
		if err != nil {
			t.Fatalf("processes of %s: %v", ctr, err)
		}
		for _, p := range top.Processes {
			if strings.Contains(strings.Join(p, " "), cmd) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q does not run in %s", cmd, ctr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// child is gohands running as a child process.
type child struct {
	api
	cmd      *exec.Cmd
	serverID string

	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan struct{}
}

var (
	servingAddr = regexp.MustCompile(`msg="gohands serving" addr=(\S+)`)
	servingID   = regexp.MustCompile(`server_id=(\S+)`)
)

// startChild runs argv (gohands, perhaps behind a wrapper) with env added
// to a clean environment, and waits until it listens.
func startChild(t *testing.T, argv []string, env map[string]string) *child {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv(env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{api: api{t: t}, cmd: cmd, exited: make(chan struct{})}
	serving := make(chan string, 1)
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.logs.WriteString(line + "\n")
			c.mu.Unlock()
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				id := ""
				if m := servingID.FindStringSubmatch(line); m != nil {
					id = m[1]
				}
				serving <- m[1] + " " + id
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("gohands (pid %d) logged:\n%s", cmd.Process.Pid, c.log())
		}
	})
	select {
	case s := <-serving:
		c.url, c.serverID, _ = strings.Cut(s, " ")
	case <-c.exited:
		t.Fatalf("gohands exited before listening:\n%s", c.log())
	case <-time.After(90 * time.Second):
		t.Fatalf("gohands did not listen within 90s:\n%s", c.log())
	}
	return c
}

// childEnv is the environment of a gohands child: this process's, less
// every setting of gohands, plus env, listening on a free local port.
func childEnv(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GOHANDS_"), strings.HasPrefix(k, "SANDBOX_"), strings.HasPrefix(k, "LLM_"),
			strings.HasPrefix(k, "OH_"), strings.HasPrefix(k, "OPENHANDS_"), strings.HasPrefix(k, "WORKSPACE_"),
			k == "SESSION_API_KEY", k == "OPENAI_API_KEY", k == "HOST", k == "PORT":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOST=127.0.0.1", "PORT=0")
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

// kill ends the process with SIGKILL and waits for it.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	<-c.exited
	if st := c.cmd.ProcessState; st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		c.t.Fatalf("gohands ended with %v, want killed by SIGKILL", st)
	}
}

// stop ends the process with SIGTERM and waits for it to exit cleanly.
func (c *child) stop() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		c.t.Fatal("gohands did not stop within 60s of SIGTERM")
	}
	if !c.cmd.ProcessState.Success() {
		c.t.Fatalf("gohands stopped with %v", c.cmd.ProcessState)
	}
}

// TestFaultServerKilled kills gohands with SIGKILL while two
// conversations run, one in the middle of a terminal command and one
// waiting for the model, with sockets attached. The next gohands on the
// same state has every event the sockets received, with the same seqs and
// no gaps; it re-adopts the running sandboxes (same containers); the
// conversation cut short in its command waits for confirmation and then
// finishes, the other resumes and finishes; and once both are deleted no
// container of the server is left.
func TestFaultServerKilled(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	bin := buildServer(t, dir)

	cmdModel := llmtest.New(t,
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"echo before > /workspace/before.txt"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"sleep 3; echo slept"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"done after the restart"}`}}},
	)
	waitModel := llmtest.New(t,
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"one"}`}}},
		// Killed while this answer is held back.
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"never seen"}`}}, Delay: 10 * time.Minute},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"resumed"}`}}},
	)
	env := map[string]string{
		"SESSION_API_KEY": "key", "OH_SECRET_KEY": "kill-test-secret",
		"GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": "test",
	}
	g := startChild(t, []string{bin}, env)
	serverID := g.serverID
	if serverID == "" {
		t.Fatal("gohands did not log its server id")
	}
	t.Cleanup(func() { removeOwnedBy(engine, serverID) })

	create := func(model *llmtest.Server) string {
		return g.create(fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"own-key"}},
			"initial_message":{"role":"user","content":[{"type":"text","text":"go"}]}}`, model.URL()+"/v1"))
	}
	cmdConv, waitConv := create(cmdModel), create(waitModel)
	cmdSocks := []*listener{listen(t, g.url, cmdConv), listen(t, g.url, cmdConv)}
	waitSock := listen(t, g.url, waitConv)

	// Kill while the command runs and the model holds its answer back.
	cmdSocks[0].waitFor("action running sleep", 2*time.Minute, func(f frame) bool {
		return f.Kind == "ActionEvent" && bytes.Contains(f.Raw, []byte("sleep 3"))
	})
	deadline := time.Now().Add(time.Minute)
	for len(waitModel.Requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second model call did not come")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sandboxes := map[string]string{}
	for _, id := range []string{cmdConv, waitConv} {
		info := g.info(id)
		for deadline := time.Now().Add(time.Minute); info.Sandbox.Status != "running"; info = g.info(id) {
			if time.Now().After(deadline) {
				t.Fatalf("conversation %s before the kill: sandbox %+v, want one running", id, info.Sandbox)
			}
			time.Sleep(20 * time.Millisecond)
		}
		sandboxes[id] = info.Sandbox.ID
	}
	waitProcess(t, engine, sandboxes[cmdConv], "sleep 3")
	g.kill()
	for _, l := range append(cmdSocks, waitSock) {
		l.gone(10 * time.Second)
	}
	if len(cmdSocks[0].received()) == 0 || len(waitSock.received()) == 0 {
		t.Fatal("the sockets received nothing before the kill")
	}
	t.Logf("killed with SIGKILL after the sockets received %d, %d and %d events",
		len(cmdSocks[0].received()), len(cmdSocks[1].received()), len(waitSock.received()))

	g = startChild(t, []string{bin}, env)
	if g.serverID != serverID {
		t.Fatalf("server id %s after the restart, was %s", g.serverID, serverID)
	}
	waitRecovered(t, g.api)
	for id, ctr := range sandboxes {
		stored := g.events(id)
		checkSeqs(t, "after the kill", stored)
		socks := []*listener{waitSock}
		if id == cmdConv {
			socks = cmdSocks
		}
		// Every event a socket received before the kill is stored, with
		// the same seq and id.
		for _, l := range socks {
			for _, f := range l.received() {
				if f.Seq > int64(len(stored)) || stored[f.Seq-1].ID != f.ID {
					t.Errorf("conversation %s: event seq %d id %s was received before the kill but is not stored so", id, f.Seq, f.ID)
				}
			}
		}
		// The sandbox was re-adopted: the same container, still running.
		if info := g.info(id); info.Sandbox.ID != ctr {
			t.Errorf("conversation %s: sandbox %q after the restart, want the same container %s", id, info.Sandbox.ID, ctr)
		}
		st, err := engine.ContainerInspect(context.Background(), ctr)
		if err != nil || !st.State.Running {
			t.Errorf("sandbox %s after the restart: %v (running %v)", ctr, err, err == nil && st.State.Running)
		}
	}

	// The action cut short waits for the user: it may have run, or not.
	info := g.waitStatus(cmdConv, time.Minute, "waiting_for_confirmation", "error", "finished")
	t.Logf("after the restart, the conversation cut short in its command is %s", info.ExecutionStatus)
	if info.ExecutionStatus == "error" {
		if _, ok := find(g.events(cmdConv), "ConversationErrorEvent"); !ok {
			t.Error("the conversation ended in error without an event saying why")
		}
		t.Fatalf("the conversation cut short ended in error; want it to wait for confirmation")
	}
	if info.ExecutionStatus == "waiting_for_confirmation" {
		if st, data := g.call("POST", "/api/conversations/"+cmdConv+"/events/respond_to_confirmation", `{"accept":true}`, nil); st != http.StatusOK {
			t.Fatalf("accept: status %d: %s", st, data)
		}
	}
	g.waitStatus(cmdConv, time.Minute, "finished")
	g.waitStatus(waitConv, time.Minute, "finished")
	evs := g.events(cmdConv)
	if _, ok := find(evs, "ObservationEvent", "slept"); !ok {
		t.Error("no observation of the command that was cut short, run again after the confirmation")
	}
	if _, ok := find(g.events(waitConv), "ActionEvent", "resumed"); !ok {
		t.Error("the conversation waiting for the model did not resume with the next answer")
	}
	if st, out, _ := g.bash(cmdConv, "cat /workspace/before.txt"); st != http.StatusOK || strings.TrimSpace(out) != "before" {
		t.Errorf("file written before the kill: status %d, %q", st, out)
	}

	// The sockets resume where they were and end with every event once.
	for _, l := range append(cmdSocks, waitSock) {
		l.connect(g.url)
		stored := g.events(l.conv)
		l.waitSeq(stored[len(stored)-1].Seq, 30*time.Second)
		l.checkOnce(stored)
	}

	for id := range sandboxes {
		if st, data := g.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
			t.Fatalf("delete %s: status %d: %s", id, st, data)
		}
	}
	if left := waitNoneOwned(t, engine, serverID); len(left) > 0 {
		t.Errorf("%d containers of server %s left after deleting every conversation: %v", len(left), serverID, left[0].Names)
	}
	g.stop()
}

// TestFaultSandboxKilled kills a conversation's container under a running
// command, first with SIGKILL while the agent loop waits on it, then by
// crashing the runtime-agent (SIGSEGV: a Go crash) under a command sent
// through the REST route. Each time there is an event saying so, and the
// next action gets a fresh sandbox with the same workspace: a file
// written before is there after.
func TestFaultSandboxKilled(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	ctx := context.Background()
	host := filepath.Join(dir, "ws")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	model := llmtest.New(t,
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"echo before > /workspace/before.txt"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"sleep 60"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"cat /workspace/before.txt"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"the file survived"}`}}},
	)
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
		"SANDBOX_VOLUMES": host + ":/workspace:rw",
		"LLM_MODEL":       "openai/scripted", "LLM_API_KEY": "test", "LLM_BASE_URL": model.URL() + "/v1",
	}
	g := start(t, env)
	defer g.shutdown()
	c := api{t: t, url: g.url}
	id := c.create(`{"initial_message":{"role":"user","content":[{"type":"text","text":"go"}]}}`)
	t.Cleanup(func() { removeConversationContainers(engine, id) })
	sock := listen(t, g.url, id)

	// SIGKILL under the agent loop's command.
	sock.waitFor("the sleep action", 2*time.Minute, func(f frame) bool {
		return f.Kind == "ActionEvent" && bytes.Contains(f.Raw, []byte("sleep 60"))
	})
	first := c.info(id).Sandbox.ID
	waitProcess(t, engine, first, "sleep 60")
	if err := engine.ContainerKill(ctx, first, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	dead := sock.waitFor("a sandbox error event", time.Minute, func(f frame) bool {
		return f.Kind == "SandboxStatusEvent" && bytes.Contains(f.Raw, []byte(`"status":"error"`))
	})
	t.Logf("after SIGKILL: %s", dead.Raw)
	if !bytes.Contains(dead.Raw, []byte("137")) && !bytes.Contains(dead.Raw, []byte("SIGKILL")) {
		t.Errorf("the sandbox error event does not say how the container ended: %s", dead.Raw)
	}
	g2 := api{t: t, url: g.url}
	g2.waitStatus(id, 2*time.Minute, "finished")
	evs := g2.events(id)
	if o, ok := find(evs, "ObservationEvent", "sleep 60"); !ok || !bytes.Contains(o.Raw, []byte(`"is_error":true`)) {
		t.Errorf("the command under the kill has no error observation: %s", o.Raw)
	}
	if o, ok := find(evs, "ObservationEvent", "cat /workspace/before.txt"); !ok || !bytes.Contains(o.Raw, []byte(`before`)) || bytes.Contains(o.Raw, []byte(`"is_error":true`)) {
		t.Errorf("the next action did not read the file written before the kill: %s", o.Raw)
	}
	second := c.info(id).Sandbox.ID
	if second == "" || second == first {
		t.Errorf("sandbox after the kill is %q, want a fresh one (the dead one was %s)", second, first)
	}
	if _, err := engine.ContainerInspect(ctx, first); err == nil {
		t.Errorf("the dead container %s is still on the engine", first)
	}

	// The runtime-agent crashes under a command sent through the REST route.
	type result struct {
		status int
		body   []byte
	}
	res := make(chan result, 1)
	go func() {
		req, _ := json.Marshal(map[string]any{"command": "sleep 60", "timeout": 120})
		st, body := c.call("POST", "/api/conversations/"+id+"/bash/execute_bash_command", string(req), nil)
		res <- result{st, body}
	}()
	waitProcess(t, engine, second, "sleep 60")
	if err := engine.ContainerKill(ctx, second, "SIGSEGV"); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(time.Minute):
		t.Fatal("the command under the crash did not answer within a minute")
	}
	t.Logf("the command under the crash: status %d: %s", r.status, r.body)
	if r.status < 500 {
		t.Errorf("the command under the crash answered %d, want a 5xx saying the sandbox failed", r.status)
	}
	crashed := sock.waitFor("an error event about the crashed sandbox", time.Minute, func(f frame) bool {
		return f.Kind == "SandboxStatusEvent" && bytes.Contains(f.Raw, []byte(`"status":"error"`)) &&
			bytes.Contains(f.Raw, []byte(`"sandbox_id":"`+second+`"`))
	})
	t.Logf("after the crash: %s", crashed.Raw)
	if !bytes.Contains(crashed.Raw, []byte("exited unexpectedly with code 2")) ||
		!bytes.Contains(crashed.Raw, []byte("the runtime-agent crashed: SIGSEGV: segmentation violation")) {
		t.Errorf("the event does not say the runtime-agent crashed (exit code 2, a Go crash, and its head line): %s", crashed.Raw)
	}
	if st, out, body := c.bash(id, "cat /workspace/before.txt"); st != http.StatusOK || strings.TrimSpace(out) != "before" {
		t.Errorf("the next command after the crash: status %d, stdout %q: %s", st, out, body)
	}
	if third := c.info(id).Sandbox.ID; third == "" || third == second {
		t.Errorf("sandbox after the crash is %q, want a fresh one (the crashed one was %s)", third, second)
	}
	checkSeqs(t, "after two sandbox deaths", c.events(id))
}

// engineProxy stands between gohands and the Docker engine: a Unix socket
// the test can take away (every connection cut, the socket file gone) and
// bring back, which is what gohands sees of an engine that stops and
// starts again. On network "tcp" it stands so before the Kubernetes API
// server (newAPIServerProxy).
type engineProxy struct {
	t       *testing.T
	network string // "unix" or "tcp"
	path    string // where gohands dials (DOCKER_HOST=unix://path, or host:port)
	target  string // the real engine's socket, or the API server's host:port

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newEngineProxy(t *testing.T, engine *client.Client, path string) *engineProxy {
	target, ok := strings.CutPrefix(engine.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("the engine is at %s, not on a local Unix socket this test can stand in front of", engine.DaemonHost())
	}
	p := &engineProxy{t: t, network: "unix", path: path, target: target, conns: make(map[net.Conn]bool)}
	t.Cleanup(p.down)
	return p
}

// up starts forwarding.
func (p *engineProxy) up() {
	p.t.Helper()
	ln, err := net.Listen(p.network, p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.path = ln.Addr().String() // a TCP port chosen by the first listen is kept
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e, err := net.DialTimeout(p.network, p.target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // taken down meanwhile
				p.mu.Unlock()
				c.Close()
				e.Close()
				return
			}
			p.conns[c], p.conns[e] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(c, e)
			go pipe(e, c)
		}
	}()
}

// down cuts every connection and removes the socket: the engine is gone.
func (p *engineProxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close() // removes the socket file too
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestFaultEngineUnreachable runs gohands with the Docker engine away at
// start and then taken away while it runs. The API stays up: /health
// answers, conversations are listed and created, and sandbox work answers
// 503 saying the engine does not answer. When the engine comes back,
// gohands recovers without a restart: the sandbox of a conversation from
// before the restart is re-adopted (a file in its container is still
// there), new conversations get sandboxes, and a sandbox that ran through
// the outage still works.
func TestFaultEngineUnreachable(t *testing.T) {
	engine, dir, agent := dockerSetup(t)
	proxy := newEngineProxy(t, engine, filepath.Join(dir, "docker.sock"))
	t.Setenv("DOCKER_HOST", "unix://"+proxy.path)
	env := map[string]string{
		"SESSION_API_KEY": "key", "OH_SECRET_KEY": "engine-test-secret",
		"GOHANDS_STATE": filepath.Join(dir, "state.db"), "GOHANDS_AGENT_BINARY": agent,
		"SANDBOX_POOL_SIZE": "0", "SANDBOX_RUN_DIR": filepath.Join(dir, "run"),
	}
	var serverID string
	t.Cleanup(func() { removeOwnedBy(engine, serverID) })
	engineDown := func(what string, status int, body []byte) {
		t.Helper()
		if status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("docker engine not reachable")) {
			t.Errorf("%s with the engine away: status %d: %s; want 503 saying the engine does not answer", what, status, body)
		}
	}

	// A conversation with a running sandbox, from before the outage.
	proxy.up()
	g := start(t, env)
	c := api{t: t, url: g.url}
	before := c.create(`{"initial_message":{"role":"user","content":[{"type":"text","text":"hi"}],"run":false}}`)
	if st, _, body := c.bash(before, "echo kept > /tmp/kept"); st != http.StatusOK {
		t.Fatalf("bash: status %d: %s", st, body)
	}
	ctr := c.info(before).Sandbox.ID
	inspect, err := engine.ContainerInspect(context.Background(), ctr)
	if err != nil {
		t.Fatal(err)
	}
	serverID = inspect.Config.Labels["gohands.server"]
	g.shutdown()
	// A container of this server that no conversation owns: an orphan,
	// which re-adoption removes once the engine answers.
	orphan, err := engine.ContainerCreate(context.Background(), &container.Config{
		Image: inspect.Config.Image, Entrypoint: []string{"sleep", "infinity"},
		Labels: map[string]string{"gohands.sandbox": "1", "gohands.server": serverID, "gohands.conversation": "no-such-conversation"},
	}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}

	// The engine is away at start.
	proxy.down()
	g = start(t, env)
	defer func() { g.shutdown() }()
	c = api{t: t, url: g.url}
	if st, body := c.call("GET", "/health", "", nil); st != http.StatusOK {
		t.Errorf("/health with the engine away: status %d: %s", st, body)
	}
	if st, body := c.call("GET", "/ready", "", nil); st != http.StatusServiceUnavailable {
		t.Errorf("/ready with the engine away: status %d: %s, want 503", st, body)
	}
	var list struct {
		Items []convInfo `json:"items"`
	}
	if st, body := c.call("GET", "/api/conversations/search", "", &list); st != http.StatusOK || len(list.Items) != 1 || list.Items[0].ID != before {
		t.Errorf("list with the engine away: status %d: %s", st, body)
	}
	during := c.create(`{"initial_message":{"role":"user","content":[{"type":"text","text":"hi"}],"run":false}}`)
	sock := listen(t, g.url, during)
	// Its sandbox starts on first use, which fails and says why.
	for _, id := range []string{before, during} {
		st, _, body := c.bash(id, "true")
		engineDown("bash in "+id, st, body)
	}
	failed := sock.waitFor("a sandbox error event", time.Minute, func(f frame) bool {
		return f.Kind == "SandboxStatusEvent" && bytes.Contains(f.Raw, []byte(`"status":"error"`))
	})
	if !bytes.Contains(failed.Raw, []byte("docker engine not reachable")) {
		t.Errorf("the sandbox error event does not say the engine is away: %s", failed.Raw)
	}
	st, body := c.call("GET", "/api/conversations/"+before+"/file/list?path=/tmp", "", nil)
	engineDown("file list", st, body)

	// The engine comes back.
	proxy.up()
	if st, _ := c.call("GET", "/ready", "", nil); st != http.StatusOK {
		t.Errorf("/ready with the engine back: status %d", st)
	}
	if st, out, body := c.bash(before, "cat /tmp/kept"); st != http.StatusOK || strings.TrimSpace(out) != "kept" {
		t.Errorf("bash in the conversation from before, with the engine back: status %d, stdout %q: %s; want its own sandbox with the file", st, out, body)
	}
	if got := c.info(before).Sandbox.ID; got != ctr {
		t.Errorf("the conversation from before has sandbox %s, want the one it had, %s, re-adopted", got, ctr)
	}
	// The orphan goes without a restart.
	waitRemoved(t, engine, orphan.ID, "the orphan container")
	if st, out, body := c.bash(during, "echo up"); st != http.StatusOK || strings.TrimSpace(out) != "up" {
		t.Errorf("bash in the conversation made during the outage, with the engine back: status %d, stdout %q: %s", st, out, body)
	}

	// The engine goes away while gohands runs.
	proxy.down()
	if st, body := c.call("GET", "/health", "", nil); st != http.StatusOK {
		t.Errorf("/health with the engine gone: status %d: %s", st, body)
	}
	after := c.create(`{"initial_message":{"role":"user","content":[{"type":"text","text":"hi"}],"run":false}}`)
	st, _, body = c.bash(after, "true")
	engineDown("bash in a conversation made while the engine is gone", st, body)
	// A sandbox that runs is reached directly, not through the engine.
	if st, out, body := c.bash(before, "echo still"); st != http.StatusOK || strings.TrimSpace(out) != "still" {
		t.Errorf("bash in a running sandbox with the engine gone: status %d, stdout %q: %s", st, out, body)
	}
	// A conversation deleted while the engine is gone is deleted; its
	// sandbox goes once the engine is back.
	if st, body := c.call("DELETE", "/api/conversations/"+before, "", nil); st != http.StatusOK {
		t.Errorf("delete with the engine gone: status %d: %s", st, body)
	}
	if st, body := c.call("GET", "/api/conversations/"+before, "", nil); st != http.StatusNotFound {
		t.Errorf("get after the delete with the engine gone: status %d: %s, want 404", st, body)
	}
	proxy.up()
	if st, out, body := c.bash(after, "echo up"); st != http.StatusOK || strings.TrimSpace(out) != "up" {
		t.Errorf("bash with the engine back again: status %d, stdout %q: %s", st, out, body)
	}
	waitRemoved(t, engine, ctr, "the sandbox of the conversation deleted with the engine gone")

	for _, id := range []string{during, after} {
		if st, body := c.call("DELETE", "/api/conversations/"+id, "", nil); st != http.StatusOK {
			t.Errorf("delete %s: status %d: %s", id, st, body)
		}
	}
	if left := waitNoneOwned(t, engine, serverID); len(left) > 0 {
		t.Errorf("%d containers of server %s left after deleting every conversation", len(left), serverID)
	}
}

// waitRemoved fails unless the container is removed within a minute.
func waitRemoved(t *testing.T, engine *client.Client, id, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := engine.ContainerInspect(context.Background(), id)
		if cerrdefs.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s is still there after a minute (inspect: %v)", what, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFaultModel gives three conversations a model that fails, each its
// own way: it never answers (each attempt times out), it answers 500, or
// it closes the connection. Each tries a bounded number of times (the
// conversation's num_retries + 1), then ends in error with an event
// saying why, and tries no more. Meanwhile a conversation with a working
// model runs to the end and the API answers.
func TestFaultModel(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // no sandboxes: the agent only thinks
	g := start(t, map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": filepath.Join(dir, "state.db"),
		"GOHANDS_AGENT_BINARY": placeholderAgent(t), "SANDBOX_POOL_SIZE": "0",
		"LLM_MODEL": "openai/scripted", "LLM_API_KEY": "test",
	})
	defer g.shutdown()
	c := api{t: t, url: g.url}
	const retries = 2
	create := func(model *llmtest.Server, timeout float64) string {
		return c.create(fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"own-key",
			"timeout":%v,"num_retries":%d,"retry_min_wait":0.01,"retry_max_wait":0.05}},
			"initial_message":{"role":"user","content":[{"type":"text","text":"go"}]}}`, model.URL()+"/v1", timeout, retries))
	}
	faults := []struct {
		name   string
		step   llmtest.Step
		detail string // in the error event
	}{
		{"hangs", llmtest.Reply{Text: "too late", Delay: 10 * time.Minute}, "no answer within"},
		{"500", llmtest.Fail{Status: 500, Message: "the model broke"}, "the model broke"},
		{"drops", llmtest.Drop{}, "connection"},
	}
	models := make([]*llmtest.Server, len(faults))
	ids := make([]string, len(faults))
	for i, f := range faults {
		models[i] = llmtest.New(t)
		models[i].SetDefault(f.step)
		timeout := 30.0
		if f.name == "hangs" {
			timeout = 2 // three attempts: about 6 s of trying
		}
		ids[i] = create(models[i], timeout)
	}

	// A conversation whose model works finishes while the hanging one
	// still waits for its model.
	deadline := time.Now().Add(time.Minute)
	for len(models[0].Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hanging model got no request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	good := llmtest.New(t,
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"one"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "think", Args: `{"thought":"two"}`}}},
		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "finish", Args: `{"message":"fine"}`}}},
	)
	working := create(good, 30)
	c.waitStatus(working, time.Minute, "finished")
	if st := c.info(ids[0]).ExecutionStatus; st != "running" {
		t.Errorf("the conversation with the hanging model is %s once the other finished; want it still running", st)
	}
	var count int
	if st, body := c.call("GET", "/api/conversations/count", "", &count); st != http.StatusOK || count != 4 {
		t.Errorf("count while a model hangs: status %d, %s", st, body)
	}

	for i, f := range faults {
		c.waitStatus(ids[i], time.Minute, "error")
		e, ok := find(c.events(ids[i]), "ConversationErrorEvent", `"code":"LLMError"`)
		if !ok {
			t.Errorf("model that %s: no ConversationErrorEvent with code LLMError", f.name)
			continue
		}
		t.Logf("model that %s: %s", f.name, e.Raw)
		want := fmt.Sprintf("%d attempts", retries+1)
		if !bytes.Contains(e.Raw, []byte(want)) || !bytes.Contains(e.Raw, []byte(f.detail)) {
			t.Errorf("model that %s: the error event does not say %q and %q: %s", f.name, want, f.detail, e.Raw)
		}
	}
	time.Sleep(200 * time.Millisecond) // a retry too many would come now
	for i, f := range faults {
		if n := len(models[i].Requests()); n != retries+1 {
			t.Errorf("model that %s was asked %d times, want %d (num_retries %d + 1)", f.name, n, retries+1, retries)
		}
	}
}

// TestFaultDiskFull runs gohands with a file size limit (RLIMIT_FSIZE) a
// little above its state file's size, which is what a full disk looks
// like to it: the state file cannot grow. Writes answer 503 with a log
// line, each message is either acknowledged and stored or refused and not
// stored, and reads keep working. When space comes back (the limit lifted
// on the running process), writes work again and the seqs go on without a
// gap; after a restart everything acknowledged is there.
func TestFaultDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs gohands as a child process; skipped under -short")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is needed to limit the child's file size")
	}
	dir := t.TempDir()
	bin := buildServer(t, dir)
	state := filepath.Join(dir, "state.db")
	env := map[string]string{
		"SESSION_API_KEY": "key", "GOHANDS_STATE": state, "GOHANDS_AGENT_BINARY": placeholderAgent(t),
		"SANDBOX_POOL_SIZE": "0", "DOCKER_HOST": "unix:///nonexistent.sock", // no sandboxes
	}
	g := startChild(t, []string{bin}, env)
	id := g.create(`{"title":"full","initial_message":{"role":"user","content":[{"type":"text","text":"msg-0"}],"run":false}}`)
	g.stop()
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	limit := fi.Size() + 64<<10
	t.Logf("state file %d bytes; file size limit %d", fi.Size(), limit)

	g = startChild(t, []string{prlimit, fmt.Sprintf("--fsize=%d:unlimited", limit), "--", bin}, env)
	big := strings.Repeat("x", 128<<10)
	var acked, refused []string
	for i := 1; len(refused) < 3 && i < 2000; i++ {
		text := fmt.Sprintf("msg-%d %s", i, big)
		body, _ := json.Marshal(map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": text}}, "run": false})
		switch st, data := g.call("POST", "/api/conversations/"+id+"/events", string(body), nil); st {
		case http.StatusOK:
			acked = append(acked, fmt.Sprintf("msg-%d ", i))
		case http.StatusServiceUnavailable:
			refused = append(refused, fmt.Sprintf("msg-%d ", i))
			if len(refused) == 1 {
				t.Logf("after %d messages: %s", i-1, data)
			}
		default:
			t.Fatalf("message %d: status %d: %s; want 200 or 503", i, st, data)
		}
	}
	if len(refused) == 0 {
		t.Fatal("no write failed: the file size limit did not bite")
	}
	fi, _ = os.Stat(state)
	t.Logf("%d messages acknowledged, then %d refused; state file %d bytes", len(acked), len(refused), fi.Size())
	if log := g.log(); !regexp.MustCompile(`level=ERROR msg="request failed".*status=503.*file too large`).MatchString(log) {
		t.Errorf("no log line says a request failed with 503 because the file cannot grow:\n%s", log)
	}

	// Reads work, and what was acknowledged is stored, once, and what was
	// refused is not.
	check := func(when string, acked, refused []string) []frame {
		t.Helper()
		if info := g.info(id); info.ID != id {
			t.Fatalf("%s: conversation %+v", when, info)
		}
		evs := g.events(id)
		checkSeqs(t, when, evs)
		stored := map[string]int{} // "msg-N " -> times stored
		for _, e := range evs {
			if _, text, ok := bytes.Cut(e.Raw, []byte(`"text":"msg-`)); ok {
				if n := bytes.IndexByte(text, ' '); n >= 0 {
					stored["msg-"+string(text[:n+1])]++
				}
			}
		}
		for _, m := range acked {
			if stored[m] != 1 {
				t.Errorf("%s: acknowledged message %q is stored %d times", when, m, stored[m])
			}
		}
		for _, m := range refused {
			if stored[m] != 0 {
				t.Errorf("%s: refused message %q is stored", when, m)
			}
		}
		return evs
	}
	before := check("with the disk full", acked, refused)

	// Space comes back.
	if out, err := exec.Command(prlimit, fmt.Sprintf("--pid=%d", g.cmd.Process.Pid), "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("lift the limit: %v: %s", err, out)
	}
	body, _ := json.Marshal(map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "msg-after "}}, "run": false})
	if st, data := g.call("POST", "/api/conversations/"+id+"/events", string(body), nil); st != http.StatusOK {
		t.Fatalf("message with space back: status %d: %s", st, data)
	}
	acked = append(acked, "msg-after ")
	after := check("with space back", acked, refused)
	if len(after) != len(before)+1 {
		t.Errorf("%d events after one more message, %d before", len(after), len(before))
	}
	g.stop()

	g = startChild(t, []string{bin}, env)
	defer g.stop()
	if restarted := check("after a restart", acked, refused); len(restarted) != len(after) {
		t.Errorf("%d events after the restart, %d before", len(restarted), len(after))
	}
}

// lockedBuffer collects log lines written from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFaultStateReadOnly serves a state file opened read-only (gohands
// has no switch for it, so the test wires the store, the conversations
// and the HTTP layer itself, as run does). Reads answer as before; every
// write answers 503 with a log line; the file is not touched, and a
// read-write gohands afterwards finds everything as it was and writes.
func TestFaultStateReadOnly(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // no sandboxes
	state := filepath.Join(dir, "state.db")
	env := map[string]string{
		"SESSION_API_KEY": "key", "OH_SECRET_KEY": "read-only-secret", "GOHANDS_STATE": state,
		"GOHANDS_AGENT_BINARY": placeholderAgent(t), "SANDBOX_POOL_SIZE": "0",
	}
	g := start(t, env)
	c := api{t: t, url: g.url}
	id := c.create(`{"title":"kept","secrets":{"TOKEN":"s3cret"},
		"initial_message":{"role":"user","content":[{"type":"text","text":"one"}],"run":false}}`)
	if st, body := c.call("POST", "/api/conversations/"+id+"/events", `{"role":"user","content":[{"type":"text","text":"two"}],"run":false}`, nil); st != http.StatusOK {
		t.Fatalf("message: status %d: %s", st, body)
	}
	// The message is the last write: a conversation starts no sandbox
	// until something needs one.
	before := c.events(id)
	if _, ok := find(before, "SandboxStatusEvent"); ok {
		t.Fatalf("a sandbox start was tried for a conversation that needs none: %v", before)
	}
	g.shutdown()
	sum := func() [32]byte {
		data, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(data)
	}
	was := sum()

	store, err := storage.Open(state, storage.Options{ReadOnly: true, SecretKey: env["OH_SECRET_KEY"]})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m, err := session.New(session.Options{Store: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(server.New(server.Config{Logger: logger, Conversations: m, APIKeys: []string{"key"}}))
	ro := api{t: t, url: hs.URL}
	same := func(when string, evs []frame) {
		t.Helper()
		if len(evs) != len(before) {
			t.Fatalf("%s: %d events, %d before", when, len(evs), len(before))
		}
		for i := range evs {
			if !bytes.Equal(evs[i].Raw, before[i].Raw) {
				t.Errorf("%s: event %d is\n%s\nwas\n%s", when, i, evs[i].Raw, before[i].Raw)
			}
		}
	}
	var info struct {
		Title   string   `json:"title"`
		Secrets []string `json:"secrets"`
	}
	if st, body := ro.call("GET", "/api/conversations/"+id, "", &info); st != http.StatusOK || info.Title != "kept" || len(info.Secrets) != 1 {
		t.Errorf("read-only: get: status %d: %s", st, body)
	}
	same("read-only", ro.events(id))
	writes := []struct{ method, path, body string }{
		{"POST", "/api/conversations", `{"initial_message":{"role":"user","content":[{"type":"text","text":"new"}],"run":false}}`},
		{"POST", "/api/conversations/" + id + "/events", `{"role":"user","content":[{"type":"text","text":"three"}],"run":false}`},
		{"PATCH", "/api/conversations/" + id, `{"title":"renamed"}`},
		{"POST", "/api/conversations/" + id + "/secrets", `{"secrets":{"OTHER":"v"}}`},
		{"POST", "/api/conversations/" + id + "/pause", ``},
		{"DELETE", "/api/conversations/" + id, ``},
	}
	// A socket attached before the refused delete stays open: a delete
	// the store refuses changes nothing.
	sock := listen(t, hs.URL, id)
	sock.waitSeq(before[len(before)-1].Seq, 10*time.Second)
	for _, w := range writes {
		st, body := ro.call(w.method, w.path, w.body, nil)
		if st != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("store unavailable")) {
			t.Errorf("read-only: %s %s: status %d: %s; want 503 saying the store is unavailable", w.method, w.path, st, body)
		}
	}
	if n := strings.Count(logs.String(), `msg="request failed"`); n != len(writes) {
		t.Errorf("%d log lines of failed requests for %d refused writes:\n%s", n, len(writes), logs.String())
	}
	if st, body := ro.call("GET", "/api/conversations/"+id, "", &info); st != http.StatusOK || info.Title != "kept" {
		t.Errorf("read-only: get after the refused writes: status %d: %s", st, body)
	}
	same("read-only, after the refused writes", ro.events(id))
	select {
	case <-sock.done:
		t.Error("read-only: the refused delete closed the conversation's socket")
	case <-time.After(200 * time.Millisecond):
	}
	sock.close()
	hs.Close()
	if err := m.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if err := store.Close(); err != nil {
		t.Error(err)
	}
	if sum() != was {
		t.Error("serving the file read-only changed it")
	}

	g = start(t, env)
	defer g.shutdown()
	c = api{t: t, url: g.url}
	same("read-write again", c.events(id))
	if st, body := c.call("POST", "/api/conversations/"+id+"/events", `{"role":"user","content":[{"type":"text","text":"three"}],"run":false}`, nil); st != http.StatusOK {
		t.Fatalf("message when writable again: status %d: %s", st, body)
	}
	checkSeqs(t, "read-write again", c.events(id))
}
