package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hit is one request the test endpoint received.
type hit struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

// endpoint is a real HTTP server that records every request and answers
// through respond (nil answers 200). n counts the requests before this one.
type endpoint struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	notify chan struct{}
}

func newEndpoint(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *endpoint {
	t.Helper()
	e := &endpoint{notify: make(chan struct{}, 1)}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		n := len(e.hits)
		e.hits = append(e.hits, hit{path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body, at: time.Now()})
		e.mu.Unlock()
		signal(e.notify)
		if respond != nil {
			respond(w, r, n)
		}
	}))
	t.Cleanup(e.Close)
	return e
}

// waitHits waits until the endpoint has seen at least n requests and
// returns them.
func (e *endpoint) waitHits(t *testing.T, n int) []hit {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := e.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-e.notify:
		case <-deadline:
			t.Fatalf("endpoint saw %d requests, want %d", len(e.snapshot()), n)
		}
	}
}

func (e *endpoint) snapshot() []hit {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]hit(nil), e.hits...)
}

// testSpec never flushes by time and retries fast, so tests decide when
// batches are cut.
func testSpec(baseURL string) Spec {
	return Spec{BaseURL: baseURL, FlushDelay: time.Hour, RetryDelay: time.Millisecond}
}

func closeDispatcher(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// events decodes a batch body into its events as strings.
func events(t *testing.T, body []byte) []string {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("body %q is not a JSON array: %v", body, err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

func ev(i int) []byte { return fmt.Appendf(nil, `{"id":%d}`, i) }

func TestBatchBySize(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL + "/hook/") // the trailing slash is not doubled
	spec.EventBufferSize = 3
	d := New([]Spec{spec}, Options{})
	defer closeDispatcher(t, d)

	for i := range 7 {
		d.Event("conv-1", ev(i))
	}
	hits := e.waitHits(t, 2)
	if err := d.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	hits = e.waitHits(t, 3)

	var got [][]string
	for _, h := range hits {
		if h.path != "/hook/events/conv-1" {
			t.Errorf("path = %q, want /hook/events/conv-1", h.path)
		}
		got = append(got, events(t, h.body))
	}
	want := [][]string{
		{`{"id":0}`, `{"id":1}`, `{"id":2}`},
		{`{"id":3}`, `{"id":4}`, `{"id":5}`},
		{`{"id":6}`},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("batches (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(d.Stats(), Stats{Sent: 3}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

func TestDefaultBufferSize(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	d := New([]Spec{testSpec(e.URL)}, Options{})
	defer closeDispatcher(t, d)

	for i := range DefaultEventBufferSize {
		d.Event("c", ev(i))
	}
	hits := e.waitHits(t, 1)
	if n := len(events(t, hits[0].body)); n != DefaultEventBufferSize {
		t.Errorf("batch of %d events, want %d", n, DefaultEventBufferSize)
	}
}

func TestFlushByDelay(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	spec := testSpec(e.URL)
	spec.EventBufferSize = 100
	spec.FlushDelay = 20 * time.Millisecond
	d := New([]Spec{spec}, Options{})
	defer closeDispatcher(t, d)

	d.Event("a", ev(1))
	d.Event("b", ev(2))
	d.Event("a", ev(3))
	// No Flush: only the delay can send these.
	hits := e.waitHits(t, 2)
	got := map[string][]string{}
	for _, h := range hits {
		got[h.path] = events(t, h.body)
	}
	want := map[string][]string{
		"/events/a": {`{"id":1}`, `{"id":3}`},
		"/events/b": {`{"id":2}`},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("batches by path (-got +want):\n%s", diff)
	}
}

func TestConversationInfo(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	d := New([]Spec{testSpec(e.URL)}, Options{})
	defer closeDispatcher(t, d)

	info := []byte(`{"id":"c1","execution_status":"paused"}`)
	d.Conversation(info)
	info[2] = 'X' // the caller may reuse its buffer
	hits := e.waitHits(t, 1)
	if hits[0].path != "/conversations" {
		t.Errorf("path = %q, want /conversations", hits[0].path)
	}
	if got, want := string(hits[0].body), `{"id":"c1","execution_status":"paused"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

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

func TestOrderPerConversation(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // retries must not reorder
		}
	})
	spec := testSpec(e.URL)
	spec.EventBufferSize = 7
	spec.FlushDelay = 2 * time.Millisecond // both cut paths take part
	d := New([]Spec{spec}, Options{})

	const convs, perConv = 4, 300
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			id := fmt.Sprintf("conv-%d", c)
			for i := range perConv {
				d.Event(id, fmt.Appendf(nil, `{"i":%d}`, i))
				if i%50 == 49 {
					if err := d.Flush(t.Context()); err != nil {
						t.Errorf("Flush: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	closeDispatcher(t, d)

	got := map[string][]int{}
	seen := map[string]bool{} // a retried batch arrives twice; keep the first
	for _, h := range e.snapshot() {
		key := h.path + string(h.body)
		if seen[key] {
			continue
		}
		seen[key] = true
		for _, raw := range events(t, h.body) {
			var v struct{ I int }
			if err := json.Unmarshal([]byte(raw), &v); err != nil {
				t.Fatal(err)
			}
			got[h.path] = append(got[h.path], v.I)
		}
	}
	want := make([]int, perConv)
	for i := range want {
		want[i] = i
	}
	for c := range convs {
		path := fmt.Sprintf("/events/conv-%d", c)
		if diff := cmp.Diff(got[path], want); diff != "" {
			t.Errorf("%s event order (-got +want):\n%s", path, diff)
		}
	}
	if s := d.Stats(); s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("Stats = %+v, want no failures or drops", s)
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

func TestZeroSpecs(t *testing.T) {
	t.Parallel()
	for name, d := range map[string]*Dispatcher{"no specs": New(nil, Options{}), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			d.Event("c", ev(1))
			d.Conversation([]byte(`{}`))
			if err := d.Flush(t.Context()); err != nil {
				t.Errorf("Flush: %v", err)
			}
			if err := d.Close(t.Context()); err != nil {
				t.Errorf("Close: %v", err)
			}
			if diff := cmp.Diff(d.Stats(), Stats{}); diff != "" {
				t.Errorf("Stats (-got +want):\n%s", diff)
			}
		})
	}
}

func TestInvalidSpecLeftOut(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	d := New([]Spec{{BaseURL: "ftp://x"}}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if len(d.sinks) != 0 {
		t.Errorf("%d sinks, want 0", len(d.sinks))
	}
	if !strings.Contains(logs.String(), "invalid spec") {
		t.Errorf("log = %q, want a line about the invalid spec", logs.String())
	}
}

func TestCloseTwiceAndEventAfterClose(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, nil)
	d := New([]Spec{testSpec(e.URL)}, Options{})
	d.Event("c", ev(1))
	closeDispatcher(t, d)
	d.Event("c", ev(2))
	d.Conversation([]byte(`{}`))
	closeDispatcher(t, d)
	if err := d.Flush(t.Context()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
	hits := e.snapshot()
	if len(hits) != 1 {
		t.Fatalf("%d requests, want 1", len(hits))
	}
	if diff := cmp.Diff(events(t, hits[0].body), []string{`{"id":1}`}); diff != "" {
		t.Errorf("batch (-got +want):\n%s", diff)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	e := newEndpoint(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(releaseAll) // before the server's Close, which waits for handlers
	d := New([]Spec{testSpec(e.URL)}, Options{})
	defer closeDispatcher(t, d)

	d.Event("c", ev(1))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := d.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want a deadline error", err)
	}
	releaseAll()
	if err := d.Flush(t.Context()); err != nil {
		t.Errorf("Flush after the endpoint answers: %v", err)
	}
	if diff := cmp.Diff(d.Stats(), Stats{Sent: 1}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

func TestFlushDuringCloseReturnsErrClosed(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	e := newEndpoint(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	d := New([]Spec{testSpec(e.URL)}, Options{})

	d.Event("c", ev(1))
	flushed := make(chan error, 1)
	go func() { flushed <- d.Flush(context.Background()) }()
	e.waitHits(t, 1)
	for stacksContaining("webhook.(*sink).wait") == 0 { // Flush must be waiting before Close
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want a deadline error", err)
	}
	if err := <-flushed; !errors.Is(err, ErrClosed) {
		t.Errorf("Flush = %v, want ErrClosed", err)
	}
	if diff := cmp.Diff(d.Stats(), Stats{Dropped: 1}); diff != "" {
		t.Errorf("Stats (-got +want):\n%s", diff)
	}
}

// webhookGoroutines counts the goroutines that New started and that still run.
func webhookGoroutines() int {
	return stacksContaining("created by github.com/gohands/gohands/webhook.New")
}

// stacksContaining counts the goroutines whose stack trace contains s.
func stacksContaining(s string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, s) {
			count++
		}
	}
	return count
}

// checkNoLeak fails if goroutines stay above before, allowing the HTTP
// client and server a moment to wind down their own.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	if n := webhookGoroutines(); n != 0 {
		t.Errorf("%d webhook goroutines still running after Close", n)
	}
	const slack = 2
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+slack && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+slack {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// The next two tests are not parallel: they count goroutines.

func TestCloseWaitsForGoroutines(t *testing.T) {
	e := newEndpoint(t, nil)
	client := &http.Client{Transport: &http.Transport{}}
	before := runtime.NumGoroutine()

	specs := []Spec{testSpec(e.URL), testSpec(e.URL + "/two"), testSpec(e.URL + "/three")}
	d := New(specs, Options{Client: client})
	if n := webhookGoroutines(); n != 2*len(specs) {
		t.Errorf("%d webhook goroutines running, want %d", n, 2*len(specs))
	}
	for i := range 25 {
		d.Event("c", ev(i))
	}
	d.Conversation([]byte(`{}`))
	closeDispatcher(t, d)
	if got, want := d.Stats().Sent, int64(3*4); got != want {
		t.Errorf("Sent = %d, want %d", got, want)
	}

	client.CloseIdleConnections()
	e.CloseClientConnections()
	checkNoLeak(t, before)
}

func TestDeadEndpointNeverBlocksEvent(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	e := newEndpoint(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		signal(entered)
		select { // hang until the test ends or the client gives up
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	client := &http.Client{Transport: &http.Transport{}}
	before := runtime.NumGoroutine()

	var logs syncBuffer
	spec := testSpec(e.URL)
	spec.FlushDelay = time.Millisecond
	d := New([]Spec{spec}, Options{Client: client, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	d.Event("c", ev(-1))
	select {
	case <-entered: // the sender is now stuck in a request
	case <-time.After(20 * time.Second):
		t.Fatal("the endpoint never saw a request")
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10_000 {
			d.Event(fmt.Sprintf("conv-%d", i%7), ev(i))
			if i%100 == 0 {
				d.Conversation([]byte(`{}`))
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Event blocked while the endpoint hangs")
	}
	if len(e.snapshot()) != 1 {
		t.Errorf("endpoint saw %d requests, want only the one still hanging", len(e.snapshot()))
	}
	if d.Stats().Dropped == 0 {
		t.Error("Dropped = 0, want the oldest batches dropped from the full queue")
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("no log line about dropped batches; log:\n%s", logs.String())
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := d.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want a deadline error", err)
	}
	s := d.Stats()
	if s.Sent != 0 || s.Dropped < queueLimit {
		t.Errorf("Stats = %+v, want nothing sent and at least a full queue dropped", s)
	}

	client.CloseIdleConnections()
	checkNoLeak(t, before)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
