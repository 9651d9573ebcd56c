package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
)

// fuzzBodyLimit is the MaxBodyBytes of the fuzzed server: small, so that
// inputs reach the 413 path.
const fuzzBodyLimit = 2048

// FuzzCreateRequest posts arbitrary bodies to POST /api/conversations. The
// server must answer 200 or 201 with a conversation, 413 for a body over
// the limit, or 422 with a detail; anything else (a 500, which is also
// what gin's recovery makes of a panic) is a bug.
func FuzzCreateRequest(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"conversation_id": "fuzz-1", "title": "t"}`,
		`{"agent": {"llm": {"model": "m", "api_key": "k", "base_url": "http://x"}, "tools": [{"name": "TerminalTool"}, {"name": "file_editor", "params": {"a": 1}}]}}`,
		`{"workspace": {"working_dir": "/workspace/p"}, "max_iterations": 3, "stuck_detection": false}`,
		`{"initial_message": {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "image_urls": ["data:,"]}], "run": true}}`,
		`{"initial_message": {"role": "user", "content": "plain text"}}`,
		`{"initial_message": {"role": "system", "content": "x"}}`,
		`{"secrets": {"A": "v", "B": {"value": "w", "description": "d"}, "1bad": "x"}}`,
		`{"confirmation_policy": {"kind": "ConfirmRisky", "threshold": "HIGH", "confirm_unknown": true}}`,
		`{"security_analyzer": {"kind": "LLMSecurityAnalyzer", "extra": [1, 2]}}`,
		`{"sandbox": {"memory": "512m", "cpus": 1.5, "pids_limit": 10, "network": "none"}}`,
		`{"max_iterations": "x"}`,
		`{"agent": {"llm": {"model": 5}}}`,
		`{"max_iterations": 1e400}`,
		`{"title": "\ud800"}`,
		`{"conversation_id": "` + strings.Repeat("a", 200) + `"}`,
		`{"title": "` + strings.Repeat("x", fuzzBodyLimit) + `"}`,
		`{"title": `,
		`[]`,
		`null`,
		`"string"`,
		``,
		"\x00",
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, options{keep: true, config: func(c *server.Config) { c.MaxBodyBytes = fuzzBodyLimit }})
	srv := e.srv
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/conversations", bytes.NewReader(body))
		req.Host = "localhost" // a server without a key answers only its own names
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			var info session.Info
			if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || info.ID == "" {
				t.Fatalf("%d with %s (%v)", rec.Code, rec.Body, err)
			}
			if len(body) > fuzzBodyLimit {
				t.Fatalf("a body of %d bytes was taken; the limit is %d", len(body), fuzzBodyLimit)
			}
		case http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			var d struct {
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || d.Detail == "" {
				t.Fatalf("%d without a detail: %s (%v)", rec.Code, rec.Body, err)
			}
			if (rec.Code == http.StatusRequestEntityTooLarge) != (len(body) > fuzzBodyLimit) {
				t.Fatalf("%d for a body of %d bytes (limit %d): %s", rec.Code, len(body), fuzzBodyLimit, d.Detail)
			}
		default:
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzSocketFrame sends arbitrary frames to /sockets/events/{id}: first as
// the frame of a socket that has not sent its key (only the auth frame
// with the right key lets it in; anything else closes it with 4001), then
// on a socket that has (each frame is a user message, stored and sent
// back, or answered with an error event, and the socket keeps working).
func FuzzSocketFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type": "auth", "session_api_key": "fuzz-key"}`,
		`{"type": "auth", "session_api_key": "wrong"}`,
		`{"type": "auth", "session_api_key": 7}`,
		`{"type": "AUTH", "session_api_key": "fuzz-key"}`,
		`{"TYPE": "auth", "Session_Api_Key": "fuzz-key"}`,
		`{"type": "auth"}`,
		`{"role": "user", "content": [{"type": "text", "text": "hello"}]}`,
		`{"role": "user", "content": "hello", "run": false}`,
		`{"role": "user", "content": [{"type": "image", "image_urls": ["data:,"]}]}`,
		`{"role": "assistant", "content": "x"}`,
		`{"role": "user", "content": []}`,
		`{"role": "user", "content": [{"type": "text", "text": 5}]}`,
		`{"content": [{"type": "video"}]}`,
		`{}`, `[]`, `null`, `"auth"`, `not json`, ``, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	const key = "fuzz-key"
	e := newEnv(f, options{keep: true, config: func(c *server.Config) { c.APIKeys = []string{key} }})
	a, _, err := e.convs.Create(context.Background(), session.CreateRequest{})
	if err != nil {
		f.Fatal(err)
	}
	events := e.wsURL("/sockets/events/" + a.ID())

	f.Fuzz(func(t *testing.T, data []byte) {
		// As the first frame of a socket without a key.
		s := dialT(t, events)
		s.send(data)
		var auth struct {
			Type string `json:"type"`
			Key  string `json:"session_api_key"`
		}
		isAuth := json.Unmarshal(data, &auth) == nil && auth.Type == "auth" && auth.Key == key
		msg, err := s.tryRead(4 * time.Second)
		var ce *websocket.CloseError
		switch {
		case err == nil:
			var fr frame
			if json.Unmarshal(msg, &fr) != nil || fr.Key != "full_state" || !isAuth {
				t.Fatalf("first frame %q let in with %s", data, msg)
			}
		case asCloseError(err, &ce):
			if ce.Code != 4001 || isAuth {
				t.Fatalf("first frame %q: close %d %q", data, ce.Code, ce.Text)
			}
		default:
			t.Fatalf("first frame %q: %v", data, err)
		}
		s.c.Close()

		// On an authenticated socket: one answer to the frame, then a
		// good frame still works.
		s = dialT(t, events+"?session_api_key="+key)
		if raw, err := s.tryRead(4 * time.Second); err != nil || !strings.Contains(string(raw), `"full_state"`) {
			t.Fatalf("first frame of an authenticated socket: %q %v", raw, err)
		}
		s.send(data)
		nonce := "sentinel " + randomHex(8)
		s.send(map[string]any{"role": "user", "content": nonce, "run": false})
		answers, sentinel := 0, false
		for answers < 1 || !sentinel {
			raw, err := s.tryRead(4 * time.Second)
			if err != nil {
				t.Fatalf("frame %q: after %d answers (sentinel back: %v): %v", data, answers, sentinel, err)
			}
			var fr frame
			if err := json.Unmarshal(raw, &fr); err != nil {
				t.Fatalf("frame %q answered with %q", data, raw)
			}
			switch {
			case fr.Kind == "MessageEvent" && fr.text() == nonce:
				sentinel = true
			case fr.Kind == "MessageEvent" && fr.Source == "user" && fr.Seq > 0:
				answers++
			case fr.Kind == "ServerErrorEvent" && fr.Seq == 0 && fr.Detail != "":
				answers++
			default:
				t.Fatalf("frame %q answered with %+v", data, fr)
			}
		}
		if answers != 1 {
			t.Fatalf("frame %q answered %d times", data, answers)
		}
		s.c.Close()
	})
}

// dialT opens a socket for one fuzz input.
func dialT(t *testing.T, url string) *socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return &socket{t: t, c: c}
}
