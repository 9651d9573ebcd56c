package llm

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAPIErrorBody(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   APIError
	}{
		{"openai", 400, `{"error":{"message":"Invalid value for 'tools'","type":"invalid_request_error","param":"tools","code":null}}`,
			APIError{Status: 400, Message: "Invalid value for 'tools'", Type: "invalid_request_error"}},
		{"openai code", 400, `{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}`,
			APIError{Status: 400, Message: "too long", Type: "context_length_exceeded"}},
		{"anthropic", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			APIError{Status: 529, Message: "Overloaded", Type: "overloaded_error"}},
		{"vllm", 400, `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}`,
			APIError{Status: 400, Message: "max_tokens is too large", Type: "BadRequestError"}},
		{"error string", 401, `{"error":"invalid api key"}`, APIError{Status: 401, Message: "invalid api key"}},
		{"detail", 422, `{"detail":[{"loc":["body","model"],"msg":"field required"}]}`,
			APIError{Status: 422, Message: `[{"loc":["body","model"],"msg":"field required"}]`}},
		{"text", 502, "<html>Bad Gateway</html>\n", APIError{Status: 502, Message: "<html>Bad Gateway</html>"}},
		{"empty", 503, "", APIError{Status: 503}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Provider = "openai"
			got := apiError("openai", tc.status, []byte(tc.body))
			if diff := cmp.Diff(*got, tc.want); diff != "" {
				t.Errorf("apiError (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAPIErrorSentinels(t *testing.T) {
	tests := []struct {
		e    APIError
		want []error
	}{
		{APIError{Status: 429}, []error{ErrRateLimited}},
		{APIError{Status: 500}, []error{ErrServer}},
		{APIError{Status: 529}, []error{ErrServer}},
		{APIError{Status: 401}, []error{ErrAuth}},
		{APIError{Status: 403}, []error{ErrAuth}},
		{APIError{Status: 400}, []error{ErrBadRequest}},
		{APIError{Status: 422}, []error{ErrBadRequest}},
		{APIError{Status: 413}, []error{ErrBadRequest, ErrContextWindow}},
		{APIError{Status: 400, Message: "This model's maximum context length is 8192 tokens"}, []error{ErrBadRequest, ErrContextWindow}},
	}
	all := []error{ErrRateLimited, ErrServer, ErrBadRequest, ErrContextWindow, ErrAuth, ErrTimeout, ErrConnection}
	for _, tc := range tests {
		err := error(&tc.e)
		for _, s := range all {
			want := false
			for _, w := range tc.want {
				want = want || w == s
			}
			if errors.Is(err, s) != want {
				t.Errorf("%d %q: errors.Is(%v) = %v, want %v", tc.e.Status, tc.e.Message, s, !want, want)
			}
		}
	}
}
