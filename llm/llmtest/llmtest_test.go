package llmtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/llm/llmtest"
)

const (
	openAIHello    = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	anthropicHello = `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
)

// post sends body to path and returns the status and decoded answer.
func post(t *testing.T, s *llmtest.Server, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %v", path, err)
	}
	return res.StatusCode, res.Header, m
}

// TestScript checks that steps answer in order, then the default.
func TestScript(t *testing.T) {
	s := llmtest.New(t,
		llmtest.Reply{Text: "one"},
		llmtest.Reply{ToolCalls: []llmtest.Call{{ID: "c1", Name: "terminal", Args: `{"command":"ls"}`}}},
	)
	text := func(m map[string]any) any {
		return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]
	}
	if _, _, m := post(t, s, "/v1/chat/completions", openAIHello); text(m) != "one" {
		t.Errorf("answer 1 = %v", m)
	}
	_, _, m := post(t, s, "/chat/completions", openAIHello)
	want := map[string]any{
		"index": float64(0), "finish_reason": "tool_calls", "logprobs": nil,
		"message": map[string]any{"role": "assistant", "content": nil, "refusal": nil, "tool_calls": []any{
			map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "terminal", "arguments": `{"command":"ls"}`}},
		}},
	}
	if diff := cmp.Diff(m["choices"].([]any)[0], any(want)); diff != "" {
		t.Errorf("answer 2 (-got +want):\n%s", diff)
	}
	if s.Remaining() != 0 {
		t.Errorf("Remaining = %d, want 0", s.Remaining())
	}
	if _, _, m := post(t, s, "/v1/chat/completions", openAIHello); text(m) != "done" {
		t.Errorf("default answer = %v", text(m))
	}
	s.SetDefault(llmtest.Reply{Text: "idle"})
	if _, _, m := post(t, s, "/v1/chat/completions", openAIHello); text(m) != "idle" {
		t.Errorf("new default answer = %v", text(m))
	}
	s.Add(llmtest.Reply{Text: "added"})
	if _, _, m := post(t, s, "/v1/chat/completions", openAIHello); text(m) != "added" {
		t.Errorf("added step answer = %v", text(m))
	}
	var steps []int
	for _, r := range s.Requests() {
		steps = append(steps, r.Step)
	}
	if diff := cmp.Diff(steps, []int{0, 1, -1, -1, 2}); diff != "" {
		t.Errorf("steps (-got +want):\n%s", diff)
	}
}

func TestAnthropicAnswer(t *testing.T) {
	s := llmtest.New(t, llmtest.Reply{
		Text:      "Running it.",
		Reasoning: "ls lists files",
		ToolCalls: []llmtest.Call{{ID: "t1", Name: "terminal", Args: `{"command":"ls"}`}, {ID: "t2", Name: "terminal", Args: `{"command": "ls`}},
		Usage:     llmtest.Usage{Prompt: 100, Completion: 10, CacheRead: 60, CacheWrite: 30},
	})
	status, _, m := post(t, s, "/v1/messages", anthropicHello)
	if status != 200 {
		t.Fatalf("status %d: %v", status, m)
	}
	want := map[string]any{
		"id": m["id"], "type": "message", "role": "assistant", "model": "m",
		"content": []any{
			map[string]any{"type": "thinking", "thinking": "ls lists files", "signature": "llmtest"},
			map[string]any{"type": "text", "text": "Running it."},
			map[string]any{"type": "tool_use", "id": "t1", "name": "terminal", "input": map[string]any{"command": "ls"}},
			// Malformed arguments cannot be an object: they come as text.
			map[string]any{"type": "tool_use", "id": "t2", "name": "terminal", "input": `{"command": "ls`},
		},
		"stop_reason": "tool_use", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": float64(10), "output_tokens": float64(10), "cache_read_input_tokens": float64(60), "cache_creation_input_tokens": float64(30)},
	}
	if diff := cmp.Diff(m, want); diff != "" {
		t.Errorf("answer (-got +want):\n%s", diff)
	}
}

// TestFail checks error answers in each protocol's shape.
func TestFail(t *testing.T) {
	s := llmtest.New(t,
		llmtest.Fail{Status: 429, RetryAfter: "2"},
		llmtest.Fail{Status: 529, Message: "Overloaded"},
	)
	status, h, m := post(t, s, "/v1/chat/completions", openAIHello)
	if status != 429 || h.Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q; want 429, 2", status, h.Get("Retry-After"))
	}
	want := map[string]any{"error": map[string]any{"message": "Too Many Requests", "type": "rate_limit_error", "param": nil, "code": nil}}
	if diff := cmp.Diff(m, want); diff != "" {
		t.Errorf("OpenAI error (-got +want):\n%s", diff)
	}
	status, _, m = post(t, s, "/v1/messages", anthropicHello)
	want = map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}}
	if status != 529 {
		t.Errorf("status %d, want 529", status)
	}
	if diff := cmp.Diff(m, want); diff != "" {
		t.Errorf("Anthropic error (-got +want):\n%s", diff)
	}
}

func TestDrop(t *testing.T) {
	s := llmtest.New(t, llmtest.Drop{})
	res, err := http.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(openAIHello))
	if err == nil {
		res.Body.Close()
		t.Fatalf("got status %d, want a closed connection", res.StatusCode)
	}
	if len(s.Requests()) != 1 {
		t.Errorf("%d requests recorded, want 1", len(s.Requests()))
	}
}

