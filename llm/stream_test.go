package llm

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
)

// TestStreaming checks, through each SDK's streaming, that the answer
// arrives as deltas in order (reasoning, then text, a word at a time),
// that the request asked for a stream, and that the whole answer put
// together is the one the same reply gives without streaming.
func TestStreaming(t *testing.T) {
	reply := llmtest.Reply{Text: "Let me look at the files.", Reasoning: "The user wants a listing.",
		ToolCalls: []llmtest.Call{{ID: "call_ls", Name: "terminal", Args: `{"command":"ls"}`}},
		Usage:     llmtest.Usage{Prompt: 120, Completion: 30}}
	req := Request{System: "You are an agent.", Tools: []Tool{terminalTool},
		Messages: []event.LLMMessage{{Role: "user", Content: event.Text("List the files.")}}}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			s := llmtest.New(t, reply, reply)
			c, _ := newClient(t, p, s, Config{})
			plain, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var deltas []Delta
			sreq := req
			sreq.OnDelta = func(d Delta) { deltas = append(deltas, d) }
			streamed, err := c.Complete(context.Background(), sreq)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Requests()[1].Body["stream"].(bool); !got {
				t.Error("the streamed request did not ask for a stream")
			}
			var text, reasoning strings.Builder
			sawText := false
			for _, d := range deltas {
				if d.Content != "" {
					sawText = true
				}
				if d.Reasoning != "" && sawText {
					t.Error("reasoning after text")
				}
				text.WriteString(d.Content)
				reasoning.WriteString(d.Reasoning)
			}
			if len(deltas) < 10 {
				t.Errorf("%d deltas, want one a word", len(deltas))
			}
			if text.String() != reply.Text || reasoning.String() != reply.Reasoning {
				t.Errorf("deltas say %q / %q, want %q / %q", text.String(), reasoning.String(), reply.Text, reply.Reasoning)
			}
			if diff := cmp.Diff(streamed, plain, cmpopts.IgnoreFields(Response{}, "ID", "Cost")); diff != "" {
				t.Errorf("streamed answer differs from the plain one (-streamed +plain):\n%s", diff)
			}
		})
	}
}
