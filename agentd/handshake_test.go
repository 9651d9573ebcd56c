package agentd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// recorder keeps every byte its listener's peers sent, to check that no
// token reached it.
type recorder struct {
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got.String()
}

// serve accepts on ln and hands each connection to h, until the test
// ends: then it closes the listener and the connections and waits for
// the handlers.
func serve(t *testing.T, ln net.Listener, h func(net.Conn)) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				h(c)
			})
		}
	})
}

// agentOn serves a real agent with token and binding on ln.
func agentOn(t *testing.T, ln net.Listener, token, binding string) {
	t.Helper()
	srv, err := NewServer(Config{Token: token, Binding: binding, WorkDir: t.TempDir(), UID: -1, GID: -1, OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Close() })
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestHandshakeTCP: a peer that is not the agent holding this token is
// refused before any request, and never sees the token.
func TestHandshakeTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(t *testing.T, ln net.Listener, rec *recorder)
		want  string
	}{
		{"another HTTP server (the Docker daemon)", func(t *testing.T, ln net.Listener, rec *recorder) {
			hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Header.Write(rec)
				io.Copy(rec, r.Body)
				http.NotFound(w, r)
			})}}
			hs.Start()
			t.Cleanup(hs.Close)
		}, "404"},
		{"an agent with another token", func(t *testing.T, ln net.Listener, rec *recorder) {
			agentOn(t, ln, "other-token", agentapi.TCPBinding)
		}, "wrong proof"},
		{"an agent bound elsewhere", func(t *testing.T, ln net.Listener, rec *recorder) {
			agentOn(t, ln, testToken, agentapi.UnixBinding(1, 2))
		}, "wrong proof"},
		{"not HTTP", func(t *testing.T, ln net.Listener, rec *recorder) {
			serve(t, ln, func(c net.Conn) {
				io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n")
				io.Copy(rec, c)
			})
		}, "not HTTP"},
		{"a fake that answers 200", func(t *testing.T, ln net.Listener, rec *recorder) {
			hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Header.Write(rec)
				io.WriteString(w, `{"mac":"00112233"}`)
			})}}
			hs.Start()
			t.Cleanup(hs.Close)
		}, "wrong proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln := listenTCP(t)
			var rec recorder
			tt.start(t, ln, &rec)
			var hooked []error
			var mu sync.Mutex
			c := agentapi.NewClient("http://"+ln.Addr().String(), testToken, agentapi.OnUnverified(func(err error) {
				mu.Lock()
				hooked = append(hooked, err)
				mu.Unlock()
			}))
			_, err := c.Exec(ctx(t), agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "true"})
			if !errors.Is(err, agentapi.ErrUnverified) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exec: err = %v, want agentapi.ErrUnverified saying %q", err, tt.want)
			}
			if err := c.Health(ctx(t)); !errors.Is(err, agentapi.ErrUnverified) {
				t.Errorf("health: err = %v, want ErrUnverified", err)
			}
			if got := rec.String(); strings.Contains(got, testToken) {
				t.Errorf("the peer received the token:\n%s", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hooked) != 2 {
				t.Errorf("OnUnverified called %d times, want 2 (one per failed connection)", len(hooked))
			}
		})
	}
}

// TestHandshakeTimeout: a peer that accepts and never answers holds a
// call for the handshake timeout only.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	var rec recorder
	serve(t, ln, func(c net.Conn) { io.Copy(&rec, c) })
	c := agentapi.NewClient("http://"+ln.Addr().String(), testToken, agentapi.WithHandshakeTimeout(100*time.Millisecond))
	err := c.Health(ctx(t))
	if !errors.Is(err, agentapi.ErrUnverified) || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("silent peer: err = %v, want agentapi.ErrUnverified, no answer", err)
	}
	if got := rec.String(); strings.Contains(got, testToken) {
		t.Errorf("the peer received the token:\n%s", got)
	}
}

