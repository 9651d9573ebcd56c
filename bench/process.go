package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// gohands is the real server binary, running in a process of its own on a
// free loopback port with a state file in a temporary folder.
type gohands struct {
	cmd  *exec.Cmd
	dir  string
	base string // http://127.0.0.1:port
	key  string
	// serverID is the id the server gives its sandboxes' label
	// gohands.server, from its "gohands serving" log line.
	serverID string
	log      *os.File
	done     chan error
}

// ensureBinaries builds the server (and the runtime-agent it needs next to
// it) when they are missing, as make build would.
func ensureBinaries(ctx context.Context, server string, progress io.Writer) error {
	agent := filepath.Join(filepath.Dir(server), "runtime-agent")
	builds := []struct {
		path string
		args []string
		env  []string
	}{
		{agent, []string{"build", "-trimpath", "-ldflags=-s -w", "-o", agent, "./cmd/runtime-agent"}, []string{"CGO_ENABLED=0"}},
		{server, []string{"build", "-o", server, "./cmd/server"}, nil},
	}
	for _, b := range builds {
		if _, err := os.Stat(b.path); err == nil {
			continue
		}
		fmt.Fprintf(progress, "  building %s: go %s\n", b.path, strings.Join(b.args, " "))
		cmd := exec.CommandContext(ctx, "go", b.args...)
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.path, err, out)
		}
	}
	return nil
}

// listenWait bounds the wait for a started server to listen: a server
// that takes its sandboxes over before it listens takes minutes with
// hundreds of them.
const listenWait = 10 * time.Minute

// startGohands starts the server on a new state file and waits until it
// listens.
func startGohands(ctx context.Context, bin string) (*gohands, error) {
	return startGohandsOn(ctx, bin, "")
}

// startGohandsOn starts the server on the state file at state ("": a new
// one in the server's temporary folder), with extraEnv added to its
// environment, and waits until it listens.
func startGohandsOn(ctx context.Context, bin, state string, extraEnv ...string) (*gohands, error) {
	return startGohandsWith(ctx, bin, state, extraEnv)
}

// startGohandsWith is startGohandsOn with more settings in the server's
// environment (NAME=value; a later one wins over an earlier one and over
// the defaults).
func startGohandsWith(ctx context.Context, bin, state string, extra []string) (_ *gohands, err error) {
	g := &gohands{done: make(chan error, 1)}
	if g.dir, err = os.MkdirTemp("", "gohands-bench-server-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(g.dir)
		}
	}()
	key := make([]byte, 16)
	rand.Read(key)
	g.key = hex.EncodeToString(key)
	if g.log, err = os.Create(filepath.Join(g.dir, "server.log")); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if state == "" {
		state = filepath.Join(g.dir, "state.db")
	}
	g.cmd = exec.Command(abs, "--host", "127.0.0.1", "--port", "0", "--state", state)
	// Only what the server needs: no settings of the caller's shell leak in.
	env := []string{"SESSION_API_KEY=" + g.key, "SANDBOX_POOL_SIZE=0", "GOHANDS_LOG_FORMAT=json",
		"OH_SECRET_KEY=" + g.key}
	for _, name := range []string{"PATH", "HOME", "DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	g.cmd.Env = append(env, extra...)
	g.cmd.Stdout = g.log
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", abs, err)
	}
	type serving struct{ addr, serverID string }
	addr := make(chan serving, 1)
	go func() {
		// Copy the log to the file, watching for the line that says
		// where the server listens.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			g.log.Write(append(line, '\n'))
			var rec struct {
				Msg      string `json:"msg"`
				Addr     string `json:"addr"`
				ServerID string `json:"server_id"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "gohands serving" {
				select {
				case addr <- serving{rec.Addr, rec.ServerID}:
				default:
				}
			}
		}
		g.done <- g.cmd.Wait()
	}()
	select {
	case a := <-addr:
		g.base, g.serverID = a.addr, a.serverID
		return g, nil
	case err := <-g.done:
		g.log.Close()
		return nil, fmt.Errorf("%s exited before listening (%v); its log:\n%s", abs, err, g.logTail())
	case <-time.After(listenWait):
		err = fmt.Errorf("not listening after %s", listenWait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.cmd.Process.Kill()
	<-g.done
	g.log.Close()
	return nil, fmt.Errorf("%s: %w; its log:\n%s", abs, err, g.logTail())
}

// logTail returns the end of the server's log.
func (g *gohands) logTail() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// call sends one request with the API key and decodes a JSON answer into
// out (when not nil).
func (g *gohands) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Session-API-Key", g.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// stop asks the server to shut down (SIGTERM), kills it if it has not
// after its grace period, and removes its folder.
func (g *gohands) stop() error {
	defer os.RemoveAll(g.dir)
	defer g.log.Close()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		return err
	case <-time.After(45 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		return errors.New("server did not stop within 45s of SIGTERM; killed")
	}
}
