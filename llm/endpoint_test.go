package llm

import "testing"

func TestEndpoint(t *testing.T) {
	tests := []struct {
		model, base, want string
	}{
		{"openai/gpt-4o", "", "https://api.openai.com/v1"},
		{"gpt-4o", "", "https://api.openai.com/v1"},
		{"anthropic/claude-sonnet-4-5", "", "https://api.anthropic.com"},
		{"claude-3-haiku", "", "https://api.anthropic.com"},
		{"anthropic/claude", "https://Proxy.Example:443/v1/", "https://proxy.example"},
		{"openrouter/x", "", "https://openrouter.ai/api/v1"},
		{"ollama/llama3", "", "http://localhost:11434/v1"},
		{"openai/x", "HTTP://127.0.0.1:80/v1", "http://127.0.0.1/v1"},
		{"openai/x", "http://[::1]:8000/v1", "http://[::1]:8000/v1"},
		{"openai/x", "https://u:pw@llm.example/v1?a=1#f", "https://llm.example/v1"},
	}
	for _, tt := range tests {
		got, err := Endpoint(tt.model, tt.base)
		if err != nil || got != tt.want {
			t.Errorf("Endpoint(%q, %q) = %q, %v; want %q", tt.model, tt.base, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ model, base string }{
		{"", ""}, {"litellm_proxy/x", ""}, {"openai/x", "ftp://host"}, {"openai/x", "/relative"},
		{"openai/x", "http://%zz"},
	} {
		if got, err := Endpoint(bad.model, bad.base); err == nil {
			t.Errorf("Endpoint(%q, %q) = %q, want an error", bad.model, bad.base, got)
		}
	}
}

func TestKeyScope(t *testing.T) {
	server := KeyScope{Model: "openai/gpt-4o", BaseURL: "http://models.internal:4000/v1",
		Allowed: []string{"https://gateway.example/v1"}}
	none := KeyScope{}
	openai := KeyScope{Model: "openai/gpt-4o"}
	baseOnly := KeyScope{BaseURL: "http://models.internal:4000/v1"}
	tests := []struct {
		name  string
		scope KeyScope
		model string
		base  string
		want  bool
	}{
		{"the server's own endpoint", server, "openai/gpt-4o-mini", "http://models.internal:4000/v1", true},
		{"the same endpoint spelled otherwise", server, "openai/x", "HTTP://MODELS.internal:4000/v1/", true},
		{"an allowed endpoint", server, "openai/x", "https://gateway.example/v1", true},
		{"an allowed endpoint, as Anthropic names it", server, "anthropic/x", "https://gateway.example", true},
		{"a client's endpoint", server, "openai/gpt-4o", "https://evil.example/v1", false},
		{"another port of the server's host", server, "openai/gpt-4o", "http://models.internal:4001/v1", false},
		{"another path of an allowed host", server, "openai/x", "https://gateway.example/other", false},
		{"a provider default the server does not use", server, "openai/gpt-4o", "", false},
		{"no model", server, "", "http://models.internal:4000/v1", false},
		{"OpenAI default for an OpenAI server", openai, "gpt-4o-mini", "", true},
		{"Anthropic for an OpenAI server", openai, "anthropic/claude", "", false},
		{"Ollama for an OpenAI server", openai, "ollama/llama3", "", false},
		{"a base URL for an OpenAI server", openai, "openai/gpt-4o", "https://evil.example/v1", false},
		{"a hosted default, server names nothing", none, "anthropic/claude", "", true},
		{"OpenRouter, server names nothing", none, "openrouter/x", "", true},
		{"Ollama, server names nothing", none, "ollama/llama3", "", false},
		{"a base URL, server names nothing", none, "openai/x", "https://evil.example/v1", false},
		{"the server's base URL with the conversation's model", baseOnly, "openai/x", "http://models.internal:4000/v1", true},
		{"elsewhere, server names a base URL only", baseOnly, "openai/x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scope.Allows(tt.model, tt.base); got != tt.want {
				t.Errorf("Allows(%q, %q) = %v, want %v", tt.model, tt.base, got, tt.want)
			}
		})
	}
}
