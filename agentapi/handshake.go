package agentapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The handshake runs on every new connection before the client sends the
// token on it. The client sends a fresh random nonce; the agent answers
// HMAC-SHA256(token, label || nonce || binding), where the binding names
// the endpoint the agent listens on. The client computes the same with
// the endpoint it dialled and, when they differ, closes the connection:
// its peer either lacks the token (a listener put where the agent's
// socket was, or something else entirely, such as the Docker daemon) or
// listens elsewhere than the agent (a relay in front of the real agent).
// Either way the peer saw a nonce and nothing else.
//
// The handshake is an ordinary HTTP request (POST /handshake) on the new
// connection, so the agent speaks a single protocol and tools such as curl
// still reach /health.
const (
	// HandshakePath is the handshake's route.
	HandshakePath = "/handshake"
	// NonceSize is the size of the client's nonce, in bytes.
	NonceSize      = 32
	handshakeLabel = "gohands-agent-handshake-v1\x00"
	// maxHandshakeAnswer bounds what the client reads of a peer's answer.
	maxHandshakeAnswer = 16 << 10
	// DefaultHandshakeTimeout bounds a handshake, so a listener that
	// accepts and never answers cannot hold a caller.
	DefaultHandshakeTimeout = 5 * time.Second
)

// TCPBinding is the binding of an agent serving on TCP. The agent cannot
// know the host port the engine publishes it on, so over TCP the handshake
// proves only that the peer holds the token; nothing in a sandbox can take
// the agent's port while the agent lives.
const TCPBinding = "tcp"

// ErrUnverified is wrapped by the error of a call whose new connection
// reached something that is not the sandbox's agent, or not at the
// endpoint dialled: a symlink or another file where the socket should be,
// a peer that does not answer the handshake, or one that answers it
// wrongly. Nothing secret was sent to it.
var ErrUnverified = errors.New("agent socket failed verification")

// UnixBinding is the binding of an agent listening on the Unix socket file
// with device dev and inode ino.
func UnixBinding(dev, ino uint64) string {
	return "unix:" + strconv.FormatUint(dev, 10) + ":" + strconv.FormatUint(ino, 10)
}

// SocketBinding returns the binding of the Unix socket file at path, which
// the agent calls right after it starts listening there.
func SocketBinding(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("socket binding: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("socket binding: %s is not a socket (%s)", path, fi.Mode().Type())
	}
	return UnixBinding(uint64(st.Dev), st.Ino), nil
}

// HandshakeMAC is the agent's proof for nonce at binding. The nonce has a
// fixed size, so label, nonce and binding cannot be shifted into one
// another.
func HandshakeMAC(token string, nonce []byte, binding string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(handshakeLabel))
	m.Write(nonce)
	m.Write([]byte(binding))
	return m.Sum(nil)
}

// HandshakeRequest is the body of the client's POST /handshake.
type HandshakeRequest struct {
	Nonce string `json:"nonce"` // hex, NonceSize bytes
}

// HandshakeAnswer is the agent's answer to a handshake: HandshakeMAC of the
// nonce, in hex.
type HandshakeAnswer struct {
	MAC string `json:"mac"` // hex
}

// verify runs the client's side of the handshake on a new connection to
// an endpoint with the given binding. It returns an error wrapping
// ErrUnverified when the peer is not the agent there, ctx's error when ctx
// ends first, or another error when the connection failed.
func (c *Client) verify(ctx context.Context, conn net.Conn, binding string) error {
	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	deadline := time.Now().Add(c.handshakeTimeout)
	d, byCtx := ctx.Deadline()
	if byCtx = byCtx && d.Before(deadline); byCtx {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err := exchange(conn, nonce, HandshakeMAC(c.token, nonce, binding))
	if !stop() || ctx.Err() != nil {
		return fmt.Errorf("agent handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			if byCtx { // the caller's deadline, a moment before ctx says so
				return fmt.Errorf("agent handshake: %w", context.DeadlineExceeded)
			}
			return fmt.Errorf("%w: no answer to the handshake within %s", ErrUnverified, c.handshakeTimeout)
		}
		return err
	}
	conn.SetDeadline(time.Time{})
	return nil
}

// exchange sends the handshake request with nonce on conn and checks the
// answer against want.
func exchange(conn net.Conn, nonce, want []byte) error {
	body, _ := json.Marshal(HandshakeRequest{Nonce: hex.EncodeToString(nonce)})
	req, err := http.NewRequest(http.MethodPost, "http://agent"+HandshakePath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("agent handshake: %w", err)
	}
	br := bufio.NewReader(io.LimitReader(conn, maxHandshakeAnswer))
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			// As an agent that is just going away does.
			return fmt.Errorf("agent handshake: connection closed before an answer: %w", err)
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return err
		}
		return fmt.Errorf("%w: the answer to the handshake is not HTTP: %v", ErrUnverified, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return err
		}
		return fmt.Errorf("%w: reading the answer to the handshake: %v", ErrUnverified, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the peer answered the handshake with %s (not a GoHands runtime-agent?)", ErrUnverified, resp.Status)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("%w: the peer sent more than its answer to the handshake", ErrUnverified)
	}
	var ans HandshakeAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return fmt.Errorf("%w: bad answer to the handshake: %v", ErrUnverified, err)
	}
	got, err := hex.DecodeString(ans.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("%w: wrong proof in the answer to the handshake (the peer lacks the sandbox's token or does not listen where it was dialled)", ErrUnverified)
	}
	return nil
}
