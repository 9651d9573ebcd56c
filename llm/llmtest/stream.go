package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// pieces cuts text into the pieces a streaming model sends: a word with
// the space before it.
func pieces(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// sse writes server-sent events, holding each delta back by the reply's
// TokenDelay.
type sse struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	delay time.Duration
	ok    bool
}

func (s *Server) newSSE(w http.ResponseWriter, r *http.Request, delay time.Duration) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sse{s: s, w: w, r: r, delay: delay, ok: true}
}

// send writes one event (name may be empty) with data as JSON, flushed.
func (e *sse) send(name string, data any) {
	if !e.ok {
		return
	}
	b, _ := json.Marshal(data)
	if name != "" {
		fmt.Fprintf(e.w, "event: %s\n", name)
	}
	fmt.Fprintf(e.w, "data: %s\n\n", b)
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}

// pause waits between deltas; false (and nothing more is sent) once the
// client has gone.
func (e *sse) pause() bool {
	if e.ok && e.delay > 0 {
		e.ok = e.s.wait(e.r, e.delay)
	}
	return e.ok
}

// streamOpenAI writes r as chat completion chunks: reasoning and text a
// word at a time, the tool calls, the finish reason, then the usage.
func (s *Server) streamOpenAI(w http.ResponseWriter, req *http.Request, body map[string]any, raw []byte, r Reply) {
	whole := s.openAIAnswer(body, raw, r)
	choice := whole["choices"].([]any)[0].(map[string]any)
	msg := choice["message"].(map[string]any)
	e := s.newSSE(w, req, r.TokenDelay)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"], "model": whole["model"],
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	e.send("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for _, p := range pieces(r.Reasoning) {
		if !e.pause() {
			return
		}
		e.send("", chunk(map[string]any{"reasoning_content": p}, nil))
	}
	for _, p := range pieces(r.Text) {
		if !e.pause() {
			return
		}
		e.send("", chunk(map[string]any{"content": p}, nil))
	}
	if calls, ok := msg["tool_calls"].([]any); ok {
		for i, c := range calls {
			c := c.(map[string]any)
			e.send("", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c["id"], "type": "function", "function": c["function"]}}}, nil))
		}
	}
	e.send("", chunk(map[string]any{}, choice["finish_reason"]))
	e.send("", map[string]any{"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"], "model": whole["model"],
		"choices": []any{}, "usage": whole["usage"]})
	if e.ok {
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

// streamAnthropic writes r as Messages stream events: a block at a time,
// thinking and text a word at a time, tool input in one piece.
func (s *Server) streamAnthropic(w http.ResponseWriter, req *http.Request, body map[string]any, raw []byte, r Reply) {
	whole := s.anthropicAnswer(body, raw, r)
	usage := whole["usage"].(map[string]any)
	e := s.newSSE(w, req, r.TokenDelay)
	start := map[string]any{}
	for k, v := range whole {
		start[k] = v
	}
	start["content"], start["stop_reason"] = []any{}, nil
	start["usage"] = map[string]any{"input_tokens": usage["input_tokens"], "output_tokens": 0,
		"cache_read_input_tokens": usage["cache_read_input_tokens"], "cache_creation_input_tokens": usage["cache_creation_input_tokens"]}
	e.send("message_start", map[string]any{"type": "message_start", "message": start})
	for i, b := range whole["content"].([]any) {
		b := b.(map[string]any)
		delta := func(d map[string]any) {
			e.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d})
		}
		switch b["type"] {
		case "thinking":
			e.send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}})
			for _, p := range pieces(b["thinking"].(string)) {
				if !e.pause() {
					return
				}
				delta(map[string]any{"type": "thinking_delta", "thinking": p})
			}
			delta(map[string]any{"type": "signature_delta", "signature": b["signature"]})
		case "text":
			e.send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "text", "text": ""}})
			for _, p := range pieces(b["text"].(string)) {
				if !e.pause() {
					return
				}
				delta(map[string]any{"type": "text_delta", "text": p})
			}
		case "tool_use":
			e.send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}})
			in, _ := json.Marshal(b["input"])
			if s, ok := b["input"].(string); ok {
				in = []byte(s)
			}
			delta(map[string]any{"type": "input_json_delta", "partial_json": strings.TrimSpace(string(in))})
		}
		e.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	e.send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": whole["stop_reason"], "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": usage["output_tokens"]}})
	e.send("message_stop", map[string]any{"type": "message_stop"})
}
