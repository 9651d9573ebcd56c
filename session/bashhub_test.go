package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/google/go-cmp/cmp"
)

func bashEvent(i int, size int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"kind":"BashOutput","order":%d,"stdout":%q}`, i, strings.Repeat("x", size)))
}

func orders(t *testing.T, raws []json.RawMessage) []int {
	t.Helper()
	out := make([]int, 0, len(raws))
	for _, raw := range raws {
		var v struct{ Order int }
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.Order)
	}
	return out
}

func TestBashHubPages(t *testing.T) {
	t.Parallel()
	h := newBashHub(1 << 20)
	for i := range 7 {
		h.publish(bashEvent(i, 1))
	}
	var got []int
	id := ""
	pages := 0
	for {
		items, next, err := h.page(id, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 3 {
			t.Fatalf("a page of %d events, limit 3", len(items))
		}
		got = append(got, orders(t, items)...)
		pages++
		if next == "" {
			break
		}
		id = next
	}
	if diff := cmp.Diff(got, []int{0, 1, 2, 3, 4, 5, 6}); diff != "" || pages != 3 {
		t.Errorf("walk through pages of 3 (%d pages) (-got +want):\n%s", pages, diff)
	}

	// A page whose first event was dropped since starts at the oldest kept.
	_, next, _ := h.page("", 2) // next names event 3 (order 2)
	small := newBashHub(1 << 20)
	for i := range bashHubSize + 5 {
		small.publish(bashEvent(i, 0))
	}
	items, _, err := small.page(next, 2)
	if err != nil || orders(t, items)[0] != 5 {
		t.Errorf("a page from an event dropped since: %v %v, want it to start at the oldest kept (order 5)", orders(t, items), err)
	}

	for _, bad := range []string{"x", "b", "b0", "b01", "b-1", "b99", "B1", "b1 "} {
		if _, _, err := h.page(bad, 3); !errors.Is(err, ErrInvalid) {
			t.Errorf("page_id %q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestBashHubBoundedInBytes(t *testing.T) {
	t.Parallel()
	h := newBashHub(64 << 10)
	for i := range 200 {
		h.publish(bashEvent(i, 1<<10))
	}
	items, _, _ := h.page("", 100)
	total := 0
	for _, raw := range items {
		total += len(raw)
	}
	if total > 64<<10 || h.bytes > 64<<10 {
		t.Errorf("the hub holds %d bytes (a page %d), want at most %d", h.bytes, total, 64<<10)
	}
	if o := orders(t, items); o[len(o)-1] != 199 {
		t.Errorf("the newest events were dropped: %v", o)
	}
	// One event larger than the bound is kept alone, not refused.
	h.publish(bashEvent(200, 128<<10))
	if items, _, _ := h.page("", 100); len(items) != 1 || orders(t, items)[0] != 200 {
		t.Errorf("after an event larger than the bound: %v, want it alone", orders(t, items))
	}
}

// TestDeleteReleasesBashEvents deletes a conversation that has bash
// events and a bash subscriber: the subscriber is dropped, the manager
// forgets the conversation, and a request still holding the conversation
// holds none of its output; once it lets go, the conversation is freed.
func TestDeleteReleasesBashEvents(t *testing.T) {
	m := newTestManager(t)
	a, _, err := m.Create(context.Background(), CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		a.publishBash(BashOutput{Kind: "BashOutput", Order: i, Stdout: strings.Repeat("y", 16<<10)})
	}
	rec := newRecorder(0)
	if _, err := a.SubscribeBash(rec); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(context.Background(), a.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rec.dropped:
		if !errors.Is(err, ErrDeleted) {
			t.Errorf("subscriber dropped with %v, want ErrDeleted", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the bash subscriber was not dropped")
	}
	if items, _, _ := a.BashEvents("", 100); len(items) != 0 || a.bash.bytes != 0 || a.bash.subscribers() != 0 {
		t.Errorf("a deleted conversation still holds %d bash events (%d bytes) and %d subscribers", len(items), a.bash.bytes, a.bash.subscribers())
	}
	m.mu.Lock()
	live := len(m.convs)
	m.mu.Unlock()
	secrets := 0
	m.maskers.Range(func(any, any) bool { secrets++; return true })
	if live != 0 || secrets != 0 {
		t.Errorf("the manager still holds %d conversations and the secrets of %d", live, secrets)
	}
	if _, err := a.SubscribeBash(newRecorder(0)); !errors.Is(err, ErrDeleted) {
		t.Errorf("subscribing to a deleted conversation: %v, want ErrDeleted", err)
	}

	w := weak.Make(a)
	a = nil
	for range 10 {
		runtime.GC()
		if w.Value() == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the deleted conversation is still referenced")
}

// TestBashEventsKeptAcrossEviction: the bash events of a conversation
// evicted from memory are there when it is loaded again, numbered on from
// where they were; those of at most MaxLive evicted conversations are
// kept, the oldest evicted dropped first.
func TestBashEventsKeptAcrossEviction(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{MaxLive: 2})
	var convs []*AgentSession
	for i := range 3 {
		a, _, err := m.Create(context.Background(), CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		a.publishBash(BashOutput{Kind: "BashOutput", Order: 0, Stdout: fmt.Sprintf("conversation %d", i)})
		convs = append(convs, a)
	}
	for _, a := range convs {
		m.evict(a)
	}
	m.mu.Lock()
	live := len(m.convs)
	m.mu.Unlock()
	if live != 0 {
		t.Fatalf("%d conversations still loaded after the evictions", live)
	}
	for i, a := range convs {
		again, err := m.Get(a.ID())
		if err != nil {
			t.Fatal(err)
		}
		if again == a {
			t.Fatal("Get returned the evicted session")
		}
		items, _, err := again.BashEvents("", 100)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if len(items) != 0 {
				t.Errorf("conversation 0, the oldest evicted past MaxLive: %d bash events kept, want 0", len(items))
			}
			continue
		}
		if len(items) != 1 || !strings.Contains(string(items[0]), fmt.Sprintf("conversation %d", i)) {
			t.Errorf("conversation %d after its eviction: bash events %s", i, items)
		}
		again.publishBash(BashOutput{Kind: "BashOutput", Order: 1, Stdout: "after"})
		if items, _, _ := again.BashEvents("", 100); len(items) != 2 {
			t.Errorf("conversation %d: %d bash events after one more, want 2", i, len(items))
		}
	}
}
