package llm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoute(t *testing.T) {
	tests := []struct {
		model, baseURL string
		want           routed
		wantErr        string
	}{
		{"openai/gpt-4o", "", routed{providerOpenAI, "gpt-4o", ""}, ""},
		{"openai/gpt-4o", "http://proxy:4000", routed{providerOpenAI, "gpt-4o", "http://proxy:4000"}, ""},
		{"anthropic/claude-sonnet-4-5", "", routed{providerAnthropic, "claude-sonnet-4-5", ""}, ""},
		{"anthropic/claude-sonnet-4-5", "http://gw", routed{providerAnthropic, "claude-sonnet-4-5", "http://gw"}, ""},
		{"Anthropic/claude-opus-4-5", "", routed{providerAnthropic, "claude-opus-4-5", ""}, ""},
		{"gpt-4o-mini", "", routed{providerOpenAI, "gpt-4o-mini", ""}, ""},
		{"o4-mini", "", routed{providerOpenAI, "o4-mini", ""}, ""},
		{"claude-sonnet-4-5", "", routed{providerAnthropic, "claude-sonnet-4-5", ""}, ""},
		{"Claude-3-haiku", "", routed{providerAnthropic, "Claude-3-haiku", ""}, ""},
		// A bare name with a base URL goes to the OpenAI-compatible server
		// there, even a claude one (a LiteLLM proxy, OpenRouter).
		{"claude-sonnet-4-5", "http://litellm:4000", routed{providerOpenAI, "claude-sonnet-4-5", "http://litellm:4000"}, ""},
		{"qwen2.5-coder", "http://vllm:8000/v1", routed{providerOpenAI, "qwen2.5-coder", "http://vllm:8000/v1"}, ""},
		// An unknown prefix is part of the name (vLLM serves Hugging Face
		// names).
		{"meta-llama/Llama-3.1-8B-Instruct", "http://vllm:8000/v1", routed{providerOpenAI, "meta-llama/Llama-3.1-8B-Instruct", "http://vllm:8000/v1"}, ""},
		{"openrouter/anthropic/claude-sonnet-4.5", "", routed{providerOpenAI, "anthropic/claude-sonnet-4.5", openRouterBaseURL}, ""},
		{"openrouter/openai/gpt-4o", "http://mine", routed{providerOpenAI, "openai/gpt-4o", "http://mine"}, ""},
		{"ollama/llama3.1", "", routed{providerOpenAI, "llama3.1", ollamaBaseURL}, ""},
		{"litellm_proxy/claude-sonnet-4-5", "http://litellm:4000", routed{providerOpenAI, "claude-sonnet-4-5", "http://litellm:4000"}, ""},
		{"hosted_vllm/qwen", "http://vllm:8000/v1", routed{providerOpenAI, "qwen", "http://vllm:8000/v1"}, ""},
		{" openai/gpt-5 ", "", routed{providerOpenAI, "gpt-5", ""}, ""},
		{"", "", routed{}, "no model"},
		{"openai/", "", routed{}, "no model name"},
		{"litellm_proxy/gpt-4o", "", routed{}, "needs a base URL"},
	}
	for _, tc := range tests {
		t.Run(tc.model+"@"+tc.baseURL, func(t *testing.T) {
			got, err := route(tc.model, tc.baseURL)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("route = %+v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tc.want, cmp.AllowUnexported(routed{})); diff != "" {
				t.Errorf("route (-got +want):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a model: no error")
	}
	c, err := New(Config{Model: "anthropic/claude-sonnet-4-5-20250929"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Model() != "anthropic/claude-sonnet-4-5-20250929" {
		t.Errorf("Model = %q", c.Model())
	}
	if c.ContextWindow() != 200_000 {
		t.Errorf("ContextWindow = %d, want 200000", c.ContextWindow())
	}
	c, _ = New(Config{Model: "openai/gpt-4o", ContextWindow: 32_000})
	if c.ContextWindow() != 32_000 {
		t.Errorf("configured ContextWindow = %d, want 32000", c.ContextWindow())
	}
	c, _ = New(Config{Model: "my-local-model", BaseURL: "http://localhost:8000/v1"})
	if c.ContextWindow() != 0 {
		t.Errorf("unknown model's ContextWindow = %d, want 0", c.ContextWindow())
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{EnvModel: " anthropic/claude-sonnet-4-5 ", EnvAPIKey: "sk-ant", EnvBaseURL: ""}
	got := ConfigFromEnv(func(k string) string { return env[k] })
	want := Config{Model: "anthropic/claude-sonnet-4-5", APIKey: "sk-ant"}
	if diff := cmp.Diff(got, want, cmp.AllowUnexported(Config{})); diff != "" {
		t.Errorf("ConfigFromEnv (-got +want):\n%s", diff)
	}
}

func TestWithDefaults(t *testing.T) {
	def := Config{Model: "openai/gpt-4o", APIKey: "sk-server", BaseURL: "http://proxy"}
	tests := []struct {
		name      string
		c, want   Config
		wantNoKey bool
	}{
		{"empty takes everything", Config{}, def, false},
		{"own model, default endpoint and key", Config{Model: "openai/gpt-4o-mini"},
			Config{Model: "openai/gpt-4o-mini", APIKey: "sk-server", BaseURL: "http://proxy"}, false},
		{"own key kept", Config{APIKey: "sk-mine"},
			Config{Model: "openai/gpt-4o", APIKey: "sk-mine", BaseURL: "http://proxy"}, false},
		// The server's key is not sent to a base URL a client chose.
		{"other base URL gets no key", Config{BaseURL: "http://elsewhere"},
			Config{Model: "openai/gpt-4o", BaseURL: "http://elsewhere"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.WithDefaults(def)
			if diff := cmp.Diff(got, tc.want, cmp.AllowUnexported(Config{})); diff != "" {
				t.Errorf("WithDefaults (-got +want):\n%s", diff)
			}
		})
	}
}

func TestConfigLogValue(t *testing.T) {
	v := Config{Model: "openai/gpt-4o", APIKey: "sk-secret"}.LogValue().String()
	if strings.Contains(v, "sk-secret") || !strings.Contains(v, "gpt-4o") {
		t.Errorf("LogValue = %s", v)
	}
}

// urlRecorder fails every request, keeping its URL and headers.
type urlRecorder struct {
	mu  sync.Mutex
	req []*http.Request
}

func (u *urlRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.req = append(u.req, r)
	return nil, errors.New("no network in this test")
}

// TestDefaultEndpoints checks that a model without a base URL goes to the
// provider's public API, whatever OPENAI_* or ANTHROPIC_* variables say:
// the environment is read in one place, and not here.
func TestDefaultEndpoints(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://env-openai")
	t.Setenv("OPENAI_API_KEY", "sk-env-openai")
	t.Setenv("ANTHROPIC_BASE_URL", "http://env-anthropic")
	t.Setenv("ANTHROPIC_API_KEY", "sk-env-anthropic")
	tests := []struct{ model, key, url, header, value string }{
		{"gpt-4o", "sk-cfg", "https://api.openai.com/v1/chat/completions", "Authorization", "Bearer sk-cfg"},
		{"claude-sonnet-4-5", "sk-cfg", "https://api.anthropic.com/v1/messages", "X-Api-Key", "sk-cfg"},
		{"openai/gpt-4o", "", "https://api.openai.com/v1/chat/completions", "Authorization", ""},
		{"anthropic/claude-sonnet-4-5", "", "https://api.anthropic.com/v1/messages", "X-Api-Key", ""},
	}
	for _, tc := range tests {
		t.Run(tc.model+"/"+tc.key, func(t *testing.T) {
			rec := &urlRecorder{}
			c, err := New(Config{Model: tc.model, APIKey: tc.key, MaxRetries: -1, HTTPClient: &http.Client{Transport: rec}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Complete(context.Background(), hello); !errors.Is(err, ErrConnection) {
				t.Errorf("err = %v, want ErrConnection", err)
			}
			if len(rec.req) != 1 {
				t.Fatalf("%d requests, want 1", len(rec.req))
			}
			r := rec.req[0]
			if r.URL.String() != tc.url {
				t.Errorf("URL = %s, want %s", r.URL, tc.url)
			}
			if got := r.Header.Get(tc.header); strings.Contains(got, "sk-env") || (tc.value != "" && got != tc.value) {
				t.Errorf("%s = %q, want %q", tc.header, got, tc.value)
			}
		})
	}
}
