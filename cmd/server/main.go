// Command gohands is the GoHands session server.
//
//	gohands --host 0.0.0.0 --port 3000
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
	"strconv"
	"syscall"
	"time"

	"github.com/gohands/gohands/server"
)

// config is every setting, after flags and environment are read.
type config struct {
	host string
	port int
}

func main() {
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("gohands", "err", err)
		os.Exit(1)
	}
}

// loadConfig reads flags, then the environment for what flags left unset.
// Precedence: flag > environment > default.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	cfg := config{host: "0.0.0.0", port: 3000}
	if v := getenv("HOST"); v != "" {
		cfg.host = v
	}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return cfg, fmt.Errorf("PORT=%q: want a port number", v)
		}
		cfg.port = p
	}
	fs := flag.NewFlagSet("gohands", flag.ContinueOnError)
	fs.StringVar(&cfg.host, "host", cfg.host, "address to listen on")
	fs.IntVar(&cfg.port, "port", cfg.port, "port to listen on")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	srv := server.New(server.Config{Logger: logger})
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("gohands serving", "addr", "http://"+ln.Addr().String(), "version", server.Version)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