// TestDelay checks that a slow answer ends when the client gives up, and
// that Close does not wait for it.
func TestDelay(t *testing.T) {
	s := llmtest.New(t, llmtest.Reply{Text: "late", Delay: time.Hour}, llmtest.Reply{Text: "later", Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/v1/chat/completions", strings.NewReader(openAIHello))
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		res, err := http.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(openAIHello))
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	for len(s.Requests()) < 2 {
		time.Sleep(time.Millisecond)
	}
	s.Close() // must not wait an hour
	<-done
}

func TestRecordsRequests(t *testing.T) {
	s := llmtest.New(t)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"finish"}}]}`
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	r := s.Requests()[0]
	if r.Protocol != llmtest.OpenAI || r.Path != "/v1/chat/completions" || r.Method != "POST" {
		t.Errorf("request = %s %s %s", r.Protocol, r.Method, r.Path)
	}
	if r.Header.Get("Authorization") != "Bearer k" || !bytes.Equal(r.Raw, []byte(body)) {
		t.Errorf("header %v, raw %s", r.Header, r.Raw)
	}
	if r.Model() != "gpt-4o" || len(r.Messages()) != 1 || r.Tools()[0]["type"] != "function" {
		t.Errorf("decoded body: model %q, messages %v, tools %v", r.Model(), r.Messages(), r.Tools())
	}
}

// TestRefuses checks that requests the real APIs would refuse get 400
// without using a step.
func TestRefuses(t *testing.T) {
	tests := []struct {
		name, path, body, why string
	}{
		{"openai: not JSON", "/v1/chat/completions", `{`, "not a JSON object"},
		{"openai: no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"openai: no messages", "/v1/chat/completions", `{"model":"m","messages":[]}`, "messages"},
		{"openai: unanswered call", "/v1/chat/completions", `{"model":"m","messages":[
			{"role":"user","content":"hi"},
			{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"t","arguments":"{}"}}]},
			{"role":"user","content":"well?"}]}`, "must be followed by tool messages"},
		{"openai: stray tool message", "/v1/chat/completions", `{"model":"m","messages":[
			{"role":"user","content":"hi"},
			{"role":"tool","tool_call_id":"x","content":"out"}]}`, "does not answer"},
		{"openai: bad tool name", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],
			"tools":[{"type":"function","function":{"name":"has space"}}]}`, "invalid function name"},
		{"anthropic: no max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
		{"anthropic: tool role", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]}`, "role"},
		{"anthropic: empty text", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":" "}]}]}`, "non-whitespace"},
		{"anthropic: missing tool_result", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[
			{"role":"user","content":"hi"},
			{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"t","input":{}}]},
			{"role":"user","content":"well?"}]}`, "without tool_result"},
		{"anthropic: stray tool_result", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"out"}]}]}`, "unexpected tool_use_id"},
		{"anthropic: tool_use input not an object", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[
			{"role":"user","content":"hi"},
			{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"t","input":"{"}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"out"}]}]}`, "input must be an object"},
		{"anthropic: five cache breakpoints", "/v1/messages", `{"model":"m","max_tokens":5,
			"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":[
				{"type":"text","text":"1","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"2","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"3","cache_control":{"type":"ephemeral"}},
				{"type":"text","text":"4","cache_control":{"type":"ephemeral"}}]}]}`, "maximum of 4"},
		{"anthropic: tool schema not an object", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],
			"tools":[{"name":"t","input_schema":{"type":"string"}}]}`, "input_schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "unused"})
			req, _ := http.NewRequest(http.MethodPost, s.URL()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Anthropic-Version", "2023-06-01")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 400 || !strings.Contains(string(b), tc.why) {
				t.Errorf("status %d, body %s; want 400 saying %q", res.StatusCode, b, tc.why)
			}
			if r := s.Requests()[0]; !strings.Contains(r.Refused, tc.why) || r.Step != -1 {
				t.Errorf("recorded refusal %q, step %d", r.Refused, r.Step)
			}
			if s.Remaining() != 1 {
				t.Error("a refused request used a step")
			}
		})
	}
}

// TestAccepts checks well-formed conversations pass the checks.
func TestAccepts(t *testing.T) {
	tests := []struct{ name, path, body string }{
		{"openai: calls answered", "/v1/chat/completions", `{"model":"m","messages":[
			{"role":"system","content":"s"},
			{"role":"user","content":"hi"},
			{"role":"assistant","content":null,"tool_calls":[
				{"id":"a","type":"function","function":{"name":"t","arguments":"{}"}},
				{"id":"b","type":"function","function":{"name":"t","arguments":"{"}}]},
			{"role":"tool","tool_call_id":"b","content":"2"},
			{"role":"tool","tool_call_id":"a","content":"1"},
			{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`},
		{"anthropic: calls answered", "/v1/messages", `{"model":"m","max_tokens":5,"system":"s","messages":[
			{"role":"user","content":"hi"},
			{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"a","name":"t","input":{}},{"type":"tool_use","id":"b","name":"t","input":{}}]},
			{"role":"user","content":[
				{"type":"tool_result","tool_use_id":"a","content":"1"},
				{"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"2"}]},
				{"type":"text","text":"and?"}]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := llmtest.New(t)
			if status, _, m := post(t, s, tc.path, tc.body); status != 200 {
				t.Errorf("status %d: %v", status, m)
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	s := llmtest.New(t)
	if status, _, _ := post(t, s, "/v1/completions", openAIHello); status != 404 {
		t.Errorf("status %d, want 404", status)
	}
	if len(s.Requests()) != 0 {
		t.Error("an unknown path was recorded as a model request")
	}
}
