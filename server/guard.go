package server

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// guard keeps web pages of other sites out of a server that has no API
// key. A browser lets any page send a "simple" request (a text/plain POST,
// a WebSocket upgrade) to any address, the server's loopback one included,
// without a CORS preflight, and a page whose own name is made to resolve
// to this server (DNS rebinding) even reads the answers. Two checks stop
// both, while leaving clients that are not browsers (curl, websocat, the
// SDKs, which send no Origin and the Host they were pointed at) alone:
//
//   - the Host must name this server (see hostAllowed): a rebinding page's
//     requests carry its own name, which does not;
//   - an Origin, when there is one, must be this server's own (the web page
//     it serves) or one of the allowed origins: every cross-site request a
//     browser sends carries an Origin, except GETs of the kind an <img>
//     tag makes, which change nothing and whose answers the page cannot
//     read.
//
// With API keys configured the key is what guards the API, and requests
// are not checked here.
func (s *Server) guard(c *gin.Context) {
	if len(s.keys) > 0 {
		return
	}
	r := c.Request
	if !s.hostAllowed(r) {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"detail": "Host " + quote(r.Host) +
			" is not a name of this server: without an API key the server answers only requests" +
			" addressed to localhost, a loopback or local address, or a name in GOHANDS_ALLOWED_HOSTS"})
		return
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return
	}
	if len(origins) > 1 || !s.originTrusted(r, origins[0]) {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"detail": "cross-origin request from " +
			quote(strings.Join(origins, ", ")) + " refused: without an API key the server answers web pages" +
			" only from its own origin and the origins in OH_ALLOW_CORS_ORIGINS"})
	}
}

// quote bounds what a client sent before it goes into an answer.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// hostAllowed reports whether the request's Host names this server:
//
//   - localhost and its subdomains (a.localhost): browsers resolve them to
//     loopback themselves, and no DNS server can be made to answer for them;
//   - loopback and unspecified addresses, and the address the connection
//     came in on: an address in Host cannot be rebound, and this one is
//     the server's own (a LAN client using http://192.168.1.5:3000);
//   - the names and addresses of Config.AllowedHosts, where "*.example.com"
//     allows the subdomains of example.com and "*" any Host;
//   - no Host at all (HTTP/1.0): browsers always send one.
//
// The machine's host name is not allowed unless listed: a bare name is
// resolved through search domains, mDNS and LLMNR, which others on the
// network can answer, and in a container it is a random id nobody types.
// Ports are ignored.
func (s *Server) hostAllowed(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	host := hostName(r.Host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.WithZone("").Unmap()
		if ip.IsLoopback() || ip.IsUnspecified() {
			return true
		}
		if local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok &&
			local.AddrPort().Addr().WithZone("").Unmap() == ip {
			return true
		}
		host = ip.String()
	}
	for _, h := range s.hosts {
		switch {
		case h == "*", h == host:
			return true
		case strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]):
			return true
		}
	}
	return false
}

// hostName returns the host of a Host header or URL host, without port,
// brackets or trailing dot, in lower case.
func hostName(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if strings.Count(h, ":") == 1 {
		h, _, _ = strings.Cut(h, ":")
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// normalHosts prepares Config.AllowedHosts for hostAllowed.
func normalHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if h != "*" && !strings.HasPrefix(h, "*.") {
			h = hostName(h)
			if ip, err := netip.ParseAddr(h); err == nil {
				h = ip.WithZone("").Unmap().String()
			}
		} else {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
		}
		out = append(out, h)
	}
	return out
}

// originTrusted reports whether a request with this Origin may be answered
// by a server without keys: the origin is listed in Config.CORSOrigins
// ("*" lists every one) or is the server's own. "null" (a sandboxed frame,
// a file:// page) is never the server's own.
func (s *Server) originTrusted(r *http.Request, origin string) bool {
	if slices.Contains(s.origins, "*") || slices.Contains(s.origins, normalOrigin(origin)) {
		return true
	}
	return sameOrigin(r, origin)
}

// normalOrigin is an origin as compared: lower case, no trailing slash.
func normalOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}

// sameOrigin reports whether origin is the server itself as the request
// addresses it: the same host and port as the Host header (the web page
// GoHands serves, calling its own API). The scheme is not compared: behind
// a proxy that ends TLS the server cannot know it, and only whoever
// controls the name could serve a page from it. A Host without a port
// matches an origin on port 80 or 443.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	oport := u.Port()
	if oport == "" {
		oport = "80"
		if u.Scheme == "https" {
			oport = "443"
		}
	}
	hport := ""
	if strings.HasPrefix(r.Host, "[") {
		if _, p, err := net.SplitHostPort(r.Host); err == nil {
			hport = p
		}
	} else if _, p, ok := strings.Cut(r.Host, ":"); ok {
		hport = p
	}
	if hostName(u.Host) != hostName(r.Host) {
		return false
	}
	return hport == oport || (hport == "" && (oport == "80" || oport == "443"))
}
