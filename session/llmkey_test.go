package session

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohands/gohands/storage"
)

// TestServerKeyStaysWithItsEndpoint checks that the server's LLM key is
// lent to a conversation only when the conversation reaches the server's
// own endpoint or an allowed one; one that names another endpoint and no
// key of its own is refused with 422 naming agent.llm.api_key.
func TestServerKeyStaysWithItsEndpoint(t *testing.T) {
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{SecretKey: "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const serverKey = "sk-server-key-0123456789"
	m, err := New(Options{Store: store, Defaults: Defaults{
		LLM:             LLM{Model: "openai/gpt-4o", APIKey: serverKey, BaseURL: "http://models.internal:4000/v1"},
		AllowedBaseURLs: []string{"https://gateway.example/v1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())

	tests := []struct {
		name    string
		llm     *LLM // nil: no agent in the request
		wantKey string
		refused bool
	}{
		{name: "no agent: the server's settings", wantKey: serverKey},
		{name: "a model only: the server's endpoint", llm: &LLM{Model: "openai/gpt-4o-mini"}, wantKey: serverKey},
		{name: "the server's endpoint named", llm: &LLM{Model: "openai/x", BaseURL: "http://MODELS.internal:4000/v1/"}, wantKey: serverKey},
		{name: "an allowed endpoint", llm: &LLM{Model: "openai/x", BaseURL: "https://gateway.example/v1"}, wantKey: serverKey},
		{name: "the client's endpoint, no key", llm: &LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1"}, refused: true},
		{name: "the client's endpoint, masked key", llm: &LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1", APIKey: Masked}},
		{name: "the client's endpoint, its own key", llm: &LLM{Model: "openai/gpt-4o", BaseURL: "https://evil.example/v1", APIKey: "own-key-123456"}, wantKey: "own-key-123456"},
		{name: "a model of another provider, no key", llm: &LLM{Model: "anthropic/claude-sonnet-4-5", BaseURL: "https://api.anthropic.com"}, refused: true},
		{name: "the server's model at the client's endpoint", llm: &LLM{BaseURL: "https://evil.example/v1"}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := CreateRequest{}
			if tt.llm != nil {
				req.Agent = &Agent{LLM: *tt.llm}
			}
			a, _, err := m.Create(context.Background(), req)
			if tt.refused {
				var se *Error
				if !errors.As(err, &se) || se.Kind != KindInvalid || !strings.Contains(se.Detail, "agent.llm.api_key") {
					t.Fatalf("Create = %v, want a 422 naming agent.llm.api_key", err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v is not ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := a.Settings().Agent.LLM
			wantModel := "openai/gpt-4o"
			if tt.llm != nil && tt.llm.Model != "" {
				wantModel = tt.llm.Model
			}
			if got.APIKey != tt.wantKey || (tt.llm != nil && tt.llm.Model != "" && got.Model != wantModel) {
				t.Errorf("settings LLM = %+v, want key %q and model %q", got, tt.wantKey, wantModel)
			}
		})
	}
	convs, _, err := store.Conversations(storage.ConversationQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 6 {
		t.Errorf("%d conversations stored, want 6 (the refused ones leave nothing)", len(convs))
	}
}
