package llm

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
)

var terminalTool = Tool{
	Name:        "terminal",
	Description: "Run a bash command.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"command":{"type":"string","description":"the command"}},"required":["command"]}`),
}

var thinkTool = Tool{
	Name:        "think",
	Description: "Think out loud.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"],"additionalProperties":false}`),
}

// TestRoundTrip runs a conversation with two tool calls and their results
// through each SDK against llmtest, and checks both what the client returns
// and what went over the wire.
func TestRoundTrip(t *testing.T) {
	wantTools := map[string]string{
		"openai": `[
			{"type":"function","function":{"name":"terminal","description":"Run a bash command.",
				"parameters":{"type":"object","properties":{"command":{"type":"string","description":"the command"}},"required":["command"]}}},
			{"type":"function","function":{"name":"think","description":"Think out loud.",
				"parameters":{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"],"additionalProperties":false}}}]`,
		"anthropic": `[
			{"name":"terminal","description":"Run a bash command.",
				"input_schema":{"type":"object","properties":{"command":{"type":"string","description":"the command"}},"required":["command"]}},
			{"name":"think","description":"Think out loud.",
				"input_schema":{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"],"additionalProperties":false}}]`,
	}
	// The second request: the assistant's calls, then the results. OpenAI
	// takes one tool message per call; Anthropic one user message with a
	// tool_result block per call.
	wantMessages := map[string]string{
		"openai": `[
			{"role":"system","content":"You are an agent."},
			{"role":"user","content":"List the files."},
			{"role":"assistant","content":"Let me look.","tool_calls":[
				{"id":"call_ls","type":"function","function":{"name":"terminal","arguments":"{\"command\":\"ls\"}"}},
				{"id":"call_think","type":"function","function":{"name":"think","arguments":"{\"thought\":\"two files?\"}"}}]},
			{"role":"tool","tool_call_id":"call_ls","content":"a.txt\nb.txt\n"},
			{"role":"tool","tool_call_id":"call_think","content":"Your thought has been logged."}]`,
		"anthropic": `[
			{"role":"user","content":[{"type":"text","text":"List the files."}]},
			{"role":"assistant","content":[
				{"type":"text","text":"Let me look."},
				{"type":"tool_use","id":"call_ls","name":"terminal","input":{"command":"ls"}},
				{"type":"tool_use","id":"call_think","name":"think","input":{"thought":"two files?"}}]},
			{"role":"user","content":[
				{"type":"tool_result","tool_use_id":"call_ls","content":[{"type":"text","text":"a.txt\nb.txt\n"}]},
				{"type":"tool_result","tool_use_id":"call_think","content":[{"type":"text","text":"Your thought has been logged."}]}]}]`,
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t,
				llmtest.Reply{Text: "Let me look.", ToolCalls: []llmtest.Call{
					{ID: "call_ls", Name: "terminal", Args: `{"command":"ls"}`},
					{ID: "call_think", Name: "think", Args: `{"thought":"two files?"}`},
				}},
				llmtest.Reply{Text: "There are two files."},
			)
			c, _ := newClient(t, p, s, Config{})
			req := Request{
				System:   "You are an agent.",
				Messages: []event.LLMMessage{{Role: "user", Content: event.Text("List the files.")}},
				Tools:    []Tool{terminalTool, thinkTool},
			}
			res, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Fatalf("Complete 1: %v", err)
			}
			want := event.LLMMessage{
				Role:    "assistant",
				Content: event.Text("Let me look."),
				ToolCalls: []event.ToolCall{
					{ID: "call_ls", Name: "terminal", Arguments: `{"command":"ls"}`, Origin: "completion"},
					{ID: "call_think", Name: "think", Arguments: `{"thought":"two files?"}`, Origin: "completion"},
				},
			}
			if diff := cmp.Diff(res.Message, want); diff != "" {
				t.Errorf("message 1 (-got +want):\n%s", diff)
			}
			if res.FinishReason != "tool_calls" {
				t.Errorf("finish reason = %q, want tool_calls", res.FinishReason)
			}
			if res.ID == "" {
				t.Error("no response id")
			}

			req.Messages = append(req.Messages, res.Message,
				event.LLMMessage{Role: "tool", ToolCallID: "call_ls", Name: "terminal", Content: event.Text("a.txt\nb.txt\n")},
				event.LLMMessage{Role: "tool", ToolCallID: "call_think", Name: "think", Content: event.Text("Your thought has been logged.")},
			)
			res, err = c.Complete(context.Background(), req)
			if err != nil {
				t.Fatalf("Complete 2: %v", err)
			}
			if diff := cmp.Diff(res.Message, event.LLMMessage{Role: "assistant", Content: event.Text("There are two files.")}); diff != "" {
				t.Errorf("message 2 (-got +want):\n%s", diff)
			}
			if res.FinishReason != "stop" {
				t.Errorf("finish reason = %q, want stop", res.FinishReason)
			}

			reqs := s.Requests()
			if len(reqs) != 2 {
				t.Fatalf("server got %d requests, want 2", len(reqs))
			}
			for i, r := range reqs {
				if r.Refused != "" {
					t.Fatalf("request %d refused: %s", i, r.Refused)
				}
				if diff := cmp.Diff(r.Body["tools"], decode(t, wantTools[p.name])); diff != "" {
					t.Errorf("request %d tools (-got +want):\n%s", i, diff)
				}
			}
			r := reqs[1]
			if diff := cmp.Diff(r.Body["messages"], decode(t, wantMessages[p.name])); diff != "" {
				t.Errorf("request 2 messages (-got +want):\n%s", diff)
			}
			switch p.name {
			case "openai":
				if r.Model() != "gpt-4o" {
					t.Errorf("model = %q, want gpt-4o", r.Model())
				}
				if got := r.Header.Get("Authorization"); got != "Bearer test-key" {
					t.Errorf("Authorization = %q", got)
				}
			case "anthropic":
				if r.Model() != "claude-sonnet-4-5" {
					t.Errorf("model = %q, want claude-sonnet-4-5", r.Model())
				}
				if got := r.Header.Get("X-Api-Key"); got != "test-key" {
					t.Errorf("X-Api-Key = %q", got)
				}
				if diff := cmp.Diff(r.Body["system"], decode(t, `[{"type":"text","text":"You are an agent."}]`)); diff != "" {
					t.Errorf("system (-got +want):\n%s", diff)
				}
				if r.Body["max_tokens"] != float64(DefaultAnthropicMaxTokens) {
					t.Errorf("max_tokens = %v, want %d", r.Body["max_tokens"], DefaultAnthropicMaxTokens)
				}
			}
			for _, key := range []string{"X-Stainless-Retry-Count"} {
				if got := r.Header.Get(key); got != "0" {
					t.Errorf("%s = %q: the SDK's own retries should be off", key, got)
				}
			}
		})
	}
}

