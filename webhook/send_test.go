package webhook

import (
	"bytes"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	d := New([]Spec{testSpec(e.URL)}, Options{})

	d.Conversation([]byte(`{"id":"c1"}`))
	closeDispatcher(t, d) // Close waits for the delivery
	hits := e.snapshot()
	if len(hits) != 3 {
		t.Fatalf("%d attempts, want 3 (two 500s, then 200)", len(hits))
	}
	for i, h := range hits {
		if string(h.body) != `{"id":"c1"}` {
			t.Errorf("attempt %d body = %s", i, h.body)
		}
	}
	if diff := cmp.Diff(d.Stats(), Stats{Sent: 1, Retries: 2}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

func TestRetryByStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status       int
		wantAttempts int
	}{
		{http.StatusBadRequest, 1},
		{http.StatusUnauthorized, 1},
		{http.StatusNotFound, 1},
		{http.StatusRequestTimeout, 3},
		{http.StatusTooManyRequests, 3},
		{http.StatusInternalServerError, 3},
		{http.StatusBadGateway, 3},
		{http.StatusServiceUnavailable, 3},
		{http.StatusFound, 1}, // not followed: a redirected POST loses its body
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tt.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			})
			spec := testSpec(e.URL)
			spec.NumRetries = 2
			d := New([]Spec{spec}, Options{})
			d.Conversation([]byte(`{}`))
			closeDispatcher(t, d)

			if got := len(e.snapshot()); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
			want := Stats{Failed: 1, Retries: int64(tt.wantAttempts - 1)}
			if diff := cmp.Diff(d.Stats(), want); diff != "" {
				t.Errorf("Stats (-got +want):\n%s", diff)
			}
		})
	}
}

func TestNoRetries(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	spec := testSpec(e.URL)
	spec.NumRetries = -1
	d := New([]Spec{spec}, Options{})
	d.Conversation([]byte(`{}`))
	closeDispatcher(t, d)
	if got := len(e.snapshot()); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

func TestRetryOnNetworkError(t *testing.T) {
	t.Parallel()
	// A port that was just listening and is now closed: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	spec := testSpec("http://" + addr)
	spec.NumRetries = 2
	d := New([]Spec{spec}, Options{})
	d.Event("c", ev(1))
	closeDispatcher(t, d)
	if diff := cmp.Diff(d.Stats(), Stats{Failed: 1, Retries: 2}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	d := New([]Spec{testSpec(e.URL)}, Options{}) // RetryDelay is 1ms
	d.Conversation([]byte(`{}`))
	closeDispatcher(t, d)

	hits := e.snapshot()
	if len(hits) != 2 {
		t.Fatalf("%d attempts, want 2", len(hits))
	}
	// A lower bound only: the retry waited for Retry-After, not RetryDelay.
	if gap := hits[1].at.Sub(hits[0].at); gap < 900*time.Millisecond {
		t.Errorf("retry came %v after the 429, want about 1s (Retry-After: 1)", gap)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryDelay time.Duration
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first retry", 100 * time.Millisecond, 0, -1, 100 * time.Millisecond},
		{"second doubles", 100 * time.Millisecond, 1, -1, 200 * time.Millisecond},
		{"third doubles again", 100 * time.Millisecond, 2, -1, 400 * time.Millisecond},
		{"capped", time.Minute, 10, -1, maxBackoff},
		{"huge attempt does not overflow", time.Second, 1000, -1, maxBackoff},
		{"no wait", -1, 3, -1, 0},
		{"Retry-After wins", 100 * time.Millisecond, 0, 2 * time.Second, 2 * time.Second},
		{"Retry-After zero", time.Second, 0, 0, 0},
		{"Retry-After capped", time.Second, 0, time.Hour, maxBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{spec: Spec{RetryDelay: tt.retryDelay}}
			if got := s.backoff(tt.attempt, tt.retryAfter); got != tt.want {
				t.Errorf("backoff(%d, %v) = %v, want %v", tt.attempt, tt.retryAfter, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999", 0, false},
		{"86400", maxBackoff, true},
		{"Sat, 01 Mar 2025 12:00:07 GMT", 7 * time.Second, true},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL)
	spec.EventBufferSize = 1
	spec.Headers = map[string]string{
		"Authorization":     "Bearer tok",
		"X-Session-API-Key": "k1",
		"Content-Type":      "text/plain", // always JSON
	}
	d := New([]Spec{spec}, Options{})
	defer closeDispatcher(t, d)

	d.Event("c", ev(1))
	d.Conversation([]byte(`{}`))
	for _, h := range e.waitHits(t, 2) {
		got := map[string]string{
			"Authorization":     h.header.Get("Authorization"),
			"X-Session-Api-Key": h.header.Get("X-Session-API-Key"),
			"Content-Type":      h.header.Get("Content-Type"),
		}
		want := map[string]string{
			"Authorization":     "Bearer tok",
			"X-Session-Api-Key": "k1",
			"Content-Type":      "application/json",
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s headers (-got +want):\n%s", h.path, diff)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL)
	spec.EventBufferSize = 2
	redact := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("s3cret"), []byte("<hidden>")) }
	// Two endpoints share each payload: redacting for one must not touch the other's.
	e2 := newEndpoint(t, nil)
	spec2 := spec
	spec2.BaseURL = e2.URL
	d := New([]Spec{spec, spec2}, Options{Redact: redact})
	defer closeDispatcher(t, d)

	d.Event("c", []byte(`{"out":"token s3cret"}`))
	d.Event("c", []byte(`{"out":"ok"}`))
	d.Conversation([]byte(`{"secret":"s3cret"}`))
	for _, ep := range []*endpoint{e, e2} {
		hits := ep.waitHits(t, 2)
		got := []string{string(hits[0].body), string(hits[1].body)}
		want := []string{`[{"out":"token <hidden>"},{"out":"ok"}]`, `{"secret":"<hidden>"}`}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("bodies (-got +want):\n%s", diff)
		}
	}
}

func TestInvalidJSONLeftOut(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL)
	spec.EventBufferSize = 3
	d := New([]Spec{spec}, Options{})

	d.Event("c", ev(1))
	d.Event("c", []byte(`{"broken`))
	d.Event("c", ev(3))
	d.Conversation([]byte(`not json`))
	closeDispatcher(t, d)

	hits := e.snapshot()
	if len(hits) != 1 {
		t.Fatalf("%d requests, want 1 (the invalid conversation info is not sent)", len(hits))
	}
	if diff := cmp.Diff(events(t, hits[0].body), []string{`{"id":1}`, `{"id":3}`}); diff != "" {
		t.Errorf("batch (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(d.Stats(), Stats{Sent: 1, Failed: 1}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

func TestConversationIDEscaped(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL)
	spec.EventBufferSize = 1
	d := New([]Spec{spec}, Options{})
	defer closeDispatcher(t, d)

	d.Event("a/b?c", ev(1))
	if got, want := e.waitHits(t, 1)[0].path, "/events/a%2Fb%3Fc"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}
