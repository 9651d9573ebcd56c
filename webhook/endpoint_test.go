package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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
	// A goroutine that has called wg.Done is still on its way out for a
	// moment after Close returns, so both counts are polled.
	deadline := time.Now().Add(5 * time.Second)
	for webhookGoroutines() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := webhookGoroutines(); n != 0 {
		t.Errorf("%d webhook goroutines still running after Close", n)
	}
	const slack = 2
	for runtime.NumGoroutine() > before+slack && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+slack {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
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
