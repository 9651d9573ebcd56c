package llmtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// openAIAnswer is a chat completion carrying r.
func (s *Server) openAIAnswer(body map[string]any, raw []byte, r Reply) map[string]any {
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	if r.Text != "" || len(r.ToolCalls) == 0 {
		msg["content"] = r.Text
	}
	if r.Reasoning != "" {
		msg["reasoning_content"] = r.Reasoning
	}
	if len(r.ToolCalls) > 0 {
		calls := make([]any, 0, len(r.ToolCalls))
		for _, c := range r.ToolCalls {
			id := c.ID
			if id == "" {
				id = fmt.Sprintf("call_%d", s.id())
			}
			calls = append(calls, map[string]any{
				"id":       id,
				"type":     "function",
				"function": map[string]any{"name": c.Name, "arguments": c.Args},
			})
		}
		msg["tool_calls"] = calls
	}
	finish := r.FinishReason
	if finish == "" {
		finish = "stop"
		if len(r.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	u := usage(r, raw)
	return map[string]any{
		"id":      fmt.Sprintf("chatcmpl-%d", s.id()),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   body["model"],
		"choices": []any{map[string]any{
			"index":         0,
			"message":       msg,
			"finish_reason": finish,
			"logprobs":      nil,
		}},
		"usage": map[string]any{
			"prompt_tokens":     u.Prompt,
			"completion_tokens": u.Completion,
			"total_tokens":      u.Prompt + u.Completion,
			"prompt_tokens_details": map[string]any{
				"cached_tokens":      u.CacheRead,
				"cache_write_tokens": u.CacheWrite,
			},
			"completion_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning},
		},
	}
}

// anthropicAnswer is a Messages answer carrying r.
func (s *Server) anthropicAnswer(body map[string]any, raw []byte, r Reply) map[string]any {
	var content []any
	if r.Reasoning != "" {
		content = append(content, map[string]any{"type": "thinking", "thinking": r.Reasoning, "signature": "llmtest"})
	}
	if r.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": r.Text})
	}
	for _, c := range r.ToolCalls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("toolu_%d", s.id())
		}
		var input any = json.RawMessage(c.Args)
		if a := strings.TrimSpace(c.Args); !strings.HasPrefix(a, "{") || !json.Valid([]byte(a)) {
			input = c.Args
		}
		content = append(content, map[string]any{"type": "tool_use", "id": id, "name": c.Name, "input": input})
	}
	if content == nil {
		content = []any{}
	}
	stop := r.FinishReason
	if stop == "" {
		stop = "end_turn"
		if len(r.ToolCalls) > 0 {
			stop = "tool_use"
		}
	}
	u := usage(r, raw)
	return map[string]any{
		"id":            fmt.Sprintf("msg_%d", s.id()),
		"type":          "message",
		"role":          "assistant",
		"model":         body["model"],
		"content":       content,
		"stop_reason":   stop,
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens":                max(u.Prompt-u.CacheRead-u.CacheWrite, 0),
			"output_tokens":               u.Completion,
			"cache_read_input_tokens":     u.CacheRead,
			"cache_creation_input_tokens": u.CacheWrite,
		},
	}
}
