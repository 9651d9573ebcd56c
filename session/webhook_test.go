package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/webhook"
)

// TestWebhooksGetEveryEventInBatches runs a conversation against a real
// webhook endpoint that fails its first requests: every event arrives once,
// in order, in batches, and the conversation's info is posted.
func TestWebhooksGetEveryEventInBatches(t *testing.T) {
	var (
		mu       sync.Mutex
		failures = 2
		batches  [][]int64
		infos    []string
	)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Hook") != "yes" {
			http.Error(w, "missing header", http.StatusBadRequest)
			return
		}
		if failures > 0 {
			failures--
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/events/"):
			var evs []struct {
				Seq int64 `json:"seq"`
			}
			if err := json.Unmarshal(body, &evs); err != nil {
				t.Errorf("events body: %v", err)
			}
			var seqs []int64
			for _, e := range evs {
				seqs = append(seqs, e.Seq)
			}
			batches = append(batches, seqs)
		case r.URL.Path == "/conversations":
			var info struct {
				ID     string `json:"id"`
				Status string `json:"execution_status"`
			}
			json.Unmarshal(body, &info)
			infos = append(infos, info.Status)
		}
	}))
	defer endpoint.Close()

	hooks := webhook.New([]webhook.Spec{{BaseURL: endpoint.URL, Headers: map[string]string{"X-Hook": "yes"},
		EventBufferSize: 5, FlushDelay: 50 * time.Millisecond, RetryDelay: 10 * time.Millisecond}}, webhook.Options{})
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := New(Options{Store: store, Webhooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _, err := m.Create(ctx, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		if err := a.Append(message(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.setStatus(StatusFinished); err != nil { // one more event
		t.Fatal(err)
	}
	m.Close(ctx)
	if err := hooks.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var all []int64
	for _, b := range batches {
		if len(b) > 5 {
			t.Errorf("a batch of %d events, more than the buffer of 5", len(b))
		}
		all = append(all, b...)
	}
	checkSeqs(t, all, 1, 24)
	if len(batches) < 5 {
		t.Errorf("%d batches, want at least 5 for 24 events in fives", len(batches))
	}
	if len(infos) == 0 || infos[len(infos)-1] != StatusFinished {
		t.Errorf("conversation infos posted: %v; want the last one finished", infos)
	}
	if st := hooks.Stats(); st.Retries < 2 {
		t.Errorf("retries = %d, want at least 2 (the endpoint failed twice)", st.Retries)
	}
}
