package agentapi

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAgent passes the handshake for token and answers every other
// request with the raw bytes of answer, whatever they are; it records the
// requests it got.
func fakeAgent(t *testing.T, token string, answer []byte) (*Client, *strings.Builder) {
	t.Helper()
	var mu sync.Mutex
	var seen strings.Builder
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen.WriteString(r.Method + " " + r.URL.String() + " " + r.Header.Get("Authorization") + "\n")
		mu.Unlock()
		if r.URL.Path == HandshakePath {
			var req HandshakeRequest
			json.NewDecoder(r.Body).Decode(&req)
			nonce, _ := hex.DecodeString(req.Nonce)
			json.NewEncoder(w).Encode(HandshakeAnswer{MAC: hex.EncodeToString(HandshakeMAC(token, nonce, TCPBinding))})
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		conn.Write(answer)
		time.Sleep(200 * time.Millisecond) // then the connection ends
	}))
	t.Cleanup(hs.Close)
	return NewClient(hs.URL, testToken), &seen
}

// TestUpgradeRefusesBadAnswers: what a hostile sandbox may answer an
// upgrade with is an error, read within bounds, never a stream.
func TestUpgradeRefusesBadAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, answer, want string
		status             int
	}{
		{"an error", "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"detail\":\"attached twice\"}", "attached twice", http.StatusConflict},
		{"a 200", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "not 101", 0},
		{"another protocol", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", `not "gohands-tcp"`, 0},
		{"an endless head", "HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + strings.Repeat("a", 2*maxUpgradeAnswer), "longer than", 0},
		{"an endless error", "HTTP/1.1 500 Oops\r\n\r\n" + strings.Repeat("x", 200<<10), strings.Repeat("x", 100), http.StatusInternalServerError},
		{"no HTTP", "SSH-2.0-OpenSSH_9.2\r\n", "malformed HTTP", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := fakeAgent(t, testToken, []byte(tt.answer))
			conn, err := c.Dial(ctx(t), "tcp", "example.com:443")
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if conn != nil {
				t.Errorf("a failed dial returned a non-nil conn %#v", conn)
			}
			if !strings.Contains(err.Error(), tt.want) || StatusOf(err) != tt.status {
				t.Errorf("err = %.300v, want status %d and %q", err, tt.status, tt.want)
			}
			if len(err.Error()) > 70<<10 {
				t.Errorf("the error holds %d bytes of the answer", len(err.Error()))
			}
		})
	}
}

// TestUpgradeVerifiesFirst: a stream's connection is verified by the
// handshake before the token goes over it, as every other call's.
func TestUpgradeVerifiesFirst(t *testing.T) {
	t.Parallel()
	c, seen := fakeAgent(t, "another-token", []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: gohands-stdio\r\n\r\n"))
	if _, err := c.AttachProcess(ctx(t), "p1"); !errors.Is(err, ErrUnverified) {
		t.Fatalf("attach: %v, want ErrUnverified", err)
	}
	if got := seen.String(); strings.Contains(got, testToken) || strings.Contains(got, "/processes") {
		t.Fatalf("an unverified peer got:\n%s", got)
	}
}

// TestUpgradeBoundedByContext: a peer that passes the handshake and then
// never answers holds the caller no longer than its context.
func TestUpgradeBoundedByContext(t *testing.T) {
	t.Parallel()
	c, _ := fakeAgent(t, testToken, nil)
	short, cancel := context.WithTimeout(ctx(t), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.AttachProcess(short, "p1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("attach: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("attach took %s", d)
	}
}

// TestUpgradeKeepsBufferedBytes: bytes the agent sent right behind its
// answer's head are the stream's first.
func TestUpgradeKeepsBufferedBytes(t *testing.T) {
	t.Parallel()
	c, _ := fakeAgent(t, testToken, []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: gohands-stdio\r\n\r\nfirst line\n"))
	s, err := c.AttachProcess(ctx(t), "p1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	line, err := bufio.NewReader(s).ReadString('\n')
	if err != nil || line != "first line\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// FuzzUpgradeAnswer feeds the client's reading of an upgrade answer what
// a peer may send: it must not panic, and it makes a stream of nothing but
// a 101 switching to the protocol asked for.
func FuzzUpgradeAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: gohands-stdio\r\n\r\nrest"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 409 Conflict\r\nContent-Length: 5\r\n\r\n{\"de"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		client, peer := net.Pipe()
		defer client.Close()
		go func() {
			defer peer.Close()
			if _, err := http.ReadRequest(bufio.NewReader(peer)); err == nil {
				peer.Write(answer)
			}
		}()
		client.SetDeadline(time.Now().Add(2 * time.Second))
		req, _ := http.NewRequest(http.MethodGet, "http://agent/processes/p1/stdio", nil)
		s, err := exchangeUpgrade(client, req, StdioProtocol)
		if err == nil && !strings.HasPrefix(string(answer), "HTTP/1.1 101") && !strings.HasPrefix(string(answer), "HTTP/1.0 101") {
			t.Fatalf("answer %q made a stream %v", answer, s)
		}
		if err != nil && s != nil {
			t.Fatal("a stream with an error")
		}
		if he, ok := errors.AsType[*HTTPError](err); ok && len(he.Detail) > 64<<10 {
			t.Fatalf("error detail of %d bytes", len(he.Detail))
		}
	})
}
