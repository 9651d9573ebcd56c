package server_test

import (
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/session"
)

// liveMeter is a session.Meter that keeps the most conversations it was
// told were live.
type liveMeter struct {
	mu      sync.Mutex
	maxLive int
}

func (*liveMeter) EventAppended(string) {}

func (l *liveMeter) ConversationsLive(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxLive = max(l.maxLive, n)
}

func (l *liveMeter) max() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxLive
}

// TestReadRoutesDoNotLoad: after a restart, the routes that only read
// (info, batch, search, count, events, bash events) answer as before
// without loading any conversation; a message loads the one it is sent to.
func TestReadRoutesDoNotLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	e1 := newEnv(t, options{statePath: path, keep: true})
	var ids []string
	before := make(map[string]session.Info)
	for _, title := range []string{"first", "second"} {
		c := e1.create(map[string]any{"title": title, "initial_message": message("hello", false)})
		var info session.Info
		e1.call(http.MethodGet, "/api/conversations/"+c.ID, nil, http.StatusOK, &info)
		ids = append(ids, c.ID)
		before[c.ID] = info
	}
	e1.close()

	meter := &liveMeter{}
	e := newEnv(t, options{statePath: path, meter: meter})
	for _, id := range ids {
		var info session.Info
		e.call(http.MethodGet, "/api/conversations/"+id, nil, http.StatusOK, &info)
		if diff := cmp.Diff(info, before[id]); diff != "" {
			t.Errorf("%s: info after the restart differs (-after +before):\n%s", id, diff)
		}
		evs := e.events(id, nil)
		if len(evs) == 0 {
			t.Fatalf("%s: no events", id)
		}
		var n int
		e.call(http.MethodGet, "/api/conversations/"+id+"/events/count", nil, http.StatusOK, &n)
		if n != len(evs) {
			t.Errorf("%s: events/count = %d, want %d", id, n, len(evs))
		}
		e.call(http.MethodGet, "/api/conversations/"+id+"/events/"+evs[0].ID, nil, http.StatusOK, nil)
		e.call(http.MethodGet, "/api/conversations/"+id+"/bash/bash_events/search", nil, http.StatusOK, nil)
		e.call(http.MethodGet, "/api/bash/bash_events/search?conversation_id="+id, nil, http.StatusOK, nil)
	}
	var batch []*session.Info
	e.call(http.MethodGet, "/api/conversations?ids="+ids[0]+"&ids="+ids[1]+"&ids=nope", nil, http.StatusOK, &batch)
	if len(batch) != 3 || batch[0] == nil || batch[1] == nil || batch[2] != nil {
		t.Fatalf("batch = %v, want the two conversations and null", batch)
	}
	var page struct{ Items []session.Info }
	e.call(http.MethodGet, "/api/conversations/search", nil, http.StatusOK, &page)
	if len(page.Items) != len(ids) {
		t.Fatalf("search found %d conversations, want %d", len(page.Items), len(ids))
	}
	for _, info := range append(page.Items, *batch[0], *batch[1]) {
		if diff := cmp.Diff(info, before[info.ID]); diff != "" {
			t.Errorf("%s: listed info differs (-listed +before):\n%s", info.ID, diff)
		}
	}
	e.call(http.MethodGet, "/api/conversations/count", nil, http.StatusOK, nil)
	if n := meter.max(); n != 0 {
		t.Fatalf("after reads only: up to %d conversations live, want 0", n)
	}

	had := len(e.events(ids[0], nil))
	e.call(http.MethodPost, "/api/conversations/"+ids[0]+"/events", message("again", false), http.StatusOK, nil)
	if n := meter.max(); n != 1 {
		t.Fatalf("after a message: up to %d conversations live, want 1", n)
	}
	if got := len(e.events(ids[0], nil)); got != had+1 {
		t.Errorf("after a message: %d events, want %d", got, had+1)
	}
}
