package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// The memory of each conversation's browser is read at the scrape and
// shown by conversation.
func TestBrowserMemory(t *testing.T) {
	r := New()
	mem := map[string]int64{"conv-a": 150 << 20}
	r.BrowserMemory(func(context.Context) map[string]int64 { return mem })
	scrape := func() string {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	if out := scrape(); !strings.Contains(out, `gohands_browser_memory_bytes{conversation="conv-a"} 1.572864e+08`) {
		t.Errorf("scrape lacks conv-a's browser memory:\n%s", grep(out, "browser"))
	}
	mem = map[string]int64{}
	if out := scrape(); strings.Contains(out, `conversation="conv-a"`) {
		t.Errorf("a stopped browser is still reported:\n%s", grep(out, "browser"))
	}
}

func grep(s, word string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
