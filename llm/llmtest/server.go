// Package llmtest runs a scripted language model for tests: a real HTTP
// server that speaks OpenAI chat completions (POST /v1/chat/completions,
// also /chat/completions) and Anthropic messages (POST /v1/messages), and
// answers each request with the next step of a script: a reply with text
// and tool calls, or a failure on cue (an error status, a slow answer, a
// dropped connection, malformed tool arguments).
//
// It checks each request the way the real APIs do where it matters for a
// conversation with tools (tool results answer the calls of the assistant
// message before them, Anthropic's max_tokens is set, text blocks are not
// empty, ...), refuses a malformed one with 400 without using a step, and
// records every request it was sent for assertions.
//
//	s := llmtest.New(t,
//		llmtest.Reply{ToolCalls: []llmtest.Call{{Name: "terminal", Args: `{"command":"echo hello"}`}}},
//		llmtest.Fail{Status: 429, RetryAfter: "1"},
//		llmtest.Reply{Text: "done"},
//	)
//	// OpenAI clients: base URL s.URL()+"/v1"; Anthropic clients: s.URL().
package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Protocol is the API a request was sent to.
type Protocol string

// The protocols the server speaks.
const (
	OpenAI    Protocol = "openai"
	Anthropic Protocol = "anthropic"
)

// Request is one request the server received.
type Request struct {
	Protocol Protocol
	Method   string
	Path     string
	Header   http.Header
	// Raw is the body as sent; Body is it decoded (nil if it is not JSON).
	Raw  []byte
	Body map[string]any
	// Step is the index of the script step that answered (counting every
	// step ever added, from 0), or -1 when the default answered or the
	// request was refused.
	Step int
	// Refused says why the server refused the request with 400 without
	// using a step; empty when the request was answered from the script.
	Refused string
}

// Model is the request's "model".
func (r Request) Model() string {
	s, _ := r.Body["model"].(string)
	return s
}

// Messages is the request's "messages".
func (r Request) Messages() []map[string]any { return objects(r.Body["messages"]) }

// Tools is the request's "tools".
func (r Request) Tools() []map[string]any { return objects(r.Body["tools"]) }

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Server is the scripted model. Its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	steps    []Step
	next     int // index in steps of the next step to use
	def      Step
	requests []Request
	ids      int // the last id handed out
}

// New starts a server with a script and closes it when the test ends. When
// the script runs out, every request gets the default: the text "done",
// unless SetDefault says otherwise.
func New(t testing.TB, steps ...Step) *Server {
	t.Helper()
	s := &Server{
		done:  make(chan struct{}),
		steps: append([]Step(nil), steps...),
		def:   Reply{Text: "done"},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL is the server's root URL, the base URL of Anthropic clients. OpenAI
// clients take URL()+"/v1".
func (s *Server) URL() string { return s.srv.URL }

// Add appends steps to the script.
func (s *Server) Add(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, steps...)
}

// SetDefault sets the answer for requests after the script runs out.
func (s *Server) SetDefault(step Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = step
}

// Remaining is the number of script steps not used yet.
func (s *Server) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps) - s.next
}

// Requests returns every request received so far, in order of arrival.
// Each call returns fresh copies, free to change.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Raw = append([]byte(nil), r.Raw...)
		if r.Body != nil {
			r.Body = nil
			json.Unmarshal(r.Raw, &r.Body)
		}
		out[i] = r
	}
	return out
}

// Close stops the server; slow answers still waiting end at once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// maxBody bounds a request body.
const maxBody = 32 << 20

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var proto Protocol
	switch r.URL.Path {
	case "/v1/chat/completions", "/chat/completions":
		proto = OpenAI
	case "/v1/messages":
		proto = Anthropic
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("llmtest: no route %s %s", r.Method, r.URL.Path),
			"type":    "not_found_error",
		}})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, proto, Fail{Status: http.StatusMethodNotAllowed})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return // the client went away
	}
	req := Request{Protocol: proto, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw, Step: -1}
	var body map[string]any
	if json.Unmarshal(raw, &body) != nil {
		req.Refused = "body is not a JSON object"
	} else {
		req.Body = body
		if proto == OpenAI {
			req.Refused = checkOpenAI(body)
		} else {
			req.Refused = checkAnthropic(body, r.Header)
		}
	}

	s.mu.Lock()
	var step Step
	if req.Refused == "" {
		step = s.def
		if s.next < len(s.steps) {
			step = s.steps[s.next]
			req.Step = s.next
			s.next++
		}
	}
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	if req.Refused != "" {
		writeError(w, proto, Fail{Status: http.StatusBadRequest, Message: "llmtest: " + req.Refused, Type: "invalid_request_error"})
		return
	}
	switch st := step.(type) {
	case Reply:
		if !s.wait(r, st.Delay) {
			return
		}
		streamed, _ := body["stream"].(bool)
		switch {
		case streamed && proto == OpenAI:
			s.streamOpenAI(w, r, body, raw, st)
		case streamed:
			s.streamAnthropic(w, r, body, raw, st)
		case proto == OpenAI:
			writeJSON(w, http.StatusOK, s.openAIAnswer(body, raw, st))
		default:
			writeJSON(w, http.StatusOK, s.anthropicAnswer(body, raw, st))
		}
	case Fail:
		if !s.wait(r, st.Delay) {
			return
		}
		writeError(w, proto, st)
	case Drop:
		drop(w)
	case Raw:
		for k, vs := range st.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		status := st.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, st.Body)
	default:
		writeError(w, proto, Fail{Status: http.StatusInternalServerError, Message: fmt.Sprintf("llmtest: unknown step %T", step)})
	}
}

// wait holds an answer back for d; false if the client gave up or the server
// closed first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

// drop closes the connection under the request.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("llmtest: the connection cannot be taken over to drop it")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	conn.Close()
}

// id hands out a fresh number for ids.
func (s *Server) id() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids++
	return s.ids
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errorTypes are Anthropic's error types by status.
var errorTypes = map[int]string{
	400: "invalid_request_error",
	401: "authentication_error",
	403: "permission_error",
	404: "not_found_error",
	413: "request_too_large",
	429: "rate_limit_error",
	500: "api_error",
	529: "overloaded_error",
}

// writeError answers f in the protocol's error shape.
func writeError(w http.ResponseWriter, proto Protocol, f Fail) {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = fmt.Sprintf("status %d", status)
		}
	}
	typ := f.Type
	if typ == "" {
		typ = errorTypes[status]
		if typ == "" && status >= 500 {
			typ = "api_error"
		}
		if typ == "" {
			typ = "invalid_request_error"
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if proto == Anthropic {
		writeJSON(w, status, map[string]any{
			"type":  "error",
			"error": map[string]any{"type": typ, "message": msg},
		})
		return
	}
	writeJSON(w, status, map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil},
	})
}

// usage is r's usage, or an estimate: prompt from the request's size,
// completion from the answer's.
func usage(r Reply, raw []byte) Usage {
	if r.Usage != (Usage{}) {
		return r.Usage
	}
	out := len(r.Text) + len(r.Reasoning)
	for _, c := range r.ToolCalls {
		out += len(c.Name) + len(c.Args)
	}
	return Usage{Prompt: int64(len(raw)/4 + 1), Completion: int64(out/4 + 1)}
}
