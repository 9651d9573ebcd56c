package agentd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/webtext"
)

// The browser fetches pages from inside the sandbox, so the sandbox's network
// policy applies to them: with network "none" there is nothing to reach.
const (
	maxBrowseTimeout = 10 * time.Minute
	maxRedirects     = 10
	browseUserAgent  = "Mozilla/5.0 (compatible; GoHands/" + Version + "; +https://github.com/gohands/gohands)"
)

// browser serves /browse and remembers the last page fetched. One agent
// serves one sandbox, hence one agent (the model) browsing.
type browser struct {
	log     *slog.Logger
	maxBody int64
	client  *http.Client

	mu   sync.Mutex
	last *fetched
}

// fetched is a page as it came, kept so that a later call can read on, with
// or without links.
type fetched struct {
	url, contentType string
	status           int
	body             []byte
	truncated        bool

	mu    sync.Mutex
	pages [2]*webtext.Page // by extract_links
}

func (s *Server) browseRoutes(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	b := newBrowser(s.log.With("component", "browser"), s.cfg.MaxBody)
	auth("POST /browse", b.serve)
}

func newBrowser(log *slog.Logger, maxBody int64) *browser {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        8,
		IdleConnTimeout:     30 * time.Second,
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s refused: only http and https can be browsed", req.URL.Redacted())
			}
			return nil
		},
	}
	return &browser{log: log, maxBody: maxBody, client: client}
}

func (b *browser) serve(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.BrowseRequest
	if err := decodeJSON(io.LimitReader(r.Body, b.maxBody+1), b.maxBody, &req); err != nil {
		return err
	}
	if req.StartFromChar < 0 {
		return errorf(http.StatusUnprocessableEntity, "start_from_char must not be negative")
	}
	if req.Timeout < 0 || req.Timeout > maxBrowseTimeout.Seconds() {
		return errorf(http.StatusUnprocessableEntity, "timeout must be between 0 and %v seconds", maxBrowseTimeout.Seconds())
	}
	timeout := seconds(req.Timeout)
	if timeout == 0 {
		timeout = agentapi.DefaultBrowseTimeout
	}

	var f *fetched
	if req.URL == "" {
		b.mu.Lock()
		f = b.last
		b.mu.Unlock()
		if f == nil {
			return errorf(http.StatusBadRequest, "no page has been fetched yet: give a url")
		}
	} else {
		var err error
		if f, err = b.fetch(r.Context(), req.URL, timeout); err != nil {
			return err
		}
		b.mu.Lock()
		b.last = f
		b.mu.Unlock()
	}

	page, err := f.page(req.ExtractLinks)
	if err != nil {
		return errorf(http.StatusBadGateway, "read %s: %v", f.url, err)
	}
	res, err := slice(page, req.StartFromChar)
	if err != nil {
		return err
	}
	res.URL, res.Status, res.ContentType = f.url, f.status, f.contentType
	writeJSON(w, http.StatusOK, res)
	return nil
}

// fetch gets a page and keeps up to webtext.DefaultMaxBytes of its body.
func (b *browser) fetch(ctx context.Context, raw string, timeout time.Duration) (*fetched, error) {
	u, err := url.Parse(withScheme(strings.TrimSpace(raw)))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errorf(http.StatusBadRequest, "bad url %q: only http and https can be browsed", raw)
	}
	if u.Host == "" {
		return nil, errorf(http.StatusBadRequest, "bad url %q: no host", raw)
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad url %q: %v", raw, err)
	}
	req.Header.Set("User-Agent", browseUserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5")
	req.Header.Set("Accept-Language", "en, *;q=0.5")

	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fetchError(ctx, u, timeout, err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	ct := resp.Header.Get("Content-Type")
	if err := webtext.CheckType(ct); err != nil {
		return nil, unreadable(final, err)
	}
	const limit = webtext.DefaultMaxBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fetchError(ctx, u, timeout, err)
	}
	f := &fetched{url: final, contentType: ct, status: resp.StatusCode, body: body}
	if len(body) > limit {
		f.body, f.truncated = body[:limit], true
	}
	// Find out now whether the page can be read at all (a sniffed PDF, say),
	// so that an unreadable page does not become the last one.
	if _, err := f.page(false); err != nil {
		if errors.Is(err, webtext.ErrUnsupportedType) {
			return nil, unreadable(final, err)
		}
		return nil, errorf(http.StatusBadGateway, "read %s: %v", final, err)
	}
	b.log.Debug("fetched", "url", final, "status", resp.StatusCode, "type", ct, "bytes", len(f.body), "took", time.Since(start).Round(time.Millisecond))
	return f, nil
}

