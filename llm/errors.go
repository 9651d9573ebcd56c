package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels a failed Complete wraps, for callers to branch on with errors.Is.
// Retried failures (rate limits, server errors, connection errors, timeouts)
// are returned only after the last retry.
var (
	// ErrRateLimited: the provider answered 429.
	ErrRateLimited = errors.New("llm: rate limited")
	// ErrServer: the provider answered 5xx, or an answer that could not be
	// read.
	ErrServer = errors.New("llm: provider error")
	// ErrBadRequest: the provider refused the request (400, 404, 422, other
	// 4xx). Not retried.
	ErrBadRequest = errors.New("llm: bad request")
	// ErrContextWindow: the prompt is too long for the model. It comes with
	// ErrBadRequest; the caller can condense the conversation and try again.
	ErrContextWindow = errors.New("llm: context window exceeded")
	// ErrAuth: the provider refused the key (401, 403). Not retried.
	ErrAuth = errors.New("llm: authentication failed")
	// ErrTimeout: no answer within Config.Timeout.
	ErrTimeout = errors.New("llm: timeout")
	// ErrConnection: the provider could not be reached, or closed the
	// connection before answering.
	ErrConnection = errors.New("llm: connection failed")
)

// APIError is an error status from the provider. It wraps the sentinel of
// its status (errors.Is(err, ErrAuth) for a 401).
type APIError struct {
	Status int
	// Message is the provider's error message.
	Message string
	// Provider is "openai" or "anthropic" (the protocol spoken).
	Provider string
	// Type is the provider's error type or code ("rate_limit_error",
	// "context_length_exceeded"), if it gave one.
	Type string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s API: %d: %s", e.Provider, e.Status, msg)
}

// Unwrap returns the sentinels e stands for.
func (e *APIError) Unwrap() []error {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return []error{ErrRateLimited}
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return []error{ErrAuth}
	case e.Status >= 500:
		return []error{ErrServer}
	case e.contextWindow():
		return []error{ErrBadRequest, ErrContextWindow}
	default:
		return []error{ErrBadRequest}
	}
}

// contextWindow tells a prompt that is too long from other refusals, by the
// codes and messages OpenAI, Anthropic, vLLM and LiteLLM use for it.
func (e *APIError) contextWindow() bool {
	if e.Status == http.StatusRequestEntityTooLarge {
		return true
	}
	if e.Type == "context_length_exceeded" {
		return true
	}
	m := strings.ToLower(e.Message)
	for _, s := range []string{
		"context_length_exceeded", "context length", "context window",
		"prompt is too long", "maximum context", "too many tokens",
		"input is too long",
	} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// retryable reports whether the status is worth another attempt.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// apiError builds the APIError of an error response from its body: the
// OpenAI shape {"error":{"message","type","code"}}, the Anthropic shape
// {"type":"error","error":{"type","message"}}, a bare {"message"} or
// {"detail"} (vLLM, proxies), or text.
func apiError(provider string, status int, body []byte) *APIError {
	e := &APIError{Status: status, Provider: provider}
	var w struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
		Type    string          `json:"type"`
	}
	if json.Unmarshal(body, &w) != nil {
		e.Message = strings.TrimSpace(truncate(string(body), 500))
		return e
	}
	var inner struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	}
	var s string
	switch {
	case json.Unmarshal(w.Error, &inner) == nil && inner.Message != "":
		e.Message = inner.Message
		e.Type = inner.Type
		if c, ok := inner.Code.(string); ok && c != "" {
			e.Type = c
		}
	case json.Unmarshal(w.Error, &s) == nil && s != "":
		e.Message = s
	case w.Message != "":
		e.Message, e.Type = w.Message, w.Type
	case w.Detail != nil:
		if d, ok := w.Detail.(string); ok {
			e.Message = d
		} else if b, err := json.Marshal(w.Detail); err == nil {
			e.Message = string(b)
		}
	default:
		e.Message = strings.TrimSpace(truncate(string(body), 500))
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
