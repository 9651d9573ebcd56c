// Package server is GoHands' HTTP layer: the V1 REST routes (gin), the
// WebSocket endpoints (melody), authentication and CORS. It holds no
// business logic; it turns requests into calls on the session package and
// answers in the wire shapes of API.md.
package server

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/skills"
)

// Version is the server's version, reported by /server_info.
const Version = "0.1.0"

// Metrics records HTTP and socket metrics; the metrics package's Registry
// implements it.
type Metrics interface {
	GinMiddleware() gin.HandlerFunc
	Handler() http.Handler
	SocketOpened()
	SocketClosed()
	SocketDropped(reason string)
}

// Config is what the HTTP layer needs.
type Config struct {
	Title         string
	Logger        *slog.Logger
	Now           func() time.Time // the clock; time.Now when nil
	Conversations *session.ConversationManager
	// APIKeys guard /api/ and the sockets. With none, the server answers
	// only requests addressed to one of its names (AllowedHosts) that come
	// from no web page or from an allowed one (see guard).
	APIKeys []string
	// CORSOrigins are the web origins allowed to call the API ("*" any);
	// with keys, localhost origins are allowed too.
	CORSOrigins []string
	// AllowedHosts are the names, besides localhost and this server's
	// addresses, a request's Host may give when there is no API key:
	// "gohands.example", "*.example.com" (subdomains), "*" (any).
	AllowedHosts []string
	// ReadTimeout bounds how long a request body may take to arrive; a
	// file upload may instead not stall for that long. 0 is no limit.
	ReadTimeout time.Duration
	// MaxBodyBytes bounds JSON bodies (413 past it); 0 means 10 MiB.
	MaxBodyBytes int64
	// MaxUploadBytes bounds file uploads; 0 means 100 MiB.
	MaxUploadBytes int64
	// AllowedUploadTypes, when set, are the file name extensions uploads
	// may have (".py", ".txt").
	AllowedUploadTypes []string
	// SocketBuffer is how many events a socket may have queued before it
	// counts as slow and is dropped; 0 means 1024.
	SocketBuffer int
	// ServerSkills are the skills of the server's skills folder, listed
	// by POST /api/skills.
	ServerSkills []skills.Skill
	// Ready reports whether the server can do its work (/ready); nil is
	// always ready.
	Ready func(context.Context) error
	// Recovering returns how many sandboxes of the conversations are
	// still being taken over after a restart; /ready says so while it is
	// not 0, and stays ready (a conversation used meanwhile recovers its
	// own sandbox at once). nil: none.
	Recovering func() int
	// Metrics, OpenAPI, Docs and Web are optional.
	Metrics Metrics
	OpenAPI []byte
	Docs    http.Handler // serves /docs and its assets
	Web     http.Handler // the web page, at /
}

// Server answers GoHands' HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	convs   *session.ConversationManager
	keys    [][sha256.Size]byte
	hosts   []string // AllowedHosts, normalised
	origins []string // CORSOrigins, normalised
	started time.Time
	last    atomic.Int64 // unix nanos of the last request
	engine  *gin.Engine
	sockets *sockets
}

