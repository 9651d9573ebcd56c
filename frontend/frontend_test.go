package frontend

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeUnits runs the unit tests of the page's modules (test/*.test.js)
// with Node's built-in test runner.
func TestNodeUnits(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript unit tests need it")
	}
	files, err := filepath.Glob(filepath.Join("test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no unit test files under test/: %v", err)
	}
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, ctype string
		status      int
		contains    string
	}{
		{"/", "text/html; charset=utf-8", 200, `<script type="module" src="app.js">`},
		{"/index.html", "text/html; charset=utf-8", 200, "<title>GoHands</title>"},
		{"/app.js", "text/javascript; charset=utf-8", 200, "import"},
		{"/markdown.js", "text/javascript; charset=utf-8", 200, "export function render"},
		{"/app.css", "text/css; charset=utf-8", 200, ":root"},
		{"/favicon.ico", "image/svg+xml", 200, "<svg"},
		{"/favicon.svg", "image/svg+xml", 200, "<svg"},
		{"/nope.js", "application/json", 404, "not found"},
		{"/static/app.js", "application/json", 404, "not found"},
		{"/../frontend.go", "application/json", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestHandlerHeaders(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	hdr := rec.Result().Header
	csp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", hdr)
	}
	etag := hdr.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/app.js", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// TestEmbeddedFiles checks that every module the page imports is
// embedded, and that no test file is.
func TestEmbeddedFiles(t *testing.T) {
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool)
	for _, e := range entries {
		have[e.Name()] = true
		if strings.HasSuffix(e.Name(), ".test.js") {
			t.Errorf("%s is a test and is embedded", e.Name())
		}
	}
	for name := range have {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		data, _ := static.ReadFile("static/" + name)
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "import ") {
				continue
			}
			i := strings.Index(line, "'./")
			if i < 0 {
				t.Errorf("%s: import not relative to the page: %s", name, line)
				continue
			}
			dep := line[i+3 : strings.Index(line[i+3:], "'")+i+3]
			if !have[dep] {
				t.Errorf("%s imports %s, which is not embedded", name, dep)
			}
		}
	}
}
