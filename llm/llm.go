// Package llm talks to language models: OpenAI-compatible chat completions
// (OpenAI, OpenRouter, vLLM, Ollama, a LiteLLM proxy: any base URL) through
// the official openai-go SDK, and Anthropic messages through the official
// anthropic-sdk-go. Both take tools and return tool calls.
//
// A Client retries rate limits (429), server errors (5xx), dropped connections
// and timed-out attempts with exponential backoff, honouring Retry-After. The
// SDKs' own retries are switched off so that this behaviour is one, testable
// piece of code. Every answer carries its token usage and its cost from a
// price table of well-known models (overridable in Config).
//
// Package llmtest has a scripted HTTP server speaking both protocols, for
// tests of anything that drives a Client.
package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gohands/gohands/event"
)

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the arguments, an object schema
	// ({"type":"object","properties":{...},"required":[...]}). Empty means
	// no parameters.
	Parameters json.RawMessage
}

// Request is one call to the model.
type Request struct {
	// System is the system prompt.
	System string
	// Messages is the conversation so far. Roles: "user"; "assistant", with
	// ToolCalls if it called tools; "tool", with ToolCallID and Content, one
	// message per tool call; "system" messages are added to the system prompt.
	//
	// A content part with CachePrompt set marks a prompt-cache breakpoint for
	// providers that take explicit ones (Anthropic); the system prompt is then
	// cached too. Providers that cache on their own (OpenAI) ignore it.
	Messages []event.LLMMessage
	Tools    []Tool
	// MaxTokens caps the answer. Zero leaves it to the provider, except for
	// Anthropic, which requires it: 4096 there.
	MaxTokens int
	// Temperature is sent when set.
	Temperature *float64
	// OnDelta, when set, asks for the answer streamed: it is called with
	// each piece of text (or reasoning) as the model writes it, in order,
	// from the goroutine of Complete. The Response is the whole answer as
	// without streaming. A retried call streams again from its start.
	OnDelta func(Delta)
}

// Delta is a piece of a streamed answer: text, or reasoning the model
// shows of its thinking.
type Delta struct {
	Content   string
	Reasoning string
}

// Usage is the token count of one call.
//
// PromptTokens counts every prompt token, cached ones included (the OpenAI
// convention; for Anthropic it is input + cache read + cache write tokens).
// CacheReadTokens and CacheWriteTokens are the parts of PromptTokens read
// from and written to the provider's prompt cache. ReasoningTokens is the part
// of CompletionTokens the model spent thinking, where the provider says.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	ReasoningTokens  int64
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + v.PromptTokens,
		CompletionTokens: u.CompletionTokens + v.CompletionTokens,
		CacheReadTokens:  u.CacheReadTokens + v.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + v.CacheWriteTokens,
		ReasoningTokens:  u.ReasoningTokens + v.ReasoningTokens,
	}
}

// Response is the model's answer.
type Response struct {
	// ID is the provider's id of the completion.
	ID string
	// Message has role "assistant": its text as content parts, its tool
	// calls with the provider's call id, the tool name and the arguments as
	// the JSON text the model wrote (not checked: it may be malformed), and
	// ReasoningContent when the provider returned reasoning text.
	Message event.LLMMessage
	Usage   Usage
	// Cost is in US dollars, from Usage and the price of the model; 0 for a
	// model without a known or configured price.
	Cost float64
	// FinishReason is why the model stopped, in the OpenAI vocabulary for
	// both providers: "stop", "tool_calls", "length", "content_filter".
	// Other provider reasons pass through as they are.
	FinishReason string
}

// Client asks one model for completions. It is safe for concurrent use.
type Client interface {
	// Complete sends req and returns the answer. Failed attempts are retried
	// as the Config says; the error after the last one wraps one of the
	// sentinels (ErrRateLimited, ErrServer, ...). When ctx ends the error
	// wraps ctx.Err() and nothing is retried.
	Complete(ctx context.Context, req Request) (Response, error)
	// Model is the model name as configured, provider prefix included.
	Model() string
	// ContextWindow is the model's context size in tokens: Config's, else
	// the one known for the model, else 0 (unknown).
	ContextWindow() int
}

// Defaults of Config.
const (
	DefaultTimeout      = 120 * time.Second
	DefaultMaxRetries   = 4
	DefaultRetryMinWait = 1 * time.Second
	DefaultRetryMaxWait = 30 * time.Second
	// DefaultAnthropicMaxTokens is Anthropic's max_tokens when
	// Request.MaxTokens is 0 (the API requires one).
	DefaultAnthropicMaxTokens = 4096
)

