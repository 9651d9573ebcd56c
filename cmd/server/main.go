// Command gohands is the GoHands session server.
//
//	gohands --host 0.0.0.0 --port 3000 --state ./state/gohands.db
//
// Settings come from flags, then the environment, then the JSON file named
// by OPENHANDS_AGENT_SERVER_CONFIG_PATH; see the README's table.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/gohands/gohands/apidoc"
	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/frontend"
	"github.com/gohands/gohands/metrics"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/webhook"
)

func main() {
	cfg, err := LoadConfig(os.Args[1:], os.Getenv, os.ReadFile)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohands:", err)
		os.Exit(2)
	}
	logger := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, logger, nil); err != nil {
		logger.Error("gohands stopped", "err", err)
		os.Exit(1)
	}
}

// newLogger makes the structured logger the settings ask for.
func newLogger(cfg Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run serves until ctx ends, then shuts down gracefully: sockets are told,
// run loops stopped, webhooks flushed, sandboxes left running for the next
// server on the same state to re-adopt. When listening is not nil, the
// address is sent to it once the server listens.
func run(ctx context.Context, cfg Config, logger *slog.Logger, listening chan<- string) error {
	// Log lines never show a conversation's secrets: a line of one
	// conversation is masked with that conversation's masker, current,
	// and every line with the masker of all, rebuilt in the background.
	var convs atomic.Pointer[session.ConversationManager]
	logger = slog.New(security.ScopedMaskHandler(logger.Handler(), func() *security.Masker {
		if m := convs.Load(); m != nil {
			return m.Masker()
		}
		return nil
	}, "conversation", func(id string) *security.Masker {
		if m := convs.Load(); m != nil {
			return m.ConversationMasker(id)
		}
		return nil
	}))
	store, err := storage.Open(cfg.StatePath, storage.Options{SecretKey: cfg.SecretKey, Logger: logger})
	if err != nil {
		return fmt.Errorf("open state %s: %w", cfg.StatePath, err)
	}
	defer store.Close()
	if !store.SecretsPersistent() {
		logger.Warn("OH_SECRET_KEY is not set: secrets are kept in memory only and are lost when the server stops")
	}
	if len(cfg.APIKeys) == 0 {
		logger.Warn("no session API key is set (SESSION_API_KEY or OH_SESSION_API_KEYS_0): the API is open to any program that can reach it; web pages are kept out by Host and Origin checks")
		if slices.Contains(cfg.CORSOrigins, "*") || slices.Contains(cfg.AllowedHosts, "*") {
			logger.Warn("no session API key and a \"*\" in OH_ALLOW_CORS_ORIGINS or GOHANDS_ALLOWED_HOSTS: web pages of other sites can drive this server")
		}
	}
	reg := metrics.New()

	specs, err := webhook.SpecsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if len(cfg.Webhooks) > 0 && string(cfg.Webhooks) != "null" {
		var fromFile []webhook.Spec
		if err := json.Unmarshal(cfg.Webhooks, &fromFile); err != nil {
			return fmt.Errorf("config file: webhooks: %w", err)
		}
		specs = append(specs, fromFile...)
	}
	webhooks := webhook.New(specs, webhook.Options{Logger: logger})
	var hooks []security.Hook
	if cfg.HooksFile != "" {
		if hooks, err = security.LoadHooks(cfg.HooksFile); err != nil {
			return err
		}
		logger.Info("action hooks loaded", "file", cfg.HooksFile, "hooks", len(hooks))
	}

	engine, sandboxes, err := startSandboxes(ctx, cfg, store.ServerID(), logger, func(c sandbox.StatusChange) {
		if m := convs.Load(); m != nil {
			m.OnSandboxStatus(c)
		}
	})
	if err != nil {
		return err
	}
	reg.SandboxesRunning(sandboxes.Running)
	defer engine.Close()
	defer func() {
		closing, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sandboxes.Close(closing); err != nil {
			logger.Warn("closing the sandbox manager", "err", err)
		}
	}()

	image := cfg.Sandbox.Image
	if image == "" {
		image = sandbox.DefaultImage
	}
	manager, err := session.New(session.Options{
		Store: store, Sandboxes: sandboxes,
		Defaults: session.Defaults{
			LLM:             session.LLM{Model: cfg.LLM.Model, APIKey: cfg.LLM.APIKey, BaseURL: cfg.LLM.BaseURL},
			AllowedBaseURLs: cfg.LLM.AllowedBaseURLs,
			Image:           image,
		},
		MaxLive: cfg.MaxConversations, IdleTimeout: cfg.ConversationIdle,
		SecretLimits: session.SecretLimits{Count: cfg.Secrets.MaxPerConversation,
			ValueBytes: int(cfg.Secrets.MaxValueBytes), TotalBytes: int(cfg.Secrets.MaxTotalBytes)},
		Loop:               controller.New(controller.Options{Logger: logger, Hooks: hooks}),
		AllowHostCommands:  cfg.AllowHostCommands,
		BashOutputMaxBytes: int(cfg.BashOutputMaxBytes),
		Webhooks:           webhooks, Meter: reg, Logger: logger,
	})
	if err != nil {
		return err
	}
	convs.Store(manager)
	later, stopLater := context.WithCancel(ctx)
	var laterDone sync.WaitGroup
	defer laterDone.Wait()
	defer stopLater()
	if !readopt(ctx, store, sandboxes, logger) {
		laterDone.Go(func() { readoptLater(later, store, sandboxes, logger) })
	}
	if n, err := manager.Resume(ctx); err != nil {
		logger.Error("resuming conversations", "err", err)
	} else if n > 0 {
		logger.Info("conversations resumed", "count", n)
	}

	srv := server.New(server.Config{
		Logger: logger, Conversations: manager, APIKeys: cfg.APIKeys, CORSOrigins: cfg.CORSOrigins,
		AllowedHosts: allowedHosts(cfg), ReadTimeout: cfg.HTTP.ReadTimeout,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxUploadBytes: cfg.MaxUploadBytes, AllowedUploadTypes: cfg.AllowedUploadTypes,
		Metrics: reg, OpenAPI: apidoc.OpenAPI(), Docs: apidoc.Handler("/docs"),
		Web: frontend.Handler(),
		Ready: func(ctx context.Context) error {
			if _, err := engine.Ping(ctx); err != nil {
				return fmt.Errorf("docker engine: %w", err)
			}
			return nil
		},
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		manager.Close(context.Background())
		return err
	}
	hs := httpServer(cfg.HTTP, srv)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	addr := "http://" + ln.Addr().String()
	logger.Info("gohands serving", "addr", addr, "version", server.Version, "state", cfg.StatePath,
		"server_id", store.ServerID(), "sandbox_image", image)
	if listening != nil {
		listening <- ln.Addr().String()
	}

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("http shutdown", "err", err)
	}
	if err := manager.Close(shutdown); err != nil {
		logger.Warn("closing conversations", "err", err)
	}
	if err := webhooks.Close(shutdown); err != nil {
		logger.Warn("flushing webhooks", "err", err)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// httpServer makes the HTTP server with the timeouts of the settings. It
// has no ReadTimeout (the server package bounds each body itself, so that
// uploads may take long, see server.Config.ReadTimeout) and no
// WriteTimeout: a download, or a command run with a long timeout, takes as
// long as it takes. Neither timeout reaches a socket: its connection is
// taken over once its headers are read.
func httpServer(c HTTPConfig, h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: c.IdleTimeout}
}

// allowedHosts are the Host names the server answers to without a key
// (besides localhost and its own addresses): the setting's, and the
// listen address's unless it is every address.
func allowedHosts(cfg Config) []string {
	hosts := slices.Clone(cfg.AllowedHosts)
	if ip := net.ParseIP(cfg.Host); cfg.Host != "" && (ip == nil || !ip.IsUnspecified()) {
		hosts = append(hosts, cfg.Host)
	}
	return hosts
}

// startSandboxes connects to the engine and makes the sandbox manager. An
// engine that does not answer yet is not fatal: the API comes up, and
// sandbox work fails with a clear error until the engine is back.
func startSandboxes(ctx context.Context, cfg Config, serverID string, logger *slog.Logger, onStatus func(sandbox.StatusChange)) (client.APIClient, *sandbox.Manager, error) {
	engine, err := sandbox.Connect(ctx)
	if err != nil {
		logger.Error("the Docker engine does not answer; conversations cannot start sandboxes until it does", "err", err)
		engine, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, nil, fmt.Errorf("docker client: %w", err)
		}
	}
	agent, err := agentBinary(cfg.Sandbox.AgentBinary)
	if err != nil {
		engine.Close()
		return nil, nil, err
	}
	s := cfg.Sandbox
	opts := sandbox.DefaultOptions()
	opts.ServerID = serverID
	opts.AgentBinary = agent
	if s.Image != "" {
		opts.Image = s.Image
	}
	opts.UserID, opts.GroupID = s.UserID, s.GroupID
	opts.Mounts = s.Volumes
	opts.Env = s.Env
	opts.Limits = sandbox.Limits{Memory: s.Memory, NanoCPUs: int64(s.CPUs * 1e9), PidsLimit: s.PidsLimit, Network: s.Network}
	opts.Transport, opts.Inject, opts.RunDir = s.Transport, s.Inject, s.RunDir
	opts.IdleTimeout, opts.PoolSize = s.IdleTimeout, s.PoolSize
	opts.OnStatus = onStatus
	m, err := sandbox.New(engine, opts, logger)
	if err != nil {
		engine.Close()
		return nil, nil, err
	}
	return engine, m, nil
}

// agentBinary finds the runtime-agent: the configured path, or the file
// next to the server's own executable, or bin/runtime-agent under the
// working directory (make run).
func agentBinary(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("runtime-agent binary (GOHANDS_AGENT_BINARY): %w", err)
		}
		return configured, nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "runtime-agent")
		tried = append(tried, p)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, _ := filepath.Abs(filepath.Join("bin", "runtime-agent"))
	tried = append(tried, p)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("runtime-agent binary not found (looked at %s): build it with `make build` or set GOHANDS_AGENT_BINARY", strings.Join(tried, ", "))
}

