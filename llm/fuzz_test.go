package llm

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzAPIError feeds error bodies as a provider or a proxy might send them.
func FuzzAPIError(f *testing.F) {
	for _, s := range []string{
		`{"error":{"message":"m","type":"t","code":"c"}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`{"error":"x"}`, `{"detail":{"a":1}}`, `{"message":5}`, `[]`, `null`, "<html>", "",
	} {
		f.Add(500, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := apiError("openai", status, body)
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		_ = e.Error()
		if len(e.Unwrap()) == 0 {
			t.Fatal("no sentinel")
		}
	})
}

// FuzzParseDataURL feeds image URLs as a client might send them.
func FuzzParseDataURL(f *testing.F) {
	for _, s := range []string{"data:image/png;base64,AAAA", "data:image/svg+xml,%3Csvg%3E", "data:,x", "data:", "https://x/y.png"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		mediaType, data, ok := parseDataURL(u)
		if !ok {
			return
		}
		if mediaType == "" || !strings.HasPrefix(u, "data:") {
			t.Fatalf("parseDataURL(%q) = %q, %q", u, mediaType, data)
		}
		if !strings.Contains(strings.ToLower(u), "base64") {
			if _, err := base64.StdEncoding.DecodeString(data); err != nil {
				t.Fatalf("parseDataURL(%q): encoded data %q: %v", u, data, err)
			}
		}
	})
}
