package llmtest

import (
	"net/http"
	"time"
)

// Step is one scripted answer: a Reply, a Fail, a Drop or a Raw.
type Step interface{ isStep() }

// Reply answers with an assistant message: text, tool calls, or both.
type Reply struct {
	Text      string
	ToolCalls []Call
	// Reasoning is sent as reasoning_content (OpenAI-compatible servers
	// such as vLLM) or as a thinking block (Anthropic).
	Reasoning string
	// Usage is the usage reported; zero means an estimate from the sizes of
	// the request and the answer (about four bytes a token).
	Usage Usage
	// FinishReason overrides the one the answer implies ("tool_calls" or
	// "stop"; "tool_use" or "end_turn" for Anthropic).
	FinishReason string
	// Delay holds the answer back, or until the client gives up.
	Delay time.Duration
	// TokenDelay paces a streamed answer (a request with "stream":
	// true): it is waited before each word of reasoning and text.
	TokenDelay time.Duration
}

// Call is one tool call of a Reply.
type Call struct {
	// ID is the call id; empty means a fresh one ("call_N", "toolu_N").
	ID   string
	Name string
	// Args is the arguments' JSON text, sent as written. Text that is not a
	// JSON object goes to Anthropic clients as a JSON string in "input", the
	// nearest a Messages answer can come to malformed arguments.
	Args string
}

// Usage is a token count in the OpenAI convention: Prompt includes the
// cached tokens (CacheRead, CacheWrite). Anthropic answers report
// input_tokens = Prompt - CacheRead - CacheWrite.
type Usage struct {
	Prompt, Completion, CacheRead, CacheWrite, Reasoning int64
}

// Fail answers with an error status and an error body in the protocol's
// shape.
type Fail struct {
	// Status is the HTTP status: 429, 500, 503, 401, ... (0 means 500).
	Status int
	// RetryAfter is sent as the Retry-After header when set ("1").
	RetryAfter string
	// Message is the error message; empty means the status text.
	Message string
	// Type is the error type ("rate_limit_error"); empty means the usual
	// one for the status.
	Type string
	// Delay holds the answer back, or until the client gives up.
	Delay time.Duration
	// TokenDelay paces a streamed answer (a request with "stream":
	// true): it is waited before each word of reasoning and text.
	TokenDelay time.Duration
}

// Drop closes the connection without answering.
type Drop struct{}

// Raw answers with exactly this status, headers and body, for answers the
// protocols do not allow (a body that is not JSON, a truncated one).
type Raw struct {
	Status int // 0 means 200
	Header http.Header
	Body   string
}

func (Reply) isStep() {}
func (Fail) isStep()  {}
func (Drop) isStep()  {}
func (Raw) isStep()   {}