// readopt takes over the sandboxes of stored conversations that still run
// and removes this server's containers that no conversation owns. It
// reports false when the engine did not answer, so that it was not all done.
func readopt(ctx context.Context, store *storage.Store, sandboxes *sandbox.Manager, logger *slog.Logger) bool {
	recs, err := store.Sandboxes()
	if err != nil {
		logger.Error("reading sandbox records", "err", err)
		return true
	}
	live := make([]sandbox.Record, 0, len(recs))
	for _, r := range recs {
		live = append(live, sandbox.Record{ConversationID: r.ConversationID, ContainerID: r.ContainerID, Token: r.Token})
	}
	adopted, err := sandboxes.Reconcile(ctx, live)
	if errors.Is(err, sandbox.ErrEngineDown) {
		return false // tried again later: Reconcile skips what it already holds
	}
	if err != nil {
		logger.Warn("re-adopting sandboxes", "err", err)
	}
	if len(adopted) > 0 || len(live) > 0 {
		logger.Info("sandboxes re-adopted", "adopted", len(adopted), "recorded", len(live))
	}
	return true
}

// readoptLater tries readopt again, less and less often, until the engine
// answers or ctx ends: containers no conversation owns are removed when
// the engine comes back rather than at the next restart. Conversations
// do not wait for it: each takes over its own recorded sandbox on first use.
func readoptLater(ctx context.Context, store *storage.Store, sandboxes *sandbox.Manager, logger *slog.Logger) {
	logger.Warn("the engine did not answer: sandboxes will be re-adopted and orphans removed once it does")
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if readopt(ctx, store, sandboxes, logger) {
			return
		}
		wait = min(2*wait, reconcileRetryMax)
	}
}

// reconcileRetryMax bounds the wait between two tries of readoptLater.
const reconcileRetryMax = 15 * time.Second
