package llm

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/llm/llmtest"
)

// protocol is one API the client speaks, with a model routed to it and the
// base URL llmtest serves it at.
type protocol struct {
	name  string
	model string
	base  func(*llmtest.Server) string
}

var protocols = []protocol{
	{"openai", "openai/gpt-4o", func(s *llmtest.Server) string { return s.URL() + "/v1" }},
	{"anthropic", "anthropic/claude-sonnet-4-5", func(s *llmtest.Server) string { return s.URL() }},
}

// waits records the waits between attempts instead of sleeping them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) get() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// newClient returns a client of p at s, with cfg's other settings, and the
// record of its waits (which it does not sleep).
func newClient(t *testing.T, p protocol, s *llmtest.Server, cfg Config) (Client, *waits) {
	t.Helper()
	w := &waits{}
	if cfg.Model == "" {
		cfg.Model = p.model
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = p.base(s)
	}
	if cfg.APIKey == "" {
		cfg.APIKey = "test-key"
	}
	cfg.sleep = w.sleep
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Model, err)
	}
	return c, w
}

// decode is the JSON value of s, for comparing with what llmtest recorded.
func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON in test: %v\n%s", err, s)
	}
	return v
}

func ptr[T any](v T) *T { return &v }
