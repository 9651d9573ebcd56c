package agentapi

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "test-token"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestHandshakeCallerDeadline: when the caller's deadline comes before the
// handshake timeout, the handshake ends with it, and says so rather than
// blaming the peer.
func TestHandshakeCallerDeadline(t *testing.T) {
	t.Parallel()
	client, peer := net.Pipe()
	defer client.Close()
	defer peer.Close()
	go io.Copy(io.Discard, peer)
	c := &Client{token: testToken, handshakeTimeout: time.Hour}
	short, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	if err := c.verify(short, client, TCPBinding); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnverified) {
		t.Errorf("err = %v, want DeadlineExceeded only", err)
	}
}

// TestHandshakeNoSocketYet: before the agent listens, a call fails as any
// dial does, not as a failed verification (the sandbox is starting).
func TestHandshakeNoSocketYet(t *testing.T) {
	t.Parallel()
	c := NewUnixClient(filepath.Join(t.TempDir(), "agent.sock"), testToken)
	if err := c.Health(ctx(t)); err == nil || errors.Is(err, ErrUnverified) {
		t.Errorf("health without a socket: err = %v, want a dial error", err)
	}
}

// FuzzHandshakeAnswer feeds the client's side of the handshake whatever
// a peer may send: it must refuse it (a random answer cannot carry the
// proof) without panicking or reading past its bound.
func FuzzHandshakeAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"mac\":\"00\"}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mac\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		client, peer := net.Pipe()
		defer client.Close()
		go func() {
			defer peer.Close()
			if req, err := http.ReadRequest(bufio.NewReader(peer)); err == nil {
				io.Copy(io.Discard, req.Body)
			}
			peer.Write(answer)
		}()
		c := &Client{token: testToken, handshakeTimeout: time.Second}
		if err := c.verify(context.Background(), client, TCPBinding); err == nil {
			t.Fatalf("answer %q passed the handshake", answer)
		}
	})
}

// TestDialClient: a client over a caller's dial function runs the
// handshake on each new connection it opens, and refuses a peer that
// lacks the token.
func TestDialClient(t *testing.T) {
	t.Parallel()
	serve := func(token string) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST "+HandshakePath, func(w http.ResponseWriter, r *http.Request) {
			var req HandshakeRequest
			json.NewDecoder(r.Body).Decode(&req)
			nonce, _ := hex.DecodeString(req.Nonce)
			json.NewEncoder(w).Encode(HandshakeAnswer{MAC: hex.EncodeToString(HandshakeMAC(token, nonce, TCPBinding))})
		})
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
		go http.Serve(ln, mux)
		return ln, nil
	}
	good, err := serve(testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	var dials atomic.Int32
	dial := func(addr string) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}
	}
	c := NewDialClient(dial(good.Addr().String()), testToken)
	for range 3 {
		if err := c.Health(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for three calls, want one kept-alive connection", n)
	}
	bad, err := serve("another-token")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := NewDialClient(dial(bad.Addr().String()), testToken).Health(ctx(t)); !errors.Is(err, ErrUnverified) {
		t.Errorf("peer without the token: err = %v, want ErrUnverified", err)
	}
}