// page returns the readable text of the body, extracted once per mode.
func (f *fetched) page(links bool) (webtext.Page, error) {
	i := 0
	if links {
		i = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.pages[i]; p != nil {
		return *p, nil
	}
	base, _ := url.Parse(f.url)
	p, err := webtext.Extract(bytes.NewReader(f.body), f.contentType, base, webtext.Options{Links: links, MaxBytes: int64(len(f.body)) + 1})
	if err != nil {
		return webtext.Page{}, err
	}
	p.Truncated = f.truncated
	f.pages[i] = &p
	return p, nil
}

// withScheme completes an address typed without a scheme as a browser
// does: "example.com/x" is https, "localhost:3000" (a server the agent
// started in the sandbox) is http.
func withScheme(raw string) string {
	if raw == "" || strings.Contains(raw, "://") || strings.HasPrefix(raw, "/") {
		return raw
	}
	host, _, _ := strings.Cut(raw, "/")
	if h, port, err := net.SplitHostPort(host); err == nil {
		if strings.Trim(port, "0123456789") != "" || port == "" {
			return raw // "mailto:..." or "file:": a scheme, not a port
		}
		host = h
	}
	host = strings.Trim(host, "[]")
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return "http://" + raw
	}
	return "https://" + raw
}

// slice cuts the part of a page's text that starts at character start.
func slice(p webtext.Page, start int) (agentapi.BrowseResult, error) {
	total := utf8.RuneCountInString(p.Text)
	if start > total {
		return agentapi.BrowseResult{}, errorf(http.StatusUnprocessableEntity, "start_from_char %d is past the end of the page (%d characters)", start, total)
	}
	from := byteOffset(p.Text, 0, start)
	to := byteOffset(p.Text, from, agentapi.BrowsePageChars)
	end := start + utf8.RuneCountInString(p.Text[from:to])
	res := agentapi.BrowseResult{
		Title:         p.Title,
		Content:       p.Text[from:to],
		StartFromChar: start,
		TotalChars:    total,
		Links:         p.Links,
		Truncated:     p.Truncated,
	}
	switch {
	case end < total:
		res.NextChar = end
		res.Content += fmt.Sprintf("\n\n[Characters %d-%d of %d shown; %d more: browse again with start_from_char=%d to read on.]", start, end, total, total-end, end)
	case start > 0:
		res.Content += fmt.Sprintf("\n\n[Characters %d-%d of %d shown: the end of the page.]", start, end, total)
	}
	if p.Truncated {
		res.Content += fmt.Sprintf("\n\n[The page is larger than %d MiB; only its start was read.]", webtext.DefaultMaxBytes>>20)
	}
	return res, nil
}

// byteOffset returns the byte offset in s that is n characters after the
// byte offset from, or len(s).
func byteOffset(s string, from, n int) int {
	i := from
	for ; n > 0 && i < len(s); n-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// fetchError says why a page could not be fetched: the request is refused
// (502, 504) rather than answered with a page.
func fetchError(ctx context.Context, u *url.URL, timeout time.Duration, err error) *agentapi.HTTPError {
	host := u.Hostname()
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case ctx.Err() != nil:
		return errorf(499, "request ended: %v", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "fetch %s: no answer within %v", u.Redacted(), timeout)
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return errorf(http.StatusBadGateway, "fetch %s: host %q not found (DNS)", u.Redacted(), host)
		}
		return errorf(http.StatusBadGateway, "fetch %s: cannot resolve host %q: %v (the sandbox may have no network)", u.Redacted(), host, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errorf(http.StatusBadGateway, "fetch %s: connection refused by %s", u.Redacted(), u.Host)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return errorf(http.StatusBadGateway, "fetch %s: %s is unreachable (the sandbox may have no network)", u.Redacted(), host)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return errorf(http.StatusBadGateway, "fetch %s: TLS certificate not trusted: %v", u.Redacted(), trimURLError(err))
	}
	return errorf(http.StatusBadGateway, "fetch %s: %v", u.Redacted(), trimURLError(err))
}

// trimURLError drops the "Get \"URL\": " that net/http puts before an
// error, since the detail names the URL already.
func trimURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// unreadable is the answer for a page of a type webtext does not read.
func unreadable(url string, err error) *agentapi.HTTPError {
	return errorf(http.StatusUnsupportedMediaType, "cannot read %s: %s", url, strings.TrimPrefix(err.Error(), "webtext: "))
}
