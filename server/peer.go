package server

import (
	"bufio"
	"net"
	"net/http"
)

// hijackRecorder is the response writer a socket is upgraded through: it
// keeps the connection the upgrade takes over, so that the socket can ask
// the kernel about it (see peerGone).
type hijackRecorder struct {
	http.ResponseWriter
	conn *net.Conn
}

// Hijack takes over the connection, as the upgrade asks, and keeps it.
func (h hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		*h.conn = c
	}
	return c, rw, err
}
