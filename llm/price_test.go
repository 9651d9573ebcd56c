package llm

import (
	"context"
	"math"
	"testing"

	"github.com/gohands/gohands/llm/llmtest"
)

func TestPriceOf(t *testing.T) {
	tests := []struct {
		model     string
		in, out   float64 // dollars per million tokens
		cacheRead float64
		known     bool
	}{
		{"gpt-4o", 2.50, 10, 1.25, true},
		{"gpt-4o-2024-08-06", 2.50, 10, 1.25, true},
		{"gpt-4o-mini", 0.15, 0.60, 0.075, true},
		{"gpt-4o-mini-2024-07-18", 0.15, 0.60, 0.075, true},
		{"gpt-4.1", 2, 8, 0.50, true},
		{"gpt-4.1-mini-2025-04-14", 0.40, 1.60, 0.10, true},
		{"gpt-5", 1.25, 10, 0.125, true},
		{"gpt-5-mini", 0.25, 2, 0.025, true},
		{"gpt-5.1", 1.25, 10, 0.125, true},
		{"gpt-5.2", 1.75, 14, 0.175, true},
		{"o3", 2, 8, 0.50, true},
		{"o3-mini", 1.10, 4.40, 0.55, true},
		{"o4-mini-2025-04-16", 1.10, 4.40, 0.275, true},
		{"claude-sonnet-4-20250514", 3, 15, 0.30, true},
		{"claude-sonnet-4-5-20250929", 3, 15, 0.30, true},
		{"anthropic/claude-sonnet-4.5", 3, 15, 0.30, true}, // OpenRouter's name
		{"claude-opus-4-1-20250805", 15, 75, 1.50, true},
		{"claude-opus-4-5-20251101", 5, 25, 0.50, true},
		{"claude-haiku-4-5", 1, 5, 0.10, true},
		{"gpt-4", 0, 0, 0, false},
		{"o3x", 0, 0, 0, false},
		{"llama3.1", 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			p, known := PriceOf(tc.model)
			if known != tc.known {
				t.Fatalf("known = %v, want %v", known, tc.known)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"input", p.Input, tc.in}, {"output", p.Output, tc.out}, {"cache read", p.CacheRead, tc.cacheRead}} {
				if !near(c.got*1e6, c.want) {
					t.Errorf("%s = $%g/M, want $%g/M", c.name, c.got*1e6, c.want)
				}
			}
		})
	}
}

func TestCost(t *testing.T) {
	u := Usage{PromptTokens: 1000, CompletionTokens: 100, CacheReadTokens: 400, CacheWriteTokens: 200}
	p := Price{Input: 3e-6, Output: 15e-6, CacheRead: 0.3e-6, CacheWrite: 3.75e-6}
	// 400 uncached, 400 read, 200 written, 100 out.
	want := 400*3e-6 + 400*0.3e-6 + 200*3.75e-6 + 100*15e-6
	if got := p.Cost(u); !near(got, want) {
		t.Errorf("Cost = %g, want %g", got, want)
	}
	if got := (Price{}).Cost(u); got != 0 {
		t.Errorf("free model costs %g", got)
	}
}

// TestCostPerCall checks the cost of answers from the usage llmtest reports,
// by the price table and by prices in Config.
func TestCostPerCall(t *testing.T) {
	usage := llmtest.Usage{Prompt: 1000, Completion: 100, CacheRead: 400, CacheWrite: 200}
	tests := []struct {
		name  string
		p     protocol
		model string
		cfg   Config
		want  float64
	}{
		{"gpt-4o from the table", protocols[0], "openai/gpt-4o", Config{},
			400*2.5e-6 + 400*1.25e-6 + 200*2.5e-6 + 100*10e-6},
		{"claude sonnet from the table", protocols[1], "anthropic/claude-sonnet-4-5-20250929", Config{},
			400*3e-6 + 400*0.3e-6 + 200*3.75e-6 + 100*15e-6},
		{"gpt-4o with configured input and output prices", protocols[0], "openai/gpt-4o",
			Config{InputCostPerToken: ptr(1e-6), OutputCostPerToken: ptr(2e-6)},
			400*1e-6 + 400*0.5e-6 + 200*1e-6 + 100*2e-6},
		{"claude with a configured input price", protocols[1], "anthropic/claude-sonnet-4-5",
			Config{InputCostPerToken: ptr(6e-6)},
			400*6e-6 + 400*0.6e-6 + 200*7.5e-6 + 100*15e-6},
		{"claude with every price configured", protocols[1], "anthropic/claude-haiku-4-5",
			Config{InputCostPerToken: ptr(1e-6), OutputCostPerToken: ptr(2e-6), CacheReadCostPerToken: ptr(0.1e-6), CacheWriteCostPerToken: ptr(0.5e-6)},
			400*1e-6 + 400*0.1e-6 + 200*0.5e-6 + 100*2e-6},
		{"unknown model with configured prices", protocols[0], "openai/my-finetune",
			Config{InputCostPerToken: ptr(1e-6), OutputCostPerToken: ptr(2e-6)},
			1000*1e-6 + 100*2e-6},
		{"unknown model", protocols[0], "openai/my-finetune", Config{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "ok", Usage: usage})
			tc.cfg.Model = tc.model
			c, _ := newClient(t, tc.p, s, tc.cfg)
			res, err := c.Complete(context.Background(), hello)
			if err != nil {
				t.Fatal(err)
			}
			if !near(res.Cost, tc.want) {
				t.Errorf("Cost = %g, want %g", res.Cost, tc.want)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12+1e-9*math.Abs(b) }
