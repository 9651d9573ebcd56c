package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// v0Frame is a frame of the V0 protocol: an action or an observation.
type v0Frame struct {
	ID          int64          `json:"id"`
	Source      string         `json:"source"`
	Message     string         `json:"message"`
	Action      string         `json:"action"`
	Args        map[string]any `json:"args"`
	Observation string         `json:"observation"`
	Content     string         `json:"content"`
	Cause       *int64         `json:"cause"`
	Extras      map[string]any `json:"extras"`
}

func (s *socket) v0() v0Frame {
	s.t.Helper()
	data := s.read()
	var f v0Frame
	if err := json.Unmarshal(data, &f); err != nil {
		s.t.Fatalf("V0 frame %s: %v", data, err)
	}
	if f.Action == "" && f.Observation == "" {
		s.t.Fatalf("V0 frame %s is neither an action nor an observation", data)
	}
	return f
}

// v0Until reads V0 frames until one matches and returns them all.
func (s *socket) v0Until(match func(v0Frame) bool) []v0Frame {
	s.t.Helper()
	var out []v0Frame
	for range 1000 {
		f := s.v0()
		out = append(out, f)
		if match(f) {
			return out
		}
	}
	s.t.Fatal("no matching V0 frame")
	return nil
}

func observation(name string) func(v0Frame) bool {
	return func(f v0Frame) bool { return f.Observation == name }
}

// actionBefore returns the last action frame among fs.
func actionBefore(t *testing.T, fs []v0Frame) v0Frame {
	t.Helper()
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Action != "" {
			return fs[i]
		}
	}
	t.Fatalf("no action among %+v", fs)
	return v0Frame{}
}