// New builds the routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Title == "" {
		cfg.Title = "GoHands"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 100 << 20
	}
	if cfg.SocketBuffer <= 0 {
		cfg.SocketBuffer = 1024
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), convs: cfg.Conversations,
		started: cfg.Now(), engine: gin.New()}
	for _, k := range cfg.APIKeys {
		if k != "" {
			s.keys = append(s.keys, sha256.Sum256([]byte(k)))
		}
	}
	s.hosts = normalHosts(cfg.AllowedHosts)
	for _, o := range cfg.CORSOrigins {
		s.origins = append(s.origins, normalOrigin(o))
	}
	s.last.Store(s.started.UnixNano())
	e := s.engine
	e.ContextWithFallback = true
	// bodyDeadline comes before the metrics' writer, which hides the
	// connection from http.ResponseController.
	e.Use(gin.Recovery(), s.bodyDeadline)
	if cfg.Metrics != nil {
		e.Use(cfg.Metrics.GinMiddleware())
	}
	e.Use(s.guard, s.cors)
	e.Use(func(c *gin.Context) {
		switch c.Request.URL.Path {
		case "/alive", "/health", "/ready", "/server_info", "/metrics":
			// Probes and scrapes are not activity: they would keep a
			// server that nobody uses from ever looking idle.
		default:
			s.last.Store(s.cfg.Now().UnixNano())
		}
	})
	getHead(e, "/alive", s.ok)
	getHead(e, "/health", s.ok)
	getHead(e, "/ready", s.ready)
	getHead(e, "/server_info", s.serverInfo)
	if cfg.Metrics != nil {
		getHead(e, "/metrics", gin.WrapH(cfg.Metrics.Handler()))
	}
	if cfg.OpenAPI != nil {
		getHead(e, "/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", cfg.OpenAPI) })
	}
	if cfg.Docs != nil {
		getHead(e, "/docs", gin.WrapH(cfg.Docs))
		getHead(e, "/docs/*asset", gin.WrapH(cfg.Docs))
	}
	if s.convs != nil {
		s.sockets = newSockets(s)
		s.routes()
	}
	e.NoRoute(func(c *gin.Context) {
		if s.answerNotOffered(c) {
			return
		}
		m := c.Request.Method
		if m != http.MethodGet && m != http.MethodHead {
			c.JSON(http.StatusNotFound, gin.H{"detail": "no route " + m + " " + c.Request.URL.Path})
			return
		}
		if c.Request.URL.Path == "/" && (cfg.Web == nil || !wantsHTML(c.Request)) {
			s.serverInfo(c) // an API client asking for the root, as the reference server answers it
			return
		}
		if cfg.Web != nil {
			cfg.Web.ServeHTTP(c.Writer, c.Request)
			return
		}
		c.JSON(http.StatusNotFound, gin.H{"detail": "no route " + c.Request.Method + " " + c.Request.URL.Path})
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Shutdown tells every socket the server is going away.
func (s *Server) Shutdown() {
	if s.sockets != nil {
		s.sockets.close()
	}
}

// Routes lists the registered routes as "METHOD /path".
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func (s *Server) ok(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) ready(c *gin.Context) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.Request.Context()); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "detail": err.Error()})
			return
		}
	}
	out := gin.H{"status": "ready"}
	if s.cfg.Recovering != nil {
		if n := s.cfg.Recovering(); n > 0 {
			out["sandboxes_recovering"] = n
		}
	}
	c.JSON(http.StatusOK, out)
}

// Info is the answer of /server_info.
type Info struct {
	Uptime   Seconds `json:"uptime"`    // since start
	IdleTime Seconds `json:"idle_time"` // since the last request other than a probe
	Title    string  `json:"title"`
	Version  string  `json:"version"`
	Docs     string  `json:"docs"`
}

func (s *Server) serverInfo(c *gin.Context) {
	now := s.cfg.Now()
	up := now.Sub(s.started).Seconds()
	idle := now.Sub(time.Unix(0, s.last.Load())).Seconds()
	c.JSON(http.StatusOK, Info{Uptime: Seconds(up), IdleTime: Seconds(idle), Title: s.cfg.Title, Version: Version, Docs: "/docs"})
}

// Seconds is a duration in seconds, written with three decimals: the
// answer keeps its length from one moment to the next, so that a HEAD
// tells the length of the GET that follows.
type Seconds float64

// MarshalJSON writes s with millisecond precision.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(s), 'f', 3, 64), nil
}

// getHead registers a GET route and the HEAD route of the same handlers: a
// HEAD is answered as the GET would be, and net/http drops the body.
func getHead(r gin.IRoutes, path string, handlers ...gin.HandlerFunc) {
	r.Match([]string{http.MethodGet, http.MethodHead}, path, handlers...)
}

