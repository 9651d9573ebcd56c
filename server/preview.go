package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/session"
)

// workspaceCookie carries a workspace session: a browser cannot add the key
// header to an iframe's requests, so the page trades the key for this
// HttpOnly cookie, which only the workspace and port routes accept.
const workspaceCookie = "oh_workspace_session_key"

// cookiePath scopes the cookie to the conversations' routes.
const cookiePath = "/api/conversations"

// sessionToken is the cookie's value for key: derived from it, so the
// cookie never holds the key itself and a new key set voids old cookies.
func sessionToken(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("gohands workspace session"))
	return hex.EncodeToString(m.Sum(nil))
}

// requireKeyOrCookie guards the workspace and port routes: the key header
// as everywhere, or the workspace session cookie.
func (s *Server) requireKeyOrCookie(c *gin.Context) {
	if len(s.keys) == 0 || requestKey(c.Request) != "" {
		s.requireKey(c)
		return
	}
	if ck, err := c.Request.Cookie(workspaceCookie); err == nil && ck.Value != "" {
		for _, k := range s.cfg.APIKeys {
			if k != "" && hmac.Equal([]byte(ck.Value), []byte(sessionToken(k))) {
				return
			}
		}
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": "invalid workspace session: make a new one with POST /api/auth/workspace-session"})
		return
	}
	s.requireKey(c)
}

