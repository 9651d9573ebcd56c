package llm

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm/llmtest"
)

var hello = Request{Messages: []event.LLMMessage{{Role: "user", Content: event.Text("hello")}}}

// TestRetries checks that rate limits, server errors, dropped connections
// and unreadable answers are retried until an answer comes, with the waits
// the server asks for or the backoff.
func TestRetries(t *testing.T) {
	// backoff n is the range of the default backoff before retry n+1.
	backoff := func(n int) [2]time.Duration {
		d := DefaultRetryMinWait << n
		return [2]time.Duration{d - d/4, d}
	}
	exactly := func(d time.Duration) [2]time.Duration { return [2]time.Duration{d, d} }
	tests := []struct {
		name  string
		steps []llmtest.Step
		waits [][2]time.Duration // the range of each wait
	}{
		{"429 with Retry-After", []llmtest.Step{llmtest.Fail{Status: 429, RetryAfter: "1"}}, [][2]time.Duration{exactly(time.Second)}},
		{"429 without Retry-After", []llmtest.Step{llmtest.Fail{Status: 429}}, [][2]time.Duration{backoff(0)}},
		{"500 then 503", []llmtest.Step{llmtest.Fail{Status: 500}, llmtest.Fail{Status: 503, RetryAfter: "2"}}, [][2]time.Duration{backoff(0), exactly(2 * time.Second)}},
		{"529 overloaded", []llmtest.Step{llmtest.Fail{Status: 529}}, [][2]time.Duration{backoff(0)}},
		{"three server errors", []llmtest.Step{llmtest.Fail{Status: 500}, llmtest.Fail{Status: 502}, llmtest.Fail{Status: 500}}, [][2]time.Duration{backoff(0), backoff(1), backoff(2)}},
		{"closed connection", []llmtest.Step{llmtest.Drop{}}, [][2]time.Duration{backoff(0)}},
		{"answer that is not JSON", []llmtest.Step{llmtest.Raw{Header: http.Header{"Content-Type": {"application/json"}}, Body: `{"id": "chatcmpl-1", "choi`}}, [][2]time.Duration{backoff(0)}},
	}
	for _, p := range protocols {
		for _, tc := range tests {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := llmtest.New(t, append(tc.steps, llmtest.Reply{Text: "ok"})...)
				c, w := newClient(t, p, s, Config{})
				res, err := c.Complete(context.Background(), hello)
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if got := res.Message.Content.Text(); got != "ok" {
					t.Errorf("answer = %q, want ok", got)
				}
				if got, want := len(s.Requests()), len(tc.steps)+1; got != want {
					t.Errorf("server got %d requests, want %d", got, want)
				}
				got := w.get()
				if len(got) != len(tc.waits) {
					t.Fatalf("waits = %v, want %d of them", got, len(tc.waits))
				}
				for i, r := range tc.waits {
					if got[i] < r[0] || got[i] > r[1] {
						t.Errorf("wait %d = %v, want in [%v, %v]", i, got[i], r[0], r[1])
					}
				}
			})
		}
	}
}

// TestRetriesExhausted checks that the last failure is returned, wrapping
// its sentinel, after MaxRetries retries.
func TestRetriesExhausted(t *testing.T) {
	tests := []struct {
		name string
		step llmtest.Step
		want error
	}{
		{"server error", llmtest.Fail{Status: 500, Message: "boom"}, ErrServer},
		{"rate limit", llmtest.Fail{Status: 429, Message: "slow down"}, ErrRateLimited},
		{"closed connection", llmtest.Drop{}, ErrConnection},
	}
	for _, p := range protocols {
		for _, tc := range tests {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := llmtest.New(t)
				s.SetDefault(tc.step)
				c, w := newClient(t, p, s, Config{MaxRetries: 2})
				_, err := c.Complete(context.Background(), hello)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if !strings.Contains(err.Error(), "3 attempts") {
					t.Errorf("err = %q, want it to say 3 attempts", err)
				}
				if got := len(s.Requests()); got < 3 {
					t.Errorf("server got %d requests, want 3", got)
				}
				if got := len(w.get()); got != 2 {
					t.Errorf("%d waits, want 2", got)
				}
				if f, ok := tc.step.(llmtest.Fail); ok {
					var ae *APIError
					if !errors.As(err, &ae) {
						t.Fatalf("err %v is not an *APIError", err)
					}
					if ae.Status != f.Status || ae.Message != f.Message || ae.Provider != p.name {
						t.Errorf("APIError = %+v, want status %d, message %q, provider %s", ae, f.Status, f.Message, p.name)
					}
				}
			})
		}
	}
}

