package apidoc

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body
}

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler("/docs"))
	t.Cleanup(srv.Close)

	tests := []struct {
		method, path string
		status       int
		contentType  string // prefix
		contains     string
	}{
		{"GET", "/docs", 200, "text/html", `src="/docs/swagger-ui-bundle.js"`},
		{"GET", "/docs/", 200, "text/html", `href="/docs/swagger-ui.css"`},
		{"GET", "/docs/index.html", 200, "text/html", "GoHands API"},
		{"GET", "/docs/swagger-initializer.js", 200, "text/javascript", `url: "/openapi.json"`},
		{"GET", "/docs/swagger-initializer.js", 200, "text/javascript", "validatorUrl: null"},
		{"GET", "/docs/swagger-ui-bundle.js", 200, "text/javascript", "SwaggerUIBundle"},
		{"GET", "/docs/swagger-ui.css", 200, "text/css", ".swagger-ui"},
		{"GET", "/docs/favicon-32x32.png", 200, "image/png", "PNG"},
		{"GET", "/openapi.json", 200, "application/json", `"openapi": "3.0.3"`},
		{"HEAD", "/docs", 200, "text/html", ""},
		{"GET", "/docs/no-such-file.js", 404, "application/json", `"detail"`},
		{"GET", "/docs/../apidoc.go", 404, "application/json", `"detail"`},
		{"GET", "/docs/..%2fapidoc.go", 404, "application/json", `"detail"`},
		{"GET", "/elsewhere", 404, "application/json", `"detail"`},
		{"POST", "/docs", 405, "application/json", `"detail"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := get(t, tt.method, srv.URL+tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type = %q, want %s...", ct, tt.contentType)
			}
			if !bytes.Contains(body, []byte(tt.contains)) {
				t.Errorf("body does not contain %q:\n%.300s", tt.contains, body)
			}
		})
	}
}

// The page loads nothing from the network: every script and style it names
// is served by the handler itself.
func TestPageWorksOffline(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"/docs", "/api/docs/", ""} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			srv := httptest.NewServer(Handler(prefix))
			t.Cleanup(srv.Close)
			page := strings.TrimSuffix(prefix, "/")
			if page == "" {
				page = "/"
			}
			_, body := get(t, "GET", srv.URL+page)
			if bytes.Contains(body, []byte("://")) {
				t.Errorf("page names an absolute URL:\n%s", body)
			}
			links := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllSubmatch(body, -1)
			if len(links) < 3 {
				t.Fatalf("page links %d files, want the bundle, initializer and styles:\n%s", len(links), body)
			}
			for _, l := range links {
				resp, asset := get(t, "GET", srv.URL+string(l[1]))
				if resp.StatusCode != http.StatusOK || len(asset) == 0 {
					t.Errorf("GET %s: %d, %d bytes", l[1], resp.StatusCode, len(asset))
				}
			}
		})
	}
}

func TestServedDocumentMatches(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler("/docs"))
	t.Cleanup(srv.Close)
	_, body := get(t, "GET", srv.URL+SpecPath)
	if !bytes.Equal(body, OpenAPI()) {
		t.Error("GET /openapi.json differs from OpenAPI()")
	}
}