// previewToken is the capability of the preview URLs of one conversation:
// /preview/TOKEN/ID/workspace/... and /preview/TOKEN/ID/ports/.... The web
// page shows the agent's pages in a sandboxed frame, with an origin of its
// own, whose requests for its own files carry no cookie (they are
// cross-site); the token in their path, which relative links keep, lets
// them in. It opens that conversation's workspace and ports only, which
// the page in the frame could load anyway.
func previewToken(key, id string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("gohands preview\x00" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// previewKeys are the keys preview tokens derive from; with none
// configured, a fixed one (the routes are open then anyway).
func (s *Server) previewKeys() []string {
	if len(s.keys) == 0 {
		return []string{"open"}
	}
	return s.cfg.APIKeys
}

// requirePreviewToken guards the /preview/ routes.
func (s *Server) requirePreviewToken(c *gin.Context) {
	got := []byte(c.Param("token"))
	for _, k := range s.previewKeys() {
		if k != "" && hmac.Equal(got, []byte(previewToken(k, c.Param("id")))) {
			return
		}
	}
	c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": "invalid preview token: ask POST /api/conversations/{id}/preview for the URLs"})
}

// createPreview answers POST /api/conversations/{id}/preview: the URLs
// at which a sandboxed frame can show the conversation's workspace and
// ports.
func (s *Server) createPreview(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	key := requestKey(c.Request)
	if len(s.keys) == 0 {
		key = "open"
	}
	base := "/preview/" + previewToken(key, a.ID()) + "/" + a.ID()
	c.JSON(http.StatusOK, gin.H{"workspace_url": base + "/workspace/", "ports_url": base + "/ports/"})
}

// secureContext reports whether a browser takes Secure cookies from this
// request: HTTPS, or plain HTTP to a loopback name.
func secureContext(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https") {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1" || host == "::1"
}

func setWorkspaceCookie(c *gin.Context, value string, maxAge int) {
	ck := &http.Cookie{Name: workspaceCookie, Value: value, Path: cookiePath, MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if secureContext(c.Request) {
		// SameSite=None lets a page of another site show the workspace
		// in an iframe, and the sandboxed page (an origin of its own)
		// load its own files; browsers take it only when Secure. Not
		// Partitioned: the sandboxed page's requests have a cross-site
		// ancestor, and a partitioned cookie set by the top page would
		// not go with them.
		ck.Secure, ck.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, ck)
}

// createWorkspaceSession answers POST /api/auth/workspace-session: the key
// of the request becomes a workspace session cookie.
func (s *Server) createWorkspaceSession(c *gin.Context) {
	key := requestKey(c.Request)
	if key == "" {
		// No keys are configured: any request may see the workspace,
		// and the cookie only says so.
		key = "open"
	}
	setWorkspaceCookie(c, sessionToken(key), 400*24*3600)
	c.Status(http.StatusNoContent)
}

// deleteWorkspaceSession answers DELETE /api/auth/workspace-session.
func (s *Server) deleteWorkspaceSession(c *gin.Context) {
	setWorkspaceCookie(c, "", -1)
	c.Status(http.StatusNoContent)
}

// workspaceFile answers GET /api/conversations/{id}/workspace/{path}: a
// file of the conversation's workspace for a browser, a folder's
// index.html, never a file outside the workspace.
func (s *Server) workspaceFile(c *gin.Context) {
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	if c.Param("path") == "" {
		// Relative links of the index resolve under the folder's URL.
		c.Redirect(http.StatusMovedPermanently, c.Request.URL.Path+"/")
		return
	}
	p := strings.TrimPrefix(c.Param("path"), "/")
	err := a.WithWorkspace(c.Request.Context(), func(w session.SandboxWorkspace) error {
		f, err := w.OpenWeb(c.Request.Context(), p)
		if err != nil {
			return err
		}
		if f.Redirect {
			c.Redirect(http.StatusMovedPermanently, c.Request.URL.Path+"/")
			return nil
		}
		defer f.Body.Close()
		ctype := mime.TypeByExtension(path.Ext(f.Path))
		var head []byte
		if ctype == "" {
			head = make([]byte, 512)
			n, _ := io.ReadFull(f.Body, head)
			head = head[:n]
			ctype = http.DetectContentType(head)
		}
		h := c.Writer.Header()
		h.Set("Content-Type", ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", sandboxPolicy)
		h.Set("Cache-Control", "no-cache")
		if f.Size >= 0 {
			h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
		}
		c.Status(http.StatusOK)
		if c.Request.Method == http.MethodHead {
			return nil
		}
		if _, err := c.Writer.Write(head); err != nil {
			return err
		}
		_, err = io.Copy(c.Writer, f.Body)
		return err
	})
	if err != nil && !c.Writer.Written() {
		s.fail(c, sandboxErr(err))
	}
}

// sandboxPolicy is the Content-Security-Policy of everything the workspace
// and port routes serve: the agent wrote those pages, and they must not
// run as the server's own origin, where they could call the API with the
// browser's credentials. A sandboxed document has an origin of its own.
const sandboxPolicy = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

// proxiedMethods are the methods the port routes forward.
var proxiedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// portProxy answers /api/conversations/{id}/ports/{port}/{path}: the
// request goes, through the sandbox's agent, to a server a program of the
// sandbox listens with on that port of its loopback; WebSockets too.
func (s *Server) portProxy(c *gin.Context) {
	port, err := strconv.Atoi(c.Param("port"))
	if err != nil || port < 1 || port > 65535 {
		s.fail(c, errorf(http.StatusUnprocessableEntity, "port: %q is not a number from 1 to 65535", c.Param("port")))
		return
	}
	a, ok := s.conversation(c)
	if !ok {
		return
	}
	// A body goes to the sandbox as it comes: it may take long as long
	// as it does not stall, and is bounded as an upload is.
	streamBody(c)
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxUploadBytes)
	}
	r := c.Request.Clone(c.Request.Context())
	r.URL.Path = "/" + strings.TrimPrefix(c.Param("path"), "/")
	r.URL.RawPath = ""
	// The server's credentials are the server's: the sandbox's program
	// sees neither the key nor the workspace session.
	r.Header.Del(keyHeader)
	r.Header.Del("Authorization")
	dropCookie(r, workspaceCookie)
	c.Writer.Header().Set("Content-Security-Policy", sandboxPolicy)
	err = a.WithSandbox(c.Request.Context(), func(cl *agentapi.Client) error {
		var failed error
		cl.PortProxy(port, func(w http.ResponseWriter, _ *http.Request, err error) { failed = err }).ServeHTTP(c.Writer, r)
		return failed
	})
	if err != nil && !c.Writer.Written() {
		var he *agentapi.HTTPError
		if errors.As(err, &he) {
			s.fail(c, &apiError{status: he.Status, detail: he.Detail})
			return
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.fail(c, errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", s.cfg.MaxUploadBytes))
			return
		}
		s.fail(c, &apiError{status: http.StatusBadGateway, detail: "port " + strconv.Itoa(port) + ": " + err.Error()})
	}
}

// dropCookie removes one cookie from a request's Cookie headers.
func dropCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, ck := range cookies {
		if ck.Name != name {
			r.AddCookie(ck)
		}
	}
}
