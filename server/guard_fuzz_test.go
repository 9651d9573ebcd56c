package server

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzGuard feeds arbitrary Host and Origin headers to the checks of a
// server without keys: none may panic, a Host is allowed only when it is
// a loopback or unspecified address or a localhost name, and an origin is
// the server's own only when it has the Host's name.
func FuzzGuard(f *testing.F) {
	for _, seed := range [][2]string{
		{"localhost:3000", "http://localhost:3000"},
		{"[::1]:3000", "http://[::1]:3000/"},
		{"127.0.0.1", "https://127.0.0.1"},
		{"evil.example:3000", "http://evil.example:3000"},
		{"a.localhost.", "null"},
		{"[fe80::1%eth0]:1", "http://user@[fe80::1%25eth0]:1"},
		{"LOCALHOST", "HTTP://LOCALHOST:80"},
	} {
		f.Add(seed[0], seed[1])
	}
	s := New(Config{})
	f.Fuzz(func(t *testing.T, host, origin string) {
		r := &http.Request{Host: host, Header: http.Header{}}
		if s.hostAllowed(r) && host != "" {
			h := hostName(host)
			ip, err := netip.ParseAddr(h)
			local := h == "localhost" || strings.HasSuffix(h, ".localhost") ||
				(err == nil && (ip.Unmap().IsLoopback() || ip.Unmap().IsUnspecified()))
			if !local {
				t.Errorf("Host %q (%q) allowed", host, h)
			}
		}
		if sameOrigin(r, origin) {
			u, err := url.Parse(origin)
			if err != nil || hostName(u.Host) != hostName(host) {
				t.Errorf("origin %q is the server's own for Host %q", origin, host)
			}
		}
	})
}
