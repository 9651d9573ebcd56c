package agentapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxUpgradeAnswer bounds the head of the agent's answer to an upgrade
// (status line and headers); an error answer's body is bounded by
// readError. A longer head comes from a broken or hostile sandbox.
const maxUpgradeAnswer = 64 << 10

// upgradeTimeout bounds the wait for the answer to an upgrade when the
// caller's context does not end sooner: the agent answers at once, or
// within its dial timeout (10 s) for GET /dial.
const upgradeTimeout = 30 * time.Second

// upgrade sends GET path with "Upgrade: protocol" on a new verified
// connection to the agent and, when the agent switches protocols, returns
// the connection as a raw stream. A connection upgraded is never pooled,
// so each stream has its own, verified by the handshake like every other
// before the token goes over it. ctx bounds the connecting; the stream
// outlives it. addr, when not nil, is the stream's RemoteAddr.
func (c *Client) upgrade(ctx context.Context, path, protocol string, addr net.Addr) (*stream, error) {
	fail := func(err error) (*stream, error) {
		return nil, fmt.Errorf("agent GET %s: %w", strings.SplitN(path, "?", 2)[0], err)
	}
	base, err := url.Parse(c.base)
	if err != nil {
		return fail(err)
	}
	host := base.Host
	if base.Port() == "" {
		host = net.JoinHostPort(base.Hostname(), "80")
	}
	conn, err := c.dialVerified(ctx, "tcp", host)
	if err != nil {
		return fail(err)
	}
	s, err := c.switchProtocols(ctx, conn, base.Host, path, protocol)
	if err != nil {
		conn.Close()
		var he *HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return fail(err)
	}
	s.remote = addr
	return s, nil
}

// switchProtocols makes the upgrade request on conn and reads the answer.
// A non-101 answer becomes an *HTTPError.
func (c *Client) switchProtocols(ctx context.Context, conn net.Conn, host, path, protocol string) (*stream, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", protocol)
	deadline := time.Now().Add(upgradeTimeout)
	d, byCtx := ctx.Deadline()
	if byCtx = byCtx && d.Before(deadline); byCtx {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	s, err := exchangeUpgrade(conn, req, protocol)
	if !stop() || ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			if byCtx { // the caller's deadline, a moment before ctx says so
				return nil, fmt.Errorf("read answer: %w", context.DeadlineExceeded)
			}
			return nil, fmt.Errorf("no answer within %s", upgradeTimeout)
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

func exchangeUpgrade(conn net.Conn, req *http.Request, protocol string) (*stream, error) {
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	// The head of the answer is read within maxUpgradeAnswer bytes; the
	// limit is lifted once the stream begins.
	lr := &io.LimitedReader{R: conn, N: maxUpgradeAnswer}
	br := bufio.NewReader(lr)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("the answer's head is longer than %d bytes", maxUpgradeAnswer)
		}
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("the agent answered %s, not 101 Switching Protocols", resp.Status)
		}
		lr.N = maxUpgradeAnswer // the error's body has its own bound
		return nil, readError(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), protocol) {
		return nil, fmt.Errorf("the agent switched to %q, not %q", resp.Header.Get("Upgrade"), protocol)
	}
	lr.N = math.MaxInt64
	return &stream{Conn: conn, r: br}, nil
}

// stream is a connection to the agent after an upgrade: reads first drain
// what was buffered with the answer's head.
type stream struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (s *stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// CloseWrite ends what the caller sends (the program's standard input, the
// TCP connection's sending side) and leaves the stream readable.
func (s *stream) CloseWrite() error {
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("agent stream: the connection cannot close only its writing side")
}

// RemoteAddr is the address dialled in the sandbox, for Dial's streams.
func (s *stream) RemoteAddr() net.Addr {
	if s.remote != nil {
		return s.remote
	}
	return s.Conn.RemoteAddr()
}

// streamAddr is the address a Dial reached, as the caller named it.
type streamAddr struct{ network, address string }

func (a *streamAddr) Network() string { return a.network }
func (a *streamAddr) String() string  { return a.address }