// maxRetryAfter bounds how long a Retry-After header can make us wait.
const maxRetryAfter = 2 * time.Minute

// Config says which model to reach and how.
type Config struct {
	// Model is "provider/model" ("openai/gpt-4o", "anthropic/claude-sonnet-4-5")
	// or a bare name; see New for how a provider is picked.
	Model   string
	APIKey  string
	BaseURL string
	// Timeout bounds each attempt; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried: 0 means
	// DefaultMaxRetries, a negative number means never.
	MaxRetries int
	// RetryMinWait is the first backoff (doubled on each retry, with jitter)
	// and RetryMaxWait its cap; 0 means the defaults. A Retry-After header
	// overrides the backoff.
	RetryMinWait, RetryMaxWait time.Duration
	// Prices in US dollars per token, overriding the price table. Cache
	// prices not set here follow the input price in the table's proportions
	// (for a model not in the table, they are the input price).
	InputCostPerToken      *float64
	OutputCostPerToken     *float64
	CacheReadCostPerToken  *float64
	CacheWriteCostPerToken *float64
	// HTTPClient sends the requests; nil means a new http.Client.
	HTTPClient *http.Client
	// Logger gets one line per retry; nil means no logging.
	Logger *slog.Logger
	// ContextWindow overrides the model's known context size in tokens.
	ContextWindow int

	// sleep waits between attempts; tests replace it to see the waits.
	sleep func(context.Context, time.Duration) error
}

// LogValue keeps the API key out of logs.
func (c Config) LogValue() slog.Value {
	key := ""
	if c.APIKey != "" {
		key = "**********"
	}
	return slog.GroupValue(
		slog.String("model", c.Model),
		slog.String("base_url", c.BaseURL),
		slog.String("api_key", key),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_retries", c.MaxRetries),
	)
}

// provider makes one attempt of a call in its protocol.
type provider interface {
	// complete sends req once. mw must be installed as request middleware,
	// so that the retry loop sees the HTTP status, headers and error body.
	complete(ctx context.Context, req Request, mw middleware) (Response, error)
}

// New returns a client for cfg.Model.
//
// The provider is picked from the model name:
//
//   - "anthropic/NAME": Anthropic messages API (at BaseURL if set);
//   - "openai/NAME": OpenAI-compatible chat completions (at BaseURL if set);
//   - "openrouter/NAME", "ollama/NAME": chat completions at OpenRouter or a
//     local Ollama unless BaseURL says otherwise; "litellm_proxy/NAME" and
//     "hosted_vllm/NAME": chat completions at BaseURL, which is required;
//   - any other name, including "org/model" names such as vLLM serves: with
//     a BaseURL, chat completions there, with the name as it is; without, a
//     name starting with "claude" goes to Anthropic and any other to OpenAI.
func New(cfg Config) (Client, error) {
	r, err := route(cfg.Model, cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryMinWait <= 0 {
		cfg.RetryMinWait = DefaultRetryMinWait
	}
	if cfg.RetryMaxWait <= 0 {
		cfg.RetryMaxWait = DefaultRetryMaxWait
	}
	if cfg.RetryMaxWait < cfg.RetryMinWait {
		cfg.RetryMaxWait = cfg.RetryMinWait
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.sleep == nil {
		cfg.sleep = sleep
	}
	c := &client{
		cfg:    cfg,
		route:  r,
		price:  priceFor(r.name, cfg),
		log:    cfg.Logger.With("component", "llm", "model", cfg.Model),
		window: cfg.ContextWindow,
	}
	if c.window <= 0 {
		c.window = contextWindowOf(r.name)
	}
	switch r.provider {
	case providerAnthropic:
		c.p = newAnthropic(r, cfg)
	case providerOpenAI:
		c.p = newOpenAI(r, cfg)
	default:
		return nil, fmt.Errorf("llm: model %q: unknown provider %q", cfg.Model, r.provider)
	}
	return c, nil
}

// client is the Client of both providers: the retry loop and the pricing
// around one provider's single attempts.
type client struct {
	cfg    Config
	route  routed
	p      provider
	price  Price
	log    *slog.Logger
	window int
}

var _ Client = (*client)(nil)

func (c *client) Model() string      { return c.cfg.Model }
func (c *client) ContextWindow() int { return c.window }
