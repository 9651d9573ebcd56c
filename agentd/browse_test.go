package agentd

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gohands/gohands/agentapi"
	"github.com/google/go-cmp/cmp"
)

// newWebSite serves the pages the browser tests fetch.
func newWebSite(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>Home</title><script>track()</script></head>
<body><h1>Welcome</h1><p>Read the <a href="/docs">docs</a> or <a href="https://go.dev/">Go</a>.</p>
<ul><li>one</li><li>two</li></ul></body></html>`)
	})
	mux.HandleFunc("GET /old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved/here", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /moved/here", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<title>Moved</title><p>The page moved here.</p>")
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("GET /to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("GET /doc.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		fmt.Fprint(w, "%PDF-1.4\n...")
	})
	mux.HandleFunc("GET /data.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok": true}`)
	})
	mux.HandleFunc("GET /long", func(w http.ResponseWriter, r *http.Request) {
		// 50,000 characters of text, most of them two bytes long.
		fmt.Fprintf(w, "<html><body><p>%s</p><p>%s<a href=/end>END</a></p></body></html>",
			strings.Repeat("é", 39_995), strings.Repeat("x", 4_000))
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<title>Not Found</title><h1>404</h1><p>No such page.</p>")
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site
}

func TestBrowse(t *testing.T) {
	t.Parallel()
	site := newWebSite(t)
	_, c := newTestServer(t)

	got, err := c.Browse(ctx(t), agentapi.BrowseRequest{URL: site.URL + "/", ExtractLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	want := agentapi.BrowseResult{
		URL:         site.URL + "/",
		Status:      http.StatusOK,
		ContentType: "text/html; charset=utf-8",
		Title:       "Home",
		Content: "# Welcome\n\nRead the docs [1] or Go [2].\n\n- one\n- two\n\n" +
			"Links:\n[1] " + site.URL + "/docs\n[2] https://go.dev/",
		Links: []string{site.URL + "/docs", "https://go.dev/"},
	}
	want.TotalChars = utf8.RuneCountInString(want.Content)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("browse a page with links (-got +want):\n%s", diff)
	}

	// Reading the last page again, without the links this time.
	got, err = c.Browse(ctx(t), agentapi.BrowseRequest{})
	if err != nil || got.Content != "# Welcome\n\nRead the docs or Go.\n\n- one\n- two" || got.Links != nil || got.URL != site.URL+"/" {
		t.Errorf("the last page without links: %+v, %v", got, err)
	}

	got, err = c.Browse(ctx(t), agentapi.BrowseRequest{URL: strings.TrimPrefix(site.URL, "http://") + "/data.json"})
	if err != nil || got.URL != site.URL+"/data.json" {
		t.Errorf("an address without a scheme: %+v, %v; want http for a local server", got, err)
	}

	got, err = c.Browse(ctx(t), agentapi.BrowseRequest{URL: site.URL + "/old"})
	if err != nil || got.URL != site.URL+"/moved/here" || got.Status != http.StatusOK || got.Title != "Moved" || got.Content != "The page moved here." {
		t.Errorf("a redirect: %+v, %v; want the page it leads to, with its address", got, err)
	}

	got, err = c.Browse(ctx(t), agentapi.BrowseRequest{URL: site.URL + "/missing"})
	if err != nil || got.Status != http.StatusNotFound || got.Content != "# 404\n\nNo such page." {
		t.Errorf("a 404: %+v, %v; want the error page's text with status 404", got, err)
	}

	got, err = c.Browse(ctx(t), agentapi.BrowseRequest{URL: site.URL + "/data.json"})
	if err != nil || got.Content != `{"ok": true}` {
		t.Errorf("JSON: %+v, %v; want it as it is", got, err)
	}
}

func TestBrowsePaging(t *testing.T) {
	t.Parallel()
	site := newWebSite(t)
	_, c := newTestServer(t)

	const total = 39_995 + 2 + 4_000 + 3 // two paragraphs, a blank line between, "END"
	first, err := c.Browse(ctx(t), agentapi.BrowseRequest{URL: site.URL + "/long"})
	if err != nil {
		t.Fatal(err)
	}
	text, note, _ := strings.Cut(first.Content, "\n\n[")
	if first.TotalChars != total || first.NextChar != agentapi.BrowsePageChars || utf8.RuneCountInString(text) != agentapi.BrowsePageChars {
		t.Fatalf("first part: total %d, next %d, %d characters; want %d, %d, %d", first.TotalChars, first.NextChar, utf8.RuneCountInString(text), total, agentapi.BrowsePageChars, agentapi.BrowsePageChars)
	}
	if want := "Characters 0-30000 of 44000 shown; 14000 more: browse again with start_from_char=30000 to read on.]"; note != want {
		t.Errorf("note = %q, want %q", note, want)
	}

	// The next part comes from the page kept, not from the site again.
	site.Close()
	rest, err := c.Browse(ctx(t), agentapi.BrowseRequest{StartFromChar: first.NextChar, ExtractLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if rest.StartFromChar != agentapi.BrowsePageChars || rest.NextChar != 0 || rest.URL != site.URL+"/long" {
		t.Errorf("second part: %+v", rest)
	}
	if !strings.HasPrefix(rest.Content, strings.Repeat("é", 9_995)+"\n\nxxx") || !strings.Contains(rest.Content, "END [1]\n\nLinks:\n[1] "+site.URL+"/end") {
		t.Errorf("second part does not go on where the first stopped, with the links asked for: %.60q ... %q", rest.Content, rest.Content[len(rest.Content)-120:])
	}
	if !strings.HasSuffix(rest.Content, "of "+fmt.Sprint(rest.TotalChars)+" shown: the end of the page.]") {
		t.Errorf("second part's note: %q", rest.Content[len(rest.Content)-80:])
	}
	if _, err := c.Browse(ctx(t), agentapi.BrowseRequest{StartFromChar: 1_000_000}); agentapi.StatusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("start past the end: %v, want 422", err)
	}
}

func TestBrowseErrors(t *testing.T) {
	t.Parallel()
	site := newWebSite(t)
	_, c := newTestServer(t)

	if _, err := c.Browse(ctx(t), agentapi.BrowseRequest{}); agentapi.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "give a url") {
		t.Errorf("no url and no last page: %v, want 400", err)
	}

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()

	tests := []struct {
		name   string
		req    agentapi.BrowseRequest
		status int
		detail string
	}{
		{"file scheme", agentapi.BrowseRequest{URL: "file:///etc/passwd"}, http.StatusBadRequest, "only http and https"},
		{"no host", agentapi.BrowseRequest{URL: "http:///path"}, http.StatusBadRequest, "no host"},
		{"bad url", agentapi.BrowseRequest{URL: "http://a b/"}, http.StatusBadRequest, "bad url"},
		{"negative start", agentapi.BrowseRequest{URL: site.URL, StartFromChar: -1}, http.StatusUnprocessableEntity, "start_from_char"},
		{"huge timeout", agentapi.BrowseRequest{URL: site.URL, Timeout: 1e12}, http.StatusUnprocessableEntity, "timeout"},
		{"PDF", agentapi.BrowseRequest{URL: site.URL + "/doc.pdf"}, http.StatusUnsupportedMediaType, "application/pdf"},
		{"redirect loop", agentapi.BrowseRequest{URL: site.URL + "/loop"}, http.StatusBadGateway, "stopped after 10 redirects"},
		{"redirect to file", agentapi.BrowseRequest{URL: site.URL + "/to-file"}, http.StatusBadGateway, "only http and https"},
		{"connection refused", agentapi.BrowseRequest{URL: closed}, http.StatusBadGateway, "connection refused"},
		{"timeout", agentapi.BrowseRequest{URL: site.URL + "/slow", Timeout: 0.2}, http.StatusGatewayTimeout, "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Browse(ctx(t), tt.req)
			if agentapi.StatusOf(err) != tt.status || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("err = %v, want %d naming %q", err, tt.status, tt.detail)
			}
		})
	}

	// An unreadable page does not replace the last one.
	if _, err := c.Browse(ctx(t), agentapi.BrowseRequest{}); agentapi.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("after failed fetches only: %v, want 400 (no page kept)", err)
	}
}

