package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// keyHeader is the header that carries the session API key.
const keyHeader = "X-Session-API-Key"

// keyOK reports whether key is one of the configured keys, comparing in
// constant time (digests first, so that lengths leak nothing either).
func (s *Server) keyOK(key string) bool {
	if len(s.keys) == 0 {
		return true
	}
	d := sha256.Sum256([]byte(key))
	ok := 0
	for _, k := range s.keys {
		ok |= subtle.ConstantTimeCompare(d[:], k[:])
	}
	return ok == 1 && key != ""
}

// requestKey returns the key a request carries in its headers.
func requestKey(r *http.Request) string {
	if k := r.Header.Get(keyHeader); k != "" {
		return k
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// requireKey guards the /api/ routes.
func (s *Server) requireKey(c *gin.Context) {
	if len(s.keys) == 0 {
		return
	}
	key := requestKey(c.Request)
	if key == "" {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": "missing API key: send it in the " + keyHeader + " header"})
		return
	}
	if !s.keyOK(key) {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": "invalid API key"})
		return
	}
}

// cors answers cross-origin requests from the configured origins and from
// localhost.
func (s *Server) cors(c *gin.Context) {
	origin := c.Request.Header.Get("Origin")
	if origin == "" || !s.originAllowed(origin) {
		if c.Request.Method == http.MethodOptions && origin != "" && c.Request.Header.Get("Access-Control-Request-Method") != "" {
			c.AbortWithStatus(http.StatusForbidden)
		}
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "Content-Disposition")
	if c.Request.Method == http.MethodOptions && c.Request.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, "+keyHeader)
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
	}
}

func (s *Server) originAllowed(origin string) bool {
	if slices.Contains(s.origins, "*") || slices.Contains(s.origins, normalOrigin(origin)) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return u.Scheme == "http" || u.Scheme == "https"
	}
	return false
}