// TestHandshakeUnixSocket replays on a real agent the ways a sandbox can
// move its socket: the client reaches the agent only on the socket file
// the agent made, and sends the token nowhere else.
func TestHandshakeUnixSocket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// attack rearranges dir, where the agent listens on agent.sock;
		// what the peer it sets up received goes to rec.
		attack func(t *testing.T, dir string, rec *recorder)
		want   string // "" when the call must succeed
	}{
		{"untouched", func(t *testing.T, dir string, rec *recorder) {}, ""},
		{"a hard link to the agent's socket", func(t *testing.T, dir string, rec *recorder) {
			mustRename(t, filepath.Join(dir, "agent.sock"), filepath.Join(dir, "real.sock"))
			if err := os.Link(filepath.Join(dir, "real.sock"), filepath.Join(dir, "agent.sock")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"a symlink to a host socket", func(t *testing.T, dir string, rec *recorder) {
			host := filepath.Join(t.TempDir(), "host.sock")
			ln := listenUnix(t, host)
			serve(t, ln, func(c net.Conn) { io.Copy(rec, c) })
			mustRemove(t, filepath.Join(dir, "agent.sock"))
			if err := os.Symlink(host, filepath.Join(dir, "agent.sock")); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"a symlink to the agent's own socket", func(t *testing.T, dir string, rec *recorder) {
			mustRename(t, filepath.Join(dir, "agent.sock"), filepath.Join(dir, "real.sock"))
			if err := os.Symlink("real.sock", filepath.Join(dir, "agent.sock")); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"a regular file", func(t *testing.T, dir string, rec *recorder) {
			mustRemove(t, filepath.Join(dir, "agent.sock"))
			if err := os.WriteFile(filepath.Join(dir, "agent.sock"), nil, 0o666); err != nil {
				t.Fatal(err)
			}
		}, "is a regular file"},
		{"an impostor renamed into place", func(t *testing.T, dir string, rec *recorder) {
			ln := listenUnix(t, filepath.Join(dir, "fake.sock"))
			serve(t, ln, func(c net.Conn) {
				br := bufio.NewReader(io.TeeReader(c, rec))
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"mac\":\"00\"}")
				}
			})
			mustRename(t, filepath.Join(dir, "fake.sock"), filepath.Join(dir, "agent.sock"))
		}, "wrong proof"},
		{"a relay in front of the agent", func(t *testing.T, dir string, rec *recorder) {
			real := filepath.Join(dir, "real.sock")
			mustRename(t, filepath.Join(dir, "agent.sock"), real)
			ln := listenUnix(t, filepath.Join(dir, "relay.sock"))
			serve(t, ln, func(c net.Conn) {
				up, err := net.Dial("unix", real)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(c, up)
				io.Copy(up, io.TeeReader(c, rec))
			})
			mustRename(t, filepath.Join(dir, "relay.sock"), filepath.Join(dir, "agent.sock"))
		}, "wrong proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sock := filepath.Join(dir, "agent.sock")
			ln := listenUnix(t, sock)
			binding, err := agentapi.SocketBinding(sock)
			if err != nil {
				t.Fatal(err)
			}
			agentOn(t, ln, testToken, binding)
			var rec recorder
			tt.attack(t, dir, &rec)
			c := agentapi.NewUnixClient(sock, testToken)
			_, err = c.Exec(ctx(t), agentapi.DefaultTerminal, agentapi.ExecRequest{Command: "echo ok"})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("exec: %v", err)
			case tt.want != "" && (!errors.Is(err, agentapi.ErrUnverified) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("exec: err = %v, want agentapi.ErrUnverified saying %q", err, tt.want)
			}
			if got := rec.String(); strings.Contains(got, testToken) {
				t.Errorf("the peer received the token:\n%s", got)
			}
		})
	}
}

// TestHandshakeRoute: the agent answers only well-formed nonces.
func TestHandshakeRoute(t *testing.T) {
	t.Parallel()
	_, c := newTestServer(t)
	for _, body := range []string{`{"nonce":"00"}`, `{"nonce":"zz"}`, `{}`, `{"nonce":"` + strings.Repeat("ab", agentapi.NonceSize+1) + `"}`} {
		resp, err := http.Post(c.BaseURL()+agentapi.HandshakePath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("handshake %s: %s, want 422", body, resp.Status)
		}
	}
}

func listenUnix(t *testing.T, path string) net.Listener {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // the tests move the files
	return ln
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