func TestV0Socket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	s := e.dial("/ws", nil)

	// The first action creates the conversation.
	s.send(`{"action":"run","args":{"command":"echo hello"}}`)
	fs := s.v0Until(observation("run"))
	if fs[0].Observation != "agent_state_changed" || fs[0].Extras["agent_state"] != "awaiting_user_input" {
		t.Errorf("first frame %+v, want agent_state_changed to awaiting_user_input", fs[0])
	}
	run := actionBefore(t, fs)
	obs := fs[len(fs)-1]
	if run.Action != "run" || run.Args["command"] != "echo hello" || run.Source != "user" {
		t.Errorf("run action %+v", run)
	}
	if !strings.Contains(obs.Content, "hello") || obs.Extras["exit_code"] != float64(0) || obs.Extras["command"] != "echo hello" {
		t.Errorf("run observation %+v, want hello with exit code 0", obs)
	}
	if obs.Cause == nil || *obs.Cause != run.ID || obs.ID <= run.ID {
		t.Errorf("run observation id %d cause %v, action id %d", obs.ID, obs.Cause, run.ID)
	}

	var p conversationPage
	e.call(http.MethodGet, "/api/conversations/search", nil, http.StatusOK, &p)
	if len(p.Items) != 1 {
		t.Fatalf("%d conversations after the first V0 action, want 1", len(p.Items))
	}
	id := p.Items[0].ID

	// Write then read back, with both spellings of the content.
	s.send(`{"action":"write","args":{"path":"/workspace/v0.txt","content":"written over V0\n"}}`)
	fs = s.v0Until(observation("write"))
	write := actionBefore(t, fs)
	if w := fs[len(fs)-1]; w.Extras["path"] != "/workspace/v0.txt" || *w.Cause != write.ID {
		t.Errorf("write observation %+v", w)
	}
	s.send(`{"action":"read","args":{"path":"/workspace/v0.txt"}}`)
	fs = s.v0Until(observation("read"))
	if r := fs[len(fs)-1]; !strings.Contains(r.Content, "written over V0") || r.Extras["path"] != "/workspace/v0.txt" {
		t.Errorf("read observation %+v, want the written text", r)
	}
	s.send(`{"action":"write","args":{"path":"/workspace/v0.txt","contents":"second version"}}`)
	s.v0Until(observation("write"))
	s.send(`{"action":"read","args":{"path":"/workspace/v0.txt"}}`)
	fs = s.v0Until(observation("read"))
	last := fs[len(fs)-1]
	if !strings.Contains(last.Content, "second version") {
		t.Errorf("read after writing with contents: %+v", last)
	}
	// Reading a file that is not there is an error observation, not a
	// broken socket.
	s.send(`{"action":"read","args":{"path":"/workspace/missing.txt"}}`)
	fs = s.v0Until(func(f v0Frame) bool { return f.Observation != "" && f.Cause != nil })
	if f := fs[len(fs)-1]; f.Observation != "error" && !strings.Contains(f.Content, "missing") {
		t.Errorf("read of a missing file: %+v", f)
	}

	// A bad frame gets an error back and the socket stays up.
	for _, bad := range []string{`not json`, `{"action":"fly"}`, `{"args":{}}`} {
		s.send(bad)
		if f := s.v0(); f.Observation != "error" || f.Content == "" {
			t.Errorf("after %s got %+v, want an error observation", bad, f)
		}
	}
	s.send(`{"action":"run","args":{"command":"echo still here"}}`)
	fs = s.v0Until(observation("run"))
	if f := fs[len(fs)-1]; !strings.Contains(f.Content, "still here") {
		t.Errorf("run after bad frames: %+v", f)
	}
	final := fs[len(fs)-1].ID

	// ?latest_event_id=N replays what came after N, in order.
	again := e.dial(fmt.Sprintf("/ws?conversation_id=%s&latest_event_id=%d", id, obs.ID), nil)
	replayed := again.v0Until(func(f v0Frame) bool { return f.ID == final })
	if replayed[0].ID != write.ID {
		t.Errorf("first replayed frame %+v, want the write action %d (the first event after %d)", replayed[0], write.ID, obs.ID)
	}
	for i, f := range replayed {
		if f.ID <= obs.ID || (i > 0 && f.ID <= replayed[i-1].ID) {
			t.Errorf("replayed frame %d has id %d after %d (asked after %d)", i, f.ID, replayed[max(i-1, 0)].ID, obs.ID)
		}
	}
	// Joined with no latest_event_id, it replays everything.
	all := e.dial("/ws?conversation_id="+id, nil)
	if f := all.v0(); f.ID != run.ID || f.Action != "run" {
		t.Errorf("first frame of a full replay %+v, want the first run action %d", f, run.ID)
	}
	// The joined socket acts on the same conversation.
	again.send(`{"action":"run","args":{"command":"cat /workspace/v0.txt"}}`)
	fs = again.v0Until(observation("run"))
	if f := fs[len(fs)-1]; !strings.Contains(f.Content, "second version") {
		t.Errorf("run over the joined socket: %+v", f)
	}
	e.call(http.MethodGet, "/api/conversations/search", nil, http.StatusOK, &p)
	if len(p.Items) != 1 {
		t.Errorf("%d conversations, want still 1", len(p.Items))
	}
	for _, q := range []string{"latest_event_id=x", "latest_event_id=-2"} {
		if status, body := e.request(http.MethodGet, "/ws?conversation_id="+id+"&"+q, nil, nil); status != http.StatusUnprocessableEntity {
			t.Errorf("/ws?%s: %d %s, want 422", q, status, body)
		}
	}
	if code, _ := e.dial("/ws?conversation_id=nope", nil).closed(nil); code != 4004 {
		t.Errorf("/ws for an unknown conversation: close %d, want 4004", code)
	}

	// A background run answers at once with the id kill takes; killing it
	// twice, or an id that never ran, is an error frame.
	again.send(`{"action":"run","args":{"command":"echo started; sleep 100","background":true}}`)
	fs = again.v0Until(observation("run"))
	bg := fs[len(fs)-1]
	if bg.Extras["exit_code"] != float64(-1) || bg.Extras["command_id"] != float64(1) ||
		!strings.Contains(bg.Content, "started") || !strings.Contains(bg.Content, "background as command 1") {
		t.Fatalf("background run: %+v, want exit code -1, command_id 1 and its first output", bg)
	}
	again.send(`{"action":"kill","args":{"id":1}}`)
	fs = again.v0Until(observation("run"))
	if k := fs[len(fs)-1]; !strings.Contains(k.Content, "command 1 killed") {
		t.Errorf("kill: %+v", k)
	}
	again.send(`{"action":"kill","args":{"id":1}}`)
	if f := again.v0Until(observation("error")); !strings.Contains(f[len(f)-1].Content, "no background command 1") {
		t.Errorf("second kill: %+v, want an error naming the command", f[len(f)-1])
	}
}
