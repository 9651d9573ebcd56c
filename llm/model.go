package llm

import (
	"fmt"
	"strings"
)

// The providers a model name can route to.
const (
	providerOpenAI    = "openai"
	providerAnthropic = "anthropic"
)

// Default base URLs of the OpenAI-compatible services a model prefix names.
const (
	openAIBaseURL     = "https://api.openai.com/v1"
	openRouterBaseURL = "https://openrouter.ai/api/v1"
	ollamaBaseURL     = "http://localhost:11434/v1"
)

// routed is where a model name goes.
type routed struct {
	provider string // providerOpenAI or providerAnthropic
	name     string // the model name the API is sent
	baseURL  string // "" for the SDK's default
}

// route picks the provider, the model name to send and the base URL for the
// configured model and base URL. See New for the rules.
func route(model, baseURL string) (routed, error) {
	model = strings.TrimSpace(model)
	if model == "" {
		return routed{}, fmt.Errorf("llm: no model configured")
	}
	prefix, rest, found := strings.Cut(model, "/")
	if found && rest == "" {
		return routed{}, fmt.Errorf("llm: model %q: no model name after the provider", model)
	}
	if found {
		switch strings.ToLower(prefix) {
		case "anthropic":
			return routed{providerAnthropic, rest, baseURL}, nil
		case "openai":
			return routed{providerOpenAI, rest, baseURL}, nil
		case "openrouter":
			return routed{providerOpenAI, rest, or(baseURL, openRouterBaseURL)}, nil
		case "ollama":
			return routed{providerOpenAI, rest, or(baseURL, ollamaBaseURL)}, nil
		case "litellm_proxy", "hosted_vllm":
			if baseURL == "" {
				return routed{}, fmt.Errorf("llm: model %q needs a base URL", model)
			}
			return routed{providerOpenAI, rest, baseURL}, nil
		}
		// Any other prefix is part of the name ("meta-llama/Llama-3.1-8B").
	}
	if baseURL != "" {
		return routed{providerOpenAI, model, baseURL}, nil
	}
	if strings.HasPrefix(strings.ToLower(model), "claude") {
		return routed{providerAnthropic, model, ""}, nil
	}
	return routed{providerOpenAI, model, ""}, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// The environment variables that give the default model settings.
const (
	EnvModel   = "LLM_MODEL"
	EnvAPIKey  = "LLM_API_KEY"
	EnvBaseURL = "LLM_BASE_URL"
)

// ConfigFromEnv returns the model settings of the environment, read through
// getenv (os.Getenv, in the one place that reads the environment):
// LLM_MODEL, LLM_API_KEY and LLM_BASE_URL. Fields not set stay empty.
func ConfigFromEnv(getenv func(string) string) Config {
	return Config{
		Model:   strings.TrimSpace(getenv(EnvModel)),
		APIKey:  strings.TrimSpace(getenv(EnvAPIKey)),
		BaseURL: strings.TrimSpace(getenv(EnvBaseURL)),
	}
}

// WithDefaults returns c with its empty Model and BaseURL taken from def,
// typically ConfigFromEnv's, for a conversation whose settings leave them out.
// An empty APIKey is taken from def only when c's base URL (after that) is
// def's, so that the default key is never sent to a base URL that someone
// else chose.
func (c Config) WithDefaults(def Config) Config {
	if c.Model == "" {
		c.Model = def.Model
	}
	if c.BaseURL == "" {
		c.BaseURL = def.BaseURL
	}
	if c.APIKey == "" && c.BaseURL == def.BaseURL {
		c.APIKey = def.APIKey
	}
	return c
}