// TestNoRetry checks that refusals are returned at once, with the
// provider's message.
func TestNoRetry(t *testing.T) {
	tests := []struct {
		name string
		fail llmtest.Fail
		want []error
	}{
		{"bad request", llmtest.Fail{Status: 400, Message: "messages: field required"}, []error{ErrBadRequest}},
		{"unauthorized", llmtest.Fail{Status: 401, Message: "invalid x-api-key"}, []error{ErrAuth}},
		{"forbidden", llmtest.Fail{Status: 403, Message: "no access to this model"}, []error{ErrAuth}},
		{"not found", llmtest.Fail{Status: 404, Message: "model not found"}, []error{ErrBadRequest}},
		{"context window", llmtest.Fail{Status: 400, Message: "prompt is too long: 212345 tokens > 200000 maximum"}, []error{ErrBadRequest, ErrContextWindow}},
		{"context window code", llmtest.Fail{Status: 400, Type: "context_length_exceeded", Message: "This model's maximum context length is 128000 tokens."}, []error{ErrBadRequest, ErrContextWindow}},
	}
	for _, p := range protocols {
		for _, tc := range tests {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := llmtest.New(t, tc.fail, llmtest.Reply{Text: "never"})
				c, w := newClient(t, p, s, Config{})
				_, err := c.Complete(context.Background(), hello)
				for _, want := range tc.want {
					if !errors.Is(err, want) {
						t.Errorf("err = %v, want it to wrap %v", err, want)
					}
				}
				if tc.fail.Status != 400 && errors.Is(err, ErrContextWindow) {
					t.Errorf("err = %v wraps ErrContextWindow", err)
				}
				if err == nil || !strings.Contains(err.Error(), tc.fail.Message) {
					t.Errorf("err = %v, want the provider's message %q in it", err, tc.fail.Message)
				}
				if got := len(s.Requests()); got != 1 {
					t.Errorf("server got %d requests, want 1", got)
				}
				if got := w.get(); len(got) != 0 {
					t.Errorf("waits = %v, want none", got)
				}
			})
		}
	}
}

// TestTimeout checks that an attempt that takes too long is abandoned, and
// retried when retries are left.
func TestTimeout(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name+"/no retries", func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "late", Delay: time.Minute})
			c, _ := newClient(t, p, s, Config{Timeout: 50 * time.Millisecond, MaxRetries: -1})
			_, err := c.Complete(context.Background(), hello)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if got := len(s.Requests()); got != 1 {
				t.Errorf("server got %d requests, want 1", got)
			}
		})
		t.Run(p.name+"/retried", func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "late", Delay: time.Minute}, llmtest.Reply{Text: "ok"})
			c, w := newClient(t, p, s, Config{Timeout: 200 * time.Millisecond})
			res, err := c.Complete(context.Background(), hello)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if got := res.Message.Content.Text(); got != "ok" {
				t.Errorf("answer = %q, want ok", got)
			}
			if got := len(w.get()); got != 1 {
				t.Errorf("%d waits, want 1", got)
			}
		})
	}
}

// TestCancel checks that a caller that gives up stops the call and its
// retries, and gets its context's error rather than a provider error.
func TestCancel(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name+"/during a call", func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Reply{Text: "late", Delay: time.Minute})
			c, _ := newClient(t, p, s, Config{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for len(s.Requests()) == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			_, err := c.Complete(ctx, hello)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) {
				t.Errorf("err = %v wraps a provider sentinel", err)
			}
			if got := len(s.Requests()); got != 1 {
				t.Errorf("server got %d requests, want 1", got)
			}
		})
		t.Run(p.name+"/during a wait", func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t)
			s.SetDefault(llmtest.Fail{Status: 503})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cl, err := New(Config{Model: p.model, BaseURL: p.base(s), sleep: func(ctx context.Context, _ time.Duration) error {
				cancel()
				return ctx.Err()
			}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Complete(ctx, hello)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if got := len(s.Requests()); got != 1 {
				t.Errorf("server got %d requests, want 1", got)
			}
		})
	}
}

// TestRetryAfterSleeps checks, with the real clock, that a Retry-After
// of one second holds the retry back at least that long.
func TestRetryAfterSleeps(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a second for a Retry-After")
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			s := llmtest.New(t, llmtest.Fail{Status: 429, RetryAfter: "1"}, llmtest.Reply{Text: "ok"})
			c, err := New(Config{Model: p.model, BaseURL: p.base(s)})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := c.Complete(context.Background(), hello); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < time.Second {
				t.Errorf("retried after %v, before the Retry-After of 1s", waited)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"fraction", http.Header{"Retry-After": {"0.25"}}, 250 * time.Millisecond},
		{"milliseconds first", http.Header{"Retry-After-Ms": {"150"}, "Retry-After": {"1"}}, 150 * time.Millisecond},
		{"zero", http.Header{"Retry-After": {"0"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"past date", http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, 0},
		{"capped", http.Header{"Retry-After": {"86400"}}, maxRetryAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfter(tc.header); got != tc.want {
				t.Errorf("retryAfter = %v, want %v", got, tc.want)
			}
		})
	}
	// A date: some time in the future, no more than asked.
	h := http.Header{"Retry-After": {time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)}}
	if got := retryAfter(h); got <= 8*time.Second || got > 10*time.Second {
		t.Errorf("retryAfter(date in 10s) = %v", got)
	}
}

func TestBackoff(t *testing.T) {
	c := &client{cfg: Config{RetryMinWait: 100 * time.Millisecond, RetryMaxWait: time.Second}}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			if got := c.backoff(n); got > want || got < want-want/4 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want-want/4, want)
			}
		}
	}
}

// TestRetryLog checks that retries are logged, without the API key.
func TestRetryLog(t *testing.T) {
	var buf strings.Builder
	var mu = make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(lockedWriter{&buf, mu}, nil))
	s := llmtest.New(t, llmtest.Fail{Status: 500, Message: "boom"})
	c, _ := newClient(t, protocols[0], s, Config{APIKey: "sk-secret-key", Logger: log})
	if _, err := c.Complete(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	mu <- struct{}{}
	out := buf.String()
	<-mu
	if !strings.Contains(out, "retrying") || !strings.Contains(out, "boom") || !strings.Contains(out, "component=llm") {
		t.Errorf("log = %q, want a retry line with the error", out)
	}
	if strings.Contains(out, "sk-secret-key") {
		t.Errorf("log has the API key: %q", out)
	}
}

type lockedWriter struct {
	b  *strings.Builder
	mu chan struct{}
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.b.Write(p)
}
