package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOpenRoutes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Config{Now: func() time.Time { return now }})
	now = now.Add(90 * time.Second)
	hs := httptest.NewServer(s)
	defer hs.Close()

	for _, path := range []string{"/alive", "/health"} {
		var got map[string]string
		get(t, hs.URL+path, http.StatusOK, &got)
		if diff := cmp.Diff(got, map[string]string{"status": "ok"}); diff != "" {
			t.Errorf("%s (-got +want):\n%s", path, diff)
		}
	}
	var info Info
	get(t, hs.URL+"/server_info", http.StatusOK, &info)
	if diff := cmp.Diff(info, Info{Uptime: 90, IdleTime: 90, Title: "GoHands", Version: Version, Docs: "/docs"}); diff != "" {
		t.Errorf("server_info (-got +want):\n%s", diff)
	}
	var nf map[string]string
	get(t, hs.URL+"/nope", http.StatusNotFound, &nf)
	if nf["detail"] == "" {
		t.Errorf("404 without detail: %v", nf)
	}
}

func get(t *testing.T, url string, status int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// TestReadyWhileRecovering: /ready stays ready while sandboxes are being
// taken over after a restart, and says how many are left.
func TestReadyWhileRecovering(t *testing.T) {
	left := 3
	s := New(Config{Recovering: func() int { return left }})
	hs := httptest.NewServer(s)
	defer hs.Close()
	var got map[string]any
	get(t, hs.URL+"/ready", http.StatusOK, &got)
	if diff := cmp.Diff(got, map[string]any{"status": "ready", "sandboxes_recovering": 3.0}); diff != "" {
		t.Errorf("/ready while recovering (-got +want):\n%s", diff)
	}
	left = 0
	got = nil
	get(t, hs.URL+"/ready", http.StatusOK, &got)
	if diff := cmp.Diff(got, map[string]any{"status": "ready"}); diff != "" {
		t.Errorf("/ready once recovered (-got +want):\n%s", diff)
	}
}
