// Command runtime-agent is the daemon GoHands runs as PID 1 in every sandbox:
// terminals and file operations over HTTP on TCP or a Unix socket.
//
//	runtime-agent --listen tcp://0.0.0.0:7000 --user-id 1000 --workdir /workspace
//
// The token comes from GOHANDS_AGENT_TOKEN. The agent re-executes itself
// at once without it in the environment (see takeToken), so no process in
// the sandbox can read it; commands never get it either.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/agentd"
	"github.com/gohands/gohands/agentd/files"
)

type config struct {
	listen    string
	uid, gid  int
	workdir   string
	outputDir string
	maxUpload int64
	tokenFD   int
	token     string
}

// reservedThreads is how many OS threads the agent starts ahead when it
// runs as PID 1; see agentd.ReserveThreads.
const reservedThreads = 24

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "tcp://0.0.0.0:7000", "where to serve: tcp://HOST:PORT or unix:///path.sock")
	flag.IntVar(&cfg.uid, "user-id", -1, "run commands as this uid (-1: as the agent)")
	flag.IntVar(&cfg.gid, "group-id", -1, "run commands with this gid (-1: same as --user-id)")
	flag.StringVar(&cfg.workdir, "workdir", "/workspace", "where terminals start (made if missing)")
	flag.StringVar(&cfg.outputDir, "output-dir", "/tmp/gohands", "where cut command output is kept")
	flag.Int64Var(&cfg.maxUpload, "max-upload", 1<<30, "largest upload in bytes")
	installTo := flag.String("install", "", "copy this binary to the given path and exit (a Kubernetes Pod's agent-install container's job)")
	stay := flag.Bool("stay", false, "with --install: stay asleep after the copy until SIGTERM or SIGINT, then exit 0 (so the Pod's containers all stay running)")
	flag.IntVar(&cfg.tokenFD, "token-fd", -1, "read the token from this file descriptor (the agent passes "+agentapi.TokenEnv+" to itself this way, and the Kubernetes launcher to the agent)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *installTo != "" {
		if err := install(*installTo); err != nil {
			logger.Error("runtime-agent", "err", err)
			os.Exit(1)
		}
		if *stay {
			waitForStop()
		}
		return
	}
	token, err := takeToken(os.Getenv(agentapi.TokenEnv), cfg.tokenFD)
	if err != nil {
		logger.Error("runtime-agent", "err", err)
		os.Exit(1)
	}
	cfg.token = token
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("runtime-agent", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	if cfg.token == "" {
		return fmt.Errorf("no token: set %s", agentapi.TokenEnv)
	}
	if os.Getpid() == 1 {
		go agentd.Reap(ctx)
		// Threads for later: a fork bomb in the sandbox must not leave the
		// agent unable to make one.
		agentd.ReserveThreads(reservedThreads)
	}
	env := os.Environ()
	if cfg.uid >= 0 {
		if cfg.gid < 0 {
			cfg.gid = cfg.uid
		}
		u, err := agentd.PrepareUser(cfg.uid, cfg.gid, cfg.workdir)
		if err != nil {
			return err
		}
		for _, k := range []string{"HOME", "USER", "LOGNAME"} {
			env = withoutKey(env, k)
		}
		env = append(env, "HOME="+u.Home, "USER="+u.Name, "LOGNAME="+u.Name)
	} else if err := os.MkdirAll(cfg.workdir, 0o755); err != nil {
		return fmt.Errorf("make workdir: %w", err)
	}
	env = withoutKey(env, agentapi.TokenEnv)

	var owner *files.Owner
	if cfg.uid >= 0 && os.Geteuid() == 0 && cfg.uid != 0 {
		owner = &files.Owner{UID: cfg.uid, GID: cfg.gid}
	}
	fsys, err := files.New(files.Config{Owner: owner, MaxUploadBytes: cfg.maxUpload, MaxWriteBytes: cfg.maxUpload})
	if err != nil {
		return err
	}
	ln, binding, err := listen(cfg.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	srv, err := agentd.NewServer(agentd.Config{
		Token:     cfg.token,
		Binding:   binding,
		WorkDir:   cfg.workdir,
		UID:       cfg.uid,
		GID:       cfg.gid,
		Env:       env,
		OutputDir: cfg.outputDir,
		Files:     fsys,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("runtime-agent serving", "listen", cfg.listen, "uid", cfg.uid, "workdir", cfg.workdir, "version", agentd.Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// listen listens at addr and returns the binding of the handshake there
// (see agentd.Config.Binding).
func listen(addr string) (net.Listener, string, error) {
	switch {
	case strings.HasPrefix(addr, "tcp://"):
		ln, err := net.Listen("tcp", strings.TrimPrefix(addr, "tcp://"))
		return ln, agentapi.TCPBinding, err
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, "", err
		}
		os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, "", err
		}
		// The server on the host reaches the socket through a bind mount
		// and may not run as root.
		os.Chmod(path, 0o666)
		// Nothing else runs in the sandbox yet: the file is the one just
		// made.
		binding, err := agentapi.SocketBinding(path)
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		return ln, binding, nil
	}
	return nil, "", fmt.Errorf("--listen %q: want tcp://HOST:PORT or unix:///path", addr)
}

func withoutKey(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
