package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestV0SandboxUnreachable: a V0 run or read whose sandbox cannot be
// reached (no engine answers) is answered, as an action of the agent is,
// by its observation saying the action could not run, and not by an
// error frame; the socket goes on serving.
func TestV0SandboxUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	g := start(t, lightEnv(t, nil))
	defer g.shutdown()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(g.url, "http")+"/ws?session_api_key=key", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	type v0Frame struct {
		Action      string         `json:"action"`
		Observation string         `json:"observation"`
		Content     string         `json:"content"`
		Cause       *int64         `json:"cause"`
		Extras      map[string]any `json:"extras"`
	}
	next := func() v0Frame {
		t.Helper()
		_, raw, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("V0 socket: %v", err)
		}
		var f v0Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("V0 frame %s: %v", raw, err)
		}
		return f
	}
	send := func(frame string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}

	// The stored observations have a cause (a terminal's is a V0 "run",
	// a file editor's with is_error a V0 "error"); an error frame has none.
	send(`{"action":"run","args":{"command":"echo hello"}}`)
	send(`{"action":"read","args":{"path":"/workspace/notes.txt"}}`)
	var fs []v0Frame
	for stored := 0; stored < 2; {
		f := next()
		fs = append(fs, f)
		if f.Observation != "" && f.Cause != nil {
			stored++
		}
	}
	// A think needs no sandbox: sent once both observations are in, its
	// observation comes after any error frame of the two actions.
	send(`{"action":"think","args":{"thought":"still here"}}`)
	for f := next(); f.Observation != "think"; f = next() {
		fs = append(fs, f)
	}
	for _, f := range fs {
		switch {
		case f.Observation == "error" && f.Cause == nil:
			t.Errorf("error frame %q (%v), want none: the observation says the action could not run", f.Content, f.Extras)
		case f.Cause != nil && !strings.HasPrefix(f.Content, "The action could not run: "):
			t.Errorf("%s observation %q, want it to say the action could not run", f.Observation, f.Content)
		}
	}
}