func TestWithScheme(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com":            "https://example.com",
		"example.com/a?b=c":      "https://example.com/a?b=c",
		"localhost:3000/x":       "http://localhost:3000/x",
		"127.0.0.1:8080":         "http://127.0.0.1:8080",
		"[::1]:8080/":            "http://[::1]:8080/",
		"http://example.com":     "http://example.com",
		"file:///etc/passwd":     "file:///etc/passwd",
		"mailto:a@example.com":   "mailto:a@example.com",
		"javascript:alert(1)":    "javascript:alert(1)",
		"file:/etc/passwd":       "file:/etc/passwd",
		"/relative":              "/relative",
		"ftp://example.com/file": "ftp://example.com/file",
	} {
		if got := withScheme(in); got != want {
			t.Errorf("withScheme(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBrowseUnknownHost(t *testing.T) {
	t.Parallel()
	_, c := newTestServer(t)
	// ".invalid" never resolves (RFC 2606). A sandbox without a resolver
	// fails differently, or runs out of time; either way the host is named.
	_, err := c.Browse(ctx(t), agentapi.BrowseRequest{URL: "http://gohands-test.invalid/", Timeout: 10})
	if s := agentapi.StatusOf(err); (s != http.StatusBadGateway && s != http.StatusGatewayTimeout) || !strings.Contains(err.Error(), "gohands-test.invalid") {
		t.Fatalf("unknown host: %v, want 502 naming the host", err)
	}
}
