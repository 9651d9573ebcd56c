package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
	e.waitHits(t, 2)
	if err := d.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	hits := e.waitHits(t, 3)

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