// TestImages checks that images (data: and http URLs) in user messages and
// tool results reach each API in its own shape.
func TestImages(t *testing.T) {
	const png = "iVBORw0KGgo="
	want := map[string]string{
		// OpenAI's tool role takes text only: the result's image follows
		// the tool messages as a user message.
		"openai": `[
			{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]},
			{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"browser","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"call_1","content":"screenshot taken"},
			{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}]`,
		"anthropic": `[
			{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}},
				{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"browser","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":[
				{"type":"text","text":"screenshot taken"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}}]}]}]`,
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t)
			c, _ := newClient(t, p, s, Config{})
			_, err := c.Complete(context.Background(), Request{
				Messages: []event.LLMMessage{
					{Role: "user", Content: event.ContentList{
						{Type: event.ContentText, Text: "What is this?"},
						{Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64," + png, "https://example.com/cat.jpg"}},
					}},
					{Role: "assistant", ToolCalls: []event.ToolCall{{ID: "call_1", Name: "browser", Arguments: "{}"}}},
					{Role: "tool", ToolCallID: "call_1", Content: event.ContentList{
						{Type: event.ContentText, Text: "screenshot taken"},
						{Type: event.ContentImage, ImageURLs: []string{"data:image/png;base64," + png}},
					}},
				},
				Tools: []Tool{{Name: "browser"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := s.Requests()[0]
			if r.Refused != "" {
				t.Fatalf("refused: %s", r.Refused)
			}
			if diff := cmp.Diff(r.Body["messages"], decode(t, want[p.name])); diff != "" {
				t.Errorf("messages (-got +want):\n%s", diff)
			}
		})
	}
}

// TestRequestOptions checks max tokens, temperature, a tool without a schema
// and system messages inside the conversation.
func TestRequestOptions(t *testing.T) {
	for _, tc := range []struct {
		name, model string
		base        func(*llmtest.Server) string
		want        string // the request body without messages
	}{
		{"openai", "openai/gpt-4o", protocols[0].base,
			`{"model":"gpt-4o","max_tokens":1000,"temperature":0.5,
			  "tools":[{"type":"function","function":{"name":"finish","parameters":{"type":"object","properties":{}}}}]}`},
		{"openai reasoning model", "openai/o4-mini", protocols[0].base,
			`{"model":"o4-mini","max_completion_tokens":1000,"temperature":0.5,
			  "tools":[{"type":"function","function":{"name":"finish","parameters":{"type":"object","properties":{}}}}]}`},
		{"anthropic", "anthropic/claude-haiku-4-5", protocols[1].base,
			`{"model":"claude-haiku-4-5","max_tokens":1000,"temperature":0.5,
			  "system":[{"type":"text","text":"Be brief.\n\nAnd kind."}],
			  "tools":[{"name":"finish","input_schema":{"type":"object","properties":{}}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t)
			c, _ := newClient(t, protocol{tc.name, tc.model, tc.base}, s, Config{})
			_, err := c.Complete(context.Background(), Request{
				System: "Be brief.",
				Messages: []event.LLMMessage{
					{Role: "system", Content: event.Text("And kind.")},
					{Role: "user", Content: event.Text("Hi")},
				},
				Tools:       []Tool{{Name: "finish"}},
				MaxTokens:   1000,
				Temperature: ptr(0.5),
			})
			if err != nil {
				t.Fatal(err)
			}
			body := s.Requests()[0].Body
			delete(body, "messages")
			if diff := cmp.Diff(body, decode(t, tc.want)); diff != "" {
				t.Errorf("body (-got +want):\n%s", diff)
			}
		})
	}
}

// TestAnthropicCache checks that cache marks become cache_control on the
// marked blocks and the system prompt, and that no more than Anthropic's
// four breakpoints are sent.
func TestAnthropicCache(t *testing.T) {
	s := llmtest.New(t)
	c, _ := newClient(t, protocols[1], s, Config{})
	cached := func(text string) event.ContentList {
		return event.ContentList{{Type: event.ContentText, Text: text, CachePrompt: true}}
	}
	msgs := []event.LLMMessage{
		{Role: "user", Content: cached("one")},
		{Role: "assistant", Content: event.Text("ok")},
		{Role: "user", Content: cached("two")},
		{Role: "assistant", ToolCalls: []event.ToolCall{{ID: "t1", Name: "terminal", Arguments: `{"command":"ls"}`}}},
		{Role: "tool", ToolCallID: "t1", Content: cached("a.txt")},
		{Role: "user", Content: cached("three")},
	}
	if _, err := c.Complete(context.Background(), Request{System: "sys", Messages: msgs, Tools: []Tool{terminalTool}}); err != nil {
		t.Fatal(err)
	}
	r := s.Requests()[0]
	if r.Refused != "" {
		t.Fatalf("refused: %s", r.Refused)
	}
	eph := `"cache_control":{"type":"ephemeral"}`
	want := `[
		{"role":"user","content":[{"type":"text","text":"one"}]},
		{"role":"assistant","content":[{"type":"text","text":"ok"}]},
		{"role":"user","content":[{"type":"text","text":"two",` + eph + `}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"terminal","input":{"command":"ls"}}]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"a.txt"}],` + eph + `},
			{"type":"text","text":"three",` + eph + `}]}]`
	if diff := cmp.Diff(r.Body["messages"], decode(t, want)); diff != "" {
		t.Errorf("messages (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(r.Body["system"], decode(t, `[{"type":"text","text":"sys",`+eph+`}]`)); diff != "" {
		t.Errorf("system (-got +want):\n%s", diff)
	}
}

// TestMalformedArguments checks that tool arguments the model wrote
// malformed reach the caller as written, for it to report back.
func TestMalformedArguments(t *testing.T) {
	const bad = `{"command": "echo hello`
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{ToolCalls: []llmtest.Call{{ID: "c1", Name: "terminal", Args: bad}}})
			c, _ := newClient(t, p, s, Config{})
			res, err := c.Complete(context.Background(), Request{Messages: []event.LLMMessage{{Role: "user", Content: event.Text("go")}}, Tools: []Tool{terminalTool}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Message.ToolCalls) != 1 || res.Message.ToolCalls[0].Arguments != bad {
				t.Fatalf("tool calls = %+v, want one with arguments %q", res.Message.ToolCalls, bad)
			}
			// Sent back in the history, the call must not make the request
			// malformed.
			_, err = c.Complete(context.Background(), Request{
				Messages: []event.LLMMessage{
					{Role: "user", Content: event.Text("go")},
					res.Message,
					{Role: "tool", ToolCallID: "c1", Content: event.Text("error: arguments are not valid JSON")},
				},
				Tools: []Tool{terminalTool},
			})
			if err != nil {
				t.Fatalf("sending the malformed call back: %v", err)
			}
		})
	}
}

// TestReasoningAndUsage checks reasoning text and the token counts of each
// protocol's usage block.
func TestReasoningAndUsage(t *testing.T) {
	u := llmtest.Usage{Prompt: 1000, Completion: 200, CacheRead: 600, CacheWrite: 100, Reasoning: 50}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "42", Reasoning: "six times seven", Usage: u})
			c, _ := newClient(t, p, s, Config{})
			res, err := c.Complete(context.Background(), Request{Messages: []event.LLMMessage{{Role: "user", Content: event.Text("?")}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Message.ReasoningContent != "six times seven" {
				t.Errorf("reasoning = %q", res.Message.ReasoningContent)
			}
			want := Usage{PromptTokens: 1000, CompletionTokens: 200, CacheReadTokens: 600, CacheWriteTokens: 100, ReasoningTokens: 50}
			if p.name == "anthropic" {
				want.ReasoningTokens = 0 // not reported separately
			}
			if diff := cmp.Diff(res.Usage, want); diff != "" {
				t.Errorf("usage (-got +want):\n%s", diff)
			}
		})
	}
}