// routes registers /api/ and the sockets.
func (s *Server) routes() {
	e := s.engine
	api := e.Group("/api", s.requireKey)
	convs := api.Group("/conversations")
	convs.POST("", s.createConversation)
	getHead(convs, "", s.batchConversations)
	getHead(convs, "/search", s.searchConversations)
	getHead(convs, "/count", s.countConversations)
	getHead(convs, "/:id", s.getConversation)
	convs.PATCH("/:id", s.patchConversation)
	convs.DELETE("/:id", s.deleteConversation)
	convs.POST("/:id/run", s.runConversation)
	convs.POST("/:id/pause", s.pauseConversation)
	convs.POST("/:id/interrupt", s.interruptConversation)
	convs.POST("/:id/switch_llm", s.switchLLM)
	convs.POST("/:id/switch_profile", s.switchProfile)
	convs.POST("/:id/restart", s.restartConversation)
	convs.POST("/:id/secrets", s.setSecrets)
	convs.POST("/:id/confirmation_policy", s.setConfirmationPolicy)
	convs.POST("/:id/security_analyzer", s.setSecurityAnalyzer)
	convs.POST("/:id/ask_agent", s.askAgent)
	convs.POST("/:id/generate_title", s.generateTitle)
	convs.POST("/:id/condense", s.condense)
	convs.POST("/:id/fork", s.fork)
	convs.POST("/:id/navigate", s.navigate)

	getHead(convs, "/:id/agent_final_response", s.finalResponse)
	getHead(convs, "/:id/events", s.batchEvents)
	getHead(convs, "/:id/events/search", s.searchEvents)
	getHead(convs, "/:id/events/count", s.countEvents)
	getHead(convs, "/:id/events/:event_id", s.getEvent)
	convs.POST("/:id/events", s.postMessage)
	convs.POST("/:id/events/respond_to_confirmation", s.respondToConfirmation)

	convs.POST("/:id/bash/execute_bash_command", s.executeBash)
	convs.POST("/:id/bash/start_bash_command", s.startBash)
	getHead(convs, "/:id/bash/bash_events/search", s.searchBashEvents)
	getHead(convs, "/:id/file/download", s.download)
	convs.POST("/:id/file/upload", s.upload)
	getHead(convs, "/:id/file/list", s.listFiles)
	getHead(convs, "/:id/file/archive", s.archive)
	getHead(convs, "/:id/file/home", s.home)
	getHead(convs, "/:id/file/search_subdirs", s.searchSubdirs)
	convs.POST("/:id/file/create_directory", s.createDirectory)
	getHead(convs, "/:id/git/changes", s.gitChanges)
	getHead(convs, "/:id/git/diff", s.gitDiff)
	getHead(convs, "/:id/git/commits", s.gitCommits)
	getHead(convs, "/:id/git/commits/:sha/changes", s.gitCommitChanges)

	// What the agent built, for a browser: the key header or the
	// workspace session cookie.
	preview := e.Group("/api/conversations", s.requireKeyOrCookie)
	getHead(preview, "/:id/workspace", s.workspaceFile)
	getHead(preview, "/:id/workspace/*path", s.workspaceFile)
	for _, m := range proxiedMethods {
		preview.Handle(m, "/:id/ports/:port", s.portProxy)
		preview.Handle(m, "/:id/ports/:port/*path", s.portProxy)
	}
	convs.POST("/:id/preview", s.createPreview)
	pv := e.Group("/preview/:token", s.requirePreviewToken)
	getHead(pv, "/:id/workspace", s.workspaceFile)
	getHead(pv, "/:id/workspace/*path", s.workspaceFile)
	for _, m := range proxiedMethods {
		pv.Handle(m, "/:id/ports/:port", s.portProxy)
		pv.Handle(m, "/:id/ports/:port/*path", s.portProxy)
	}
	api.POST("/auth/workspace-session", s.createWorkspaceSession)
	api.DELETE("/auth/workspace-session", s.deleteWorkspaceSession)

	// The reference server's global workspace routes: on the
	// conversation named by conversation_id or, without one, on the
	// workspace sandbox of the path they name (server/workspaces.go).
	api.POST("/bash/execute_bash_command", s.executeBash)
	api.POST("/bash/start_bash_command", s.startBash)
	getHead(api, "/bash/bash_events/search", s.searchBashEvents)
	getHead(api, "/bash/bash_events", s.batchWorkspaceBash)
	getHead(api, "/bash/bash_events/", s.batchWorkspaceBash) // the reference server's spelling
	getHead(api, "/bash/bash_events/:event_id", s.workspaceBashEvent)
	api.DELETE("/bash/bash_events", s.clearWorkspaceBash)
	getHead(api, "/file/download", s.download)
	api.POST("/file/upload", s.upload)
	getHead(api, "/file/list", s.listFiles)
	getHead(api, "/file/archive", s.archive)
	getHead(api, "/file/home", s.home)
	getHead(api, "/file/search_subdirs", s.searchSubdirs)
	api.POST("/file/create_directory", s.createDirectory)
	getHead(api, "/file/download-trajectory/:conversation_id", s.downloadTrajectory)
	getHead(api, "/git/changes", s.gitChanges)
	getHead(api, "/git/diff", s.gitDiff)
	getHead(api, "/git/commits", s.gitCommits)
	getHead(api, "/git/commits/:sha/changes", s.gitCommitChanges)
	getHead(api, "/tools/", s.tools)
	api.POST("/mcp/test", s.testMCP)
	getHead(convs, "/:id/tools", s.conversationTools)
	s.surfaceRoutes(api)
	s.repoRoutes(api)

	// A socket is opened by a GET only (RFC 6455); a HEAD cannot upgrade.
	e.GET("/sockets/events/:id", s.sockets.events)
	e.GET("/sockets/bash-events", s.sockets.bash)
	e.GET("/sockets/bash-events/:id", s.sockets.bash)
	e.GET("/ws", s.sockets.v0)
}
