package llm

import (
	"context"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
)

// TestNoCredentialsFromTheEnvironment checks that a client sends only the
// key its Config gives: credentials and headers the SDKs would read from
// the server's environment (OPENAI_*, ANTHROPIC_*) never reach the
// endpoint, which may be one a client chose.
func TestNoCredentialsFromTheEnvironment(t *testing.T) {
	const leak = "env-credential-must-not-leave"
	t.Setenv("OPENAI_API_KEY", leak)
	t.Setenv("OPENAI_ADMIN_KEY", leak)
	t.Setenv("OPENAI_ORG_ID", leak)
	t.Setenv("OPENAI_PROJECT_ID", leak)
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: "+leak+"\nAuthorization: Bearer "+leak)
	t.Setenv("ANTHROPIC_API_KEY", leak)
	t.Setenv("ANTHROPIC_AUTH_TOKEN", leak)
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: "+leak)
	for _, model := range []string{"openai/gpt-4o", "anthropic/claude-sonnet-4-5"} {
		for _, key := range []string{"", "the-conversations-own-key"} {
			s := llmtest.New(t, llmtest.Reply{Text: "ok"})
			c, err := New(Config{Model: model, APIKey: key, BaseURL: s.URL() + "/v1", MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Complete(context.Background(), Request{
				Messages: []event.LLMMessage{{Role: "user", Content: event.ContentList{{Type: event.ContentText, Text: "hi"}}}},
			}); err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%s: %d requests, want 1", model, len(reqs))
			}
			for name, values := range reqs[0].Header {
				for _, v := range values {
					if strings.Contains(v, leak) {
						t.Errorf("%s, key %q: header %s: %q carries a credential of the environment", model, key, name, v)
					}
				}
			}
		}
	}
}
