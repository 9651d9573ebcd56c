package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scriptedModel is an OpenAI-compatible chat completions endpoint served
// by the benchmark, for the server under test to use as its model: each
// conversation gets its own base URL, {url}/c/{n}/v1, and every request
// on it is answered from how far the conversation has got, counted by
// the tool results in the request's messages. Under steps results it
// calls the terminal tool with command(n, results); at steps, finish.
// It answers at once, streamed or not as asked, and records when each
// request arrived and when its answer was written, so that the model's
// own share of a step is known.
type scriptedModel struct {
	steps   int
	command func(conv, step int) string
	ln      net.Listener
	srv     *http.Server

	mu    sync.Mutex
	convs map[int][]modelTurn
	bad   []string // requests that could not be answered, why
}

// modelTurn is one request the model answered.
type modelTurn struct {
	results  int       // tool results in the request: steps done
	arrived  time.Time // the request's headers read
	answered time.Time // the answer written and flushed
}

func startScriptedModel(steps int, command func(conv, step int) string) (*scriptedModel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &scriptedModel{steps: steps, command: command, ln: ln, convs: make(map[int][]modelTurn)}
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 30 * time.Second}
	go m.srv.Serve(ln)
	return m, nil
}

// baseURL is conversation n's OpenAI base URL.
func (m *scriptedModel) baseURL(n int) string {
	return fmt.Sprintf("http://%s/c/%d/v1", m.ln.Addr(), n)
}

func (m *scriptedModel) close() { m.srv.Close() }

// turns returns conversation n's answered requests, in order.
func (m *scriptedModel) turns(n int) []modelTurn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]modelTurn(nil), m.convs[n]...)
}

// failures returns why requests went unanswered.
func (m *scriptedModel) failures() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.bad...)
}

func (m *scriptedModel) refuse(w http.ResponseWriter, status int, why string) {
	m.mu.Lock()
	m.bad = append(m.bad, why)
	m.mu.Unlock()
	http.Error(w, why, status)
}

func (m *scriptedModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	// /c/{n}/v1/chat/completions
	rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
	num, tail, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || r.Method != http.MethodPost || tail != "v1/chat/completions" {
		m.refuse(w, http.StatusNotFound, r.Method+" "+r.URL.Path+": not a conversation's chat completions")
		return
	}
	var body struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&body); err != nil {
		m.refuse(w, http.StatusBadRequest, fmt.Sprintf("conversation %d: body: %v", n, err))
		return
	}
	results := 0
	for _, msg := range body.Messages {
		if msg.Role == "tool" {
			results++
		}
	}
	name, args := "finish", `{"message":"done"}`
	if results < m.steps {
		a, _ := json.Marshal(map[string]string{"command": m.command(n, results)})
		name, args = "terminal", string(a)
	}
	id := fmt.Sprintf("c%d-%d", n, results)
	call := map[string]any{"id": callID(n, results), "type": "function", "function": map[string]any{"name": name, "arguments": args}}
	usage := map[string]any{"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
	if body.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta map[string]any, finish any, usage any) {
			c := map[string]any{"id": "chatcmpl-" + id, "object": "chat.completion.chunk", "created": arrived.Unix(), "model": body.Model,
				"choices": []any{}}
			if delta != nil {
				c["choices"] = []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}
			}
			if usage != nil {
				c["usage"] = usage
			}
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)
		call["index"] = 0
		chunk(map[string]any{"tool_calls": []any{call}}, nil, nil)
		chunk(map[string]any{}, "tool_calls", nil)
		chunk(nil, nil, usage)
		fmt.Fprint(w, "data: [DONE]\n\n")
	} else {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-" + id, "object": "chat.completion", "created": arrived.Unix(), "model": body.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls",
				"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{call}}}},
			"usage": usage,
		})
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	m.mu.Lock()
	m.convs[n] = append(m.convs[n], modelTurn{results: results, arrived: arrived, answered: time.Now()})
	m.mu.Unlock()
}
