package agentd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// dialTimeout bounds GET /dial's connecting.
const dialTimeout = 10 * time.Second

// dial opens a TCP connection from the sandbox and upgrades the request's
// connection into it. The agent runs in the sandbox's network namespace,
// so the sandbox's network rules apply: with no network the dial fails,
// and the failure is answered before any upgrade.
func (s *Server) dial(w http.ResponseWriter, r *http.Request) error {
	if err := wantUpgrade(r, agentapi.DialProtocol); err != nil {
		return err
	}
	q := r.URL.Query()
	network, address := q.Get("network"), q.Get("address")
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return errorf(http.StatusBadRequest, "network %q: only tcp, tcp4 and tcp6 are served", network)
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return errorf(http.StatusBadRequest, "address %q: want host:port: %v", address, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	defer cancel()
	var d net.Dialer
	remote, err := d.DialContext(ctx, network, address)
	if err != nil {
		return errorf(http.StatusBadGateway, "dial %s %s from the sandbox: %v", network, address, err)
	}
	defer remote.Close()
	conn, in, ok := s.hijack(w, agentapi.DialProtocol)
	if !ok {
		return nil
	}
	defer s.unhijack(conn)
	relayTCP(conn, in, remote.(*net.TCPConn))
	return nil
}

// wantUpgrade checks that r asks to switch to protocol.
func wantUpgrade(r *http.Request, protocol string) error {
	upgrade := false
	for _, v := range r.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			upgrade = upgrade || strings.EqualFold(strings.TrimSpace(tok), "upgrade")
		}
	}
	if !upgrade || !strings.EqualFold(r.Header.Get("Upgrade"), protocol) {
		return errorf(http.StatusUpgradeRequired, "%s %s is a stream: send Connection: Upgrade and Upgrade: %s", r.Method, r.URL.Path, protocol)
	}
	return nil
}

// hijack takes the connection from the HTTP server and answers 101
// Switching Protocols on it. It returns the connection and a reader of
// what the client sends (bytes it sent with the request included); when
// it cannot, it has answered or closed the connection and returns false.
func (s *Server) hijack(w http.ResponseWriter, protocol string) (net.Conn, *bufio.Reader, bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "upgrade: %v", err))
		return nil, nil, false
	}
	// The server's read and write deadlines are for requests, not streams.
	conn.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + protocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return nil, nil, false
	}
	s.streams[conn] = struct{}{}
	return conn, brw.Reader, true
}

// unhijack closes a stream's connection and forgets it.
func (s *Server) unhijack(conn net.Conn) {
	conn.Close()
	s.mu.Lock()
	delete(s.streams, conn)
	s.mu.Unlock()
}

// relayStdio copies the client's bytes to a program's standard input, and
// its standard output to the client, until both end. The client's end of
// sending (or of the connection) closes the program's standard input; the
// end of the program's output (it exited) ends the client's reading. If the
// client is gone, the connection is closed, which ends the copying up; so
// does the program's exit, a moment after its output ended, lest a client
// that never closes hold the attachment.
func relayStdio(conn net.Conn, in io.Reader, stdin, stdout *os.File, exited <-chan struct{}) {
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		io.Copy(stdin, in)
		stdin.Close()
	}()
	// The output ends with the program, after the grace past its exit
	// (ErrDeadlineExceeded), or when it is stopped (ErrClosed): the client
	// reads the end. A failure to write means the client is gone.
	_, err := io.Copy(conn, stdout)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
		conn.Close()
	} else {
		closeWrite(conn)
	}
	select {
	case <-upDone:
		return
	case <-exited:
	}
	select {
	case <-upDone:
	case <-time.After(outputGrace):
		conn.Close()
		<-upDone
	}
}

// relayTCP copies bytes both ways between the client and a TCP connection
// until both directions end: an end of sending is passed on as a half
// close, a failure either way ends both connections.
func relayTCP(conn net.Conn, in io.Reader, remote *net.TCPConn) {
	abort := func() {
		conn.Close()
		remote.Close()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := io.Copy(remote, in); err != nil {
			abort()
			return
		}
		remote.CloseWrite()
	})
	if _, err := io.Copy(conn, remote); err != nil {
		abort()
	} else {
		closeWrite(conn)
	}
	wg.Wait()
}

func closeWrite(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	conn.Close()
}
