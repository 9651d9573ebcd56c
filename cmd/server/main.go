// Command gohands is the GoHands session server.
//
//	gohands --host 0.0.0.0 --port 3000 --state ./state/gohands.db
//
// Settings come from flags, then the environment, then the JSON file named
// by OPENHANDS_AGENT_SERVER_CONFIG_PATH; see the README's table.
package main

import (
	"cmp"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/client"
	corev1 "k8s.io/api/core/v1"

	"github.com/gohands/gohands/apidoc"
	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/controller"
	"github.com/gohands/gohands/frontend"
	"github.com/gohands/gohands/metrics"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/kube"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
	"github.com/gohands/gohands/skills"
	"github.com/gohands/gohands/storage"
	"github.com/gohands/gohands/tools"
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
	logger = maskedLogger(logger, &convs)
	store, err := openStore(cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	checkpoints, err := checkpoint.Open(checkpointDir(cfg), checkpoint.Options{
		MaxCount: cfg.Checkpoints.MaxCount, MaxBytes: cfg.Checkpoints.MaxBytes, Logger: logger})
	if err != nil {
		return err
	}
	defer checkpoints.Close()
	reg := metrics.New()
	reg.CheckpointUsage(checkpoints.Usage)
	webhooks, hooks, err := loadHooks(cfg, logger)
	if err != nil {
		return err
	}
	serverSkills, err := loadSkills(cfg, logger)
	if err != nil {
		return err
	}
	sandboxes, closeEngine, err := startSandboxes(ctx, cfg, store.ServerID(), logger)
	if err != nil {
		return err
	}
	reg.SandboxesRunning(sandboxes.Running)
	defer closeEngine()
	defer closeSandboxes(sandboxes, logger)
	opts := sessionOptions(cfg, store, sandboxes, webhooks, hooks, serverSkills, reg, logger)
	opts.Checkpoints = checkpoints
	manager, err := session.New(opts)
	if err != nil {
		return err
	}
	reg.WorkspaceSandboxes(manager.WorkspaceSandboxes)
	reg.LiveSandboxes(manager.LiveSandboxes)
	reg.BrowserMemory(manager.BrowserMemory)
	convs.Store(manager)
	// Forks a killed server left half made go first: their sandboxes are
	// then orphans, which Restore removes.
	if _, err := manager.RemovePendingForks(ctx); err != nil {
		logger.Error("removing half-made forks", "err", err)
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
		Web: frontend.Handler(), Ready: sandboxes.Ready, Recovering: manager.Recovering, ServerSkills: serverSkills,
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		manager.Close(context.Background())
		return err
	}
	hs := httpServer(cfg.HTTP, srv)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The sandboxes of the last run are taken over in the background,
	// while the server answers: reads need none, and a conversation used
	// before its turn recovers its own at once.
	manager.StartRestore()
	logger.Info("gohands serving", "addr", "http://"+ln.Addr().String(), "version", server.Version, "state", cfg.StatePath,
		"server_id", store.ServerID(), "sandbox_image", cmp.Or(cfg.Sandbox.Image, sandbox.DefaultImage))
	if listening != nil {
		listening <- ln.Addr().String()
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down")
	}
	shutdown(srv, hs, manager, webhooks, logger)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// maskedLogger wraps logger so that no line shows a conversation's
// secrets, with the maskers of the conversation manager convs will hold.
func maskedLogger(logger *slog.Logger, convs *atomic.Pointer[session.ConversationManager]) *slog.Logger {
	return slog.New(security.ScopedMaskHandler(logger.Handler(), func() *security.Masker {
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
}

// openStore opens the state and warns about settings that leave it, or
// the API, open.
func openStore(cfg Config, logger *slog.Logger) (*storage.Store, error) {
	store, err := storage.Open(cfg.StatePath, storage.Options{SecretKey: cfg.SecretKey, Logger: logger, ActionTexts: tools.Texts})
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", cfg.StatePath, err)
	}
	if !store.SecretsPersistent() {
		logger.Warn("OH_SECRET_KEY is not set: secrets are kept in memory only and are lost when the server stops")
	}
	if len(cfg.APIKeys) == 0 {
		logger.Warn("no session API key is set (SESSION_API_KEY or OH_SESSION_API_KEYS_0): the API is open to any program that can reach it; web pages are kept out by Host and Origin checks")
		if slices.Contains(cfg.CORSOrigins, "*") || slices.Contains(cfg.AllowedHosts, "*") {
			logger.Warn("no session API key and a \"*\" in OH_ALLOW_CORS_ORIGINS or GOHANDS_ALLOWED_HOSTS: web pages of other sites can drive this server")
		}
	}
	return store, nil
}

// checkpointDir is the folder of the checkpoint store: checkpoints/ beside
// the state file.
func checkpointDir(cfg Config) string {
	return filepath.Join(filepath.Dir(cfg.StatePath), "checkpoints")
}

// loadHooks makes the webhook dispatcher (from the environment and the
// config file) and loads the action hooks file.
func loadHooks(cfg Config, logger *slog.Logger) (*webhook.Dispatcher, []security.Hook, error) {
	specs, err := webhook.SpecsFromEnv(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.Webhooks) > 0 && string(cfg.Webhooks) != "null" {
		var fromFile []webhook.Spec
		if err := json.Unmarshal(cfg.Webhooks, &fromFile); err != nil {
			return nil, nil, fmt.Errorf("config file: webhooks: %w", err)
		}
		specs = append(specs, fromFile...)
	}
	var hooks []security.Hook
	if cfg.HooksFile != "" {
		if hooks, err = security.LoadHooks(cfg.HooksFile); err != nil {
			return nil, nil, err
		}
		logger.Info("action hooks loaded", "file", cfg.HooksFile, "hooks", len(hooks))
	}
	return webhook.New(specs, webhook.Options{Logger: logger}), hooks, nil
}

// loadSkills reads the server's skills folder, if it has one. A folder
// that cannot be read stops the start; a skill that cannot be parsed is
// logged and left out.
func loadSkills(cfg Config, logger *slog.Logger) ([]skills.Skill, error) {
	if cfg.SkillsDir == "" {
		return nil, nil
	}
	list, problems, err := skills.LoadDir(cfg.SkillsDir)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		logger.Warn("skill not loaded", "problem", p)
	}
	logger.Info("skills loaded", "dir", cfg.SkillsDir, "skills", len(list))
	return list, nil
}

// sessionOptions wires the conversation manager. One idle clock covers a
// conversation and its sandbox: SANDBOX_IDLE_TIMEOUT stops the sandbox of
// a conversation idle that long, GOHANDS_CONVERSATION_IDLE drops the
// conversation from memory (its sandbox stopped first).
func sessionOptions(cfg Config, store *storage.Store, sandboxes sandbox.Backend, webhooks *webhook.Dispatcher,
	hooks []security.Hook, serverSkills []skills.Skill, reg *metrics.Registry, logger *slog.Logger) session.Options {
	return session.Options{
		Store: store, Sandboxes: sandboxes,
		Defaults: session.Defaults{
			LLM:             session.LLM{Model: cfg.LLM.Model, APIKey: cfg.LLM.APIKey, BaseURL: cfg.LLM.BaseURL},
			AllowedBaseURLs: cfg.LLM.AllowedBaseURLs,
			Image:           cmp.Or(cfg.Sandbox.Image, sandbox.DefaultImage),
		},
		MaxLive: cfg.MaxLiveSandboxes, StartQueue: cfg.StartQueueLength, StartWait: cfg.StartQueueWait,
		IdleTimeout: cfg.Sandbox.IdleTimeout, EvictAfter: cfg.ConversationIdle,
		SecretLimits: session.SecretLimits{Count: cfg.Secrets.MaxPerConversation,
			ValueBytes: int(cfg.Secrets.MaxValueBytes), TotalBytes: int(cfg.Secrets.MaxTotalBytes)},
		Loop:               controller.New(controller.Options{Logger: logger, Hooks: hooks, ServerSkills: serverSkills}),
		AllowHostCommands:  cfg.AllowHostCommands,
		BashOutputMaxBytes: int(cfg.BashOutputMaxBytes),
		HostRoots:          cfg.WorkspaceRoots,
		CheckpointsDefault: cfg.Checkpoints.On,
		MaxForks:           cfg.MaxForks,
		ForkTreesDir:       filepath.Join(filepath.Dir(cfg.StatePath), "fork-trees"),
		MCPServers:         cfg.MCPServers, MCPRemoteDirect: cfg.MCPRemoteDirect,
		Browser:  browserOptions(cfg.Browser),
		Webhooks: webhooks, Meter: reg, Logger: logger,
	}
}

// browserOptions are the conversations' browser settings: an idle timeout
// of 0 means never.
func browserOptions(c BrowserConfig) session.BrowserOptions {
	o := session.BrowserOptions{IdleTimeout: c.IdleTimeout, LoadTimeout: c.LoadTimeout}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = -1
	}
	return o
}

// shutdown stops serving, closes the conversations and flushes webhooks.
func shutdown(srv *server.Server, hs *http.Server, manager *session.ConversationManager, webhooks *webhook.Dispatcher, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown()
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("http shutdown", "err", err)
	}
	if err := manager.Close(ctx); err != nil {
		logger.Warn("closing conversations", "err", err)
	}
	if err := webhooks.Close(ctx); err != nil {
		logger.Warn("flushing webhooks", "err", err)
	}
}

// closeSandboxes stops the sandbox backend's background work; the
// conversations' sandboxes keep running, for the next server.
func closeSandboxes(sandboxes sandbox.Backend, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sandboxes.Close(ctx); err != nil {
		logger.Warn("closing the sandbox manager", "err", err)
	}
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

// startSandboxes makes the sandbox backend the settings name, and returns
// it with what closes its engine client.
func startSandboxes(ctx context.Context, cfg Config, serverID string, logger *slog.Logger) (sandbox.Backend, func(), error) {
	if cfg.Sandbox.Backend == BackendKubernetes {
		m, err := startKube(ctx, cfg, serverID, logger)
		if err != nil {
			return nil, nil, err
		}
		return m, func() {}, nil
	}
	engine, m, err := startDocker(ctx, cfg, serverID, logger)
	if err != nil {
		return nil, nil, err
	}
	return m, func() { engine.Close() }, nil
}

// startKube connects to the Kubernetes API server and makes the
// Kubernetes backend. Unlike the Docker engine, an API server that does
// not answer, or refuses the server's account, stops the start: the
// server may be deployed before its Role, and should say so at once.
func startKube(ctx context.Context, cfg Config, serverID string, logger *slog.Logger) (*kube.Manager, error) {
	s := cfg.Sandbox
	cs, rc, err := kube.Connect(s.Kube.Kubeconfig)
	if err != nil {
		return nil, err
	}
	opts := kube.DefaultOptions()
	opts.ServerID = serverID
	if s.Image != "" {
		opts.Image = s.Image
	}
	opts.Namespace = cmp.Or(s.Kube.Namespace, opts.Namespace)
	opts.AgentImage = cmp.Or(s.Kube.AgentImage, opts.AgentImage)
	opts.PullPolicy = corev1.PullPolicy(cmp.Or(s.Kube.PullPolicy, string(opts.PullPolicy)))
	opts.Transport = cmp.Or(s.Kube.Transport, opts.Transport)
	opts.StorageClass, opts.RuntimeClass = s.Kube.StorageClass, s.Kube.RuntimeClass
	opts.ImagesWithAgent = s.Kube.ImagesWithAgent
	opts.UserID, opts.GroupID = s.UserID, s.GroupID
	opts.Env = s.Env
	opts.Limits = sandbox.Limits{Memory: s.Memory, NanoCPUs: int64(s.CPUs * 1e9), PidsLimit: s.PidsLimit, Network: s.Network}
	opts.PoolSize = s.PoolSize
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return kube.New(sctx, cs, rc, opts, logger)
}

// startDocker connects to the Docker engine and makes the sandbox
// backend. An engine that does not answer yet is not fatal: the API comes
// up, and sandbox work fails with a clear error until the engine is back.
func startDocker(ctx context.Context, cfg Config, serverID string, logger *slog.Logger) (client.APIClient, *docker.Manager, error) {
	engine, err := docker.Connect(ctx)
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
	opts := docker.DefaultOptions()
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
	opts.PoolSize = s.PoolSize
	opts.ForkPoolSize = s.ForkPoolSize
	opts.SlotDir = filepath.Join(filepath.Dir(cfg.StatePath), "fork-slots")
	opts.Browser = docker.BrowserOptions{Image: cfg.Browser.Image, Memory: cfg.Browser.Memory, PidsLimit: cfg.Browser.PidsLimit}
	m, err := docker.New(engine, opts, logger)
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
