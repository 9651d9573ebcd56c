package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestEvictedBashBounded: the bash events kept for evicted conversations
// take at most what one conversation may hold in all, the most recently
// evicted kept.
func TestEvictedBashBounded(t *testing.T) {
	m := newManagerOn(t, openStore(t), Options{BashOutputMaxBytes: MinBashOutputMaxBytes})
	budget := bashHubBytesPerLimit * MinBashOutputMaxBytes
	var last string
	for i := range 6 {
		a, _, err := m.Create(testCtx(t), CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		// Half the budget in each conversation's bash events.
		for j := range 8 {
			raw, _ := json.Marshal(map[string]string{"id": fmt.Sprint(i, "-", j), "out": strings.Repeat("x", budget/16)})
			a.bash.publish(raw)
		}
		m.evict(a)
		last = a.ID()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := 0
	for _, h := range m.evictedBash {
		kept += h.size()
	}
	if kept > budget || kept != m.evictedBytes {
		t.Errorf("evicted conversations keep %d bytes of bash events (counted %d), want at most %d", kept, m.evictedBytes, budget)
	}
	if m.evictedBash[last] == nil || len(m.evictedBash) != len(m.evictedOrder) {
		t.Errorf("kept the bash events of %d conversations (%d in order), want the last evicted's among them", len(m.evictedBash), len(m.evictedOrder))
	}
	if len(m.convs) != 0 {
		t.Errorf("%d conversations loaded after their eviction, want 0", len(m.convs))
	}
}
