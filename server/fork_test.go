package server_test

import (
	"net/http"
	"testing"

	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
)

// TestForkAndNavigateRoutes: the routes' answers on a server without
// sandboxes (the history only): 201 with forked_from, 409 for a taken
// id, 404 for an unknown event, 422 for bad JSON, 401 without the key;
// navigate moves leaf_event_id.
func TestForkAndNavigateRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{config: func(c *server.Config) { c.APIKeys = []string{"fork-key"} }})
	conv := e.create(map[string]any{"initial_message": map[string]any{"content": []map[string]any{{"type": "text", "text": "one"}}}})
	first := *conv.LeafEventID
	e.call(http.MethodPost, "/api/conversations/"+conv.ID+"/events",
		map[string]any{"role": "user", "content": []map[string]any{{"type": "text", "text": "two"}}}, http.StatusOK, nil)
	base := "/api/conversations/" + conv.ID

	var f session.Info
	e.call(http.MethodPost, base+"/fork", map[string]any{"id": "fork-one", "from_event_id": first, "title": "a fork"}, http.StatusCreated, &f)
	if f.ID != "fork-one" || f.ForkedFromConversationID == nil || *f.ForkedFromConversationID != conv.ID ||
		f.ForkedFromEventID == nil || *f.ForkedFromEventID != first || f.LeafEventID == nil || *f.LeafEventID != first || f.Title != "a fork" {
		t.Errorf("fork info %+v", f)
	}
	var many []session.Info
	e.call(http.MethodPost, base+"/fork", map[string]any{"count": 2}, http.StatusCreated, &many)
	if len(many) != 2 {
		t.Errorf("count 2 answered %d forks", len(many))
	}
	var whole session.Info
	e.call(http.MethodPost, base+"/fork", nil, http.StatusCreated, &whole)
	if whole.ForkedFromEventID != nil || whole.LeafEventID == nil || *whole.LeafEventID == first {
		t.Errorf("whole fork: forked_from_event_id %v, leaf %v", whole.ForkedFromEventID, whole.LeafEventID)
	}
	e.detail(http.MethodPost, base+"/fork", map[string]any{"id": "fork-one"}, http.StatusConflict)
	e.detail(http.MethodPost, base+"/fork", map[string]any{"from_event_id": "no-such-event"}, http.StatusNotFound)
	e.detail(http.MethodPost, base+"/fork", `{"count": "two"`, http.StatusUnprocessableEntity)
	e.detail(http.MethodPost, "/api/conversations/nope/fork", nil, http.StatusNotFound)
	if status, _ := e.raw(http.MethodPost, base+"/fork", nil, nil, false); status != http.StatusUnauthorized {
		t.Errorf("fork without the key: %d, want 401", status)
	}

	var nav session.Info
	e.call(http.MethodPost, base+"/navigate", map[string]any{"event_id": first}, http.StatusOK, &nav)
	if nav.LeafEventID == nil || *nav.LeafEventID != first {
		t.Errorf("leaf_event_id after navigate = %v, want %s", nav.LeafEventID, first)
	}
	e.detail(http.MethodPost, base+"/navigate", map[string]any{"event_id": "no-such-event"}, http.StatusNotFound)
	e.detail(http.MethodPost, base+"/navigate", `{"event_id":`, http.StatusUnprocessableEntity)
	if status, _ := e.raw(http.MethodPost, base+"/navigate", map[string]any{"event_id": first}, nil, false); status != http.StatusUnauthorized {
		t.Errorf("navigate without the key: %d, want 401", status)
	}
	var page struct {
		Items []struct {
			Kind        string `json:"kind"`
			LeafEventID string `json:"leaf_event_id"`
		} `json:"items"`
	}
	e.call(http.MethodGet, base+"/events/search?sort_order=TIMESTAMP_DESC&limit=1", nil, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].Kind != "HeadMovedEvent" || page.Items[0].LeafEventID != first {
		t.Errorf("last event %+v, want a HeadMovedEvent to %s", page.Items, first)
	}
}
