// Package server is GoHands' HTTP layer: the V1 REST routes (gin), the
// WebSocket endpoints and authentication. It holds no business logic; it
// turns requests into calls on the session package and answers in the wire
// shapes of API.md.
package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Version is the server's version, reported by /server_info.
const Version = "0.1.0"

// Config is what the HTTP layer needs.
type Config struct {
	Title  string
	Logger *slog.Logger
	Now    func() time.Time // the clock; time.Now when nil
}

// Server answers GoHands' HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	engine  *gin.Engine
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
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), started: cfg.Now(), engine: gin.New()}
	s.engine.Use(gin.Recovery())
	s.engine.GET("/alive", s.ok)
	s.engine.GET("/health", s.ok)
	s.engine.GET("/server_info", s.serverInfo)
	s.engine.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"detail": "no route " + c.Request.Method + " " + c.Request.URL.Path})
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) ok(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// Info is the answer of /server_info.
type Info struct {
	Uptime   float64 `json:"uptime"`    // seconds since start
	IdleTime float64 `json:"idle_time"` // seconds since the last request
	Title    string  `json:"title"`
	Version  string  `json:"version"`
	Docs     string  `json:"docs"`
}

func (s *Server) serverInfo(c *gin.Context) {
	up := s.cfg.Now().Sub(s.started).Seconds()
	c.JSON(http.StatusOK, Info{Uptime: up, IdleTime: up, Title: s.cfg.Title, Version: Version, Docs: "/docs"})
}
