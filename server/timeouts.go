package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// The read deadline of a request body is set here, per request, rather
// than with http.Server's ReadTimeout, so that a file upload can take as
// long as it needs as long as it keeps coming (streamBody). Once a body has
// been read whole, net/http takes the deadline off while the handler runs:
// a command run with a long timeout is not cut. Socket upgrades have no
// body, so none is set on a socket's connection.

// bodyKey is where bodyDeadline keeps a request's *deadlineBody.
const bodyKey = "gohands.body"

// bodyDeadline gives a request with a body Config.ReadTimeout to send it.
func (s *Server) bodyDeadline(c *gin.Context) {
	d := s.cfg.ReadTimeout
	r := c.Request
	if d <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return // not a connection of net/http's (a test's recorder)
	}
	b := &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: d}
	r.Body = b
	c.Set(bodyKey, b)
}

// streamBody lets a long body (an upload) take as long as it needs, as
// long as it does not stall: each read may wait Config.ReadTimeout for
// data, the time the handler spends between reads not counted.
func streamBody(c *gin.Context) {
	if v, ok := c.Get(bodyKey); ok {
		b := v.(*deadlineBody)
		b.mu.Lock()
		b.stream = true
		b.mu.Unlock()
	}
}

// deadlineBody is a request body under a read deadline.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration

	mu     sync.Mutex
	stream bool // see streamBody
	eof    bool // read whole: the deadline is net/http's again
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.stream && !b.eof {
		b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		// net/http now watches the connection for the client leaving,
		// with no deadline; another would cancel the request.
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errBodyTimeout
	}
	return n, err
}

// errBodyTimeout is what reading a body that did not come in time gives.
var errBodyTimeout = errors.New("the request body did not arrive in time (GOHANDS_HTTP_READ_TIMEOUT)")
