package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// slowPost sends a POST whose body comes in pieces, pause apart, and
// returns the status of the answer (0 when the connection ended without
// one) and its body.
func slowPost(t *testing.T, addr, path string, pieces []string, pause time.Duration) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, n)
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(pause)
		}
		if _, err := io.WriteString(conn, p); err != nil {
			break // the server gave up on the body
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestBodyDeadline: a body must come within ReadTimeout (a stalled one is
// answered 408, not waited for), a streamed one must only keep coming, and
// a handler that runs long once the body is in is not cut.
func TestBodyDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	s := New(Config{ReadTimeout: timeout})
	handler := func(stream bool) gin.HandlerFunc {
		return func(c *gin.Context) {
			if stream {
				streamBody(c)
			}
			data, err := io.ReadAll(c.Request.Body)
			if err != nil {
				status := http.StatusBadRequest
				if strings.Contains(err.Error(), errBodyTimeout.Error()) {
					status = http.StatusRequestTimeout
				}
				c.String(status, "%v", err)
				return
			}
			c.String(http.StatusOK, "%s", data)
		}
	}
	s.engine.POST("/test/whole", handler(false))
	s.engine.POST("/test/stream", handler(true))
	s.engine.POST("/test/long", func(c *gin.Context) {
		io.ReadAll(c.Request.Body)
		// Past the body's deadline: net/http now watches the connection,
		// and a deadline left on it would cancel the request.
		time.Sleep(2 * timeout)
		if err := c.Request.Context().Err(); err != nil {
			c.String(http.StatusInternalServerError, "cancelled: %v", err)
			return
		}
		c.String(http.StatusOK, "done")
	})
	s.engine.POST("/test/bind", func(c *gin.Context) {
		var v map[string]any
		if err := s.bind(c, &v); err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close) // after the parallel subtests

	pieces := []string{`{"a":`, `"b`, `c`, `d`, `e`, `"}`}
	const pause = timeout / 3 // five of them: over 1.6 timeouts; one: a third
	tests := []struct {
		path   string
		pieces []string
		want   int
	}{
		{"/test/whole", []string{`{"a":"b"}`}, http.StatusOK},
		{"/test/whole", pieces, http.StatusRequestTimeout},
		{"/test/bind", pieces, http.StatusRequestTimeout},
		{"/test/stream", pieces, http.StatusOK},
		{"/test/long", []string{`{}`}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/test/")+fmt.Sprint(len(tt.pieces)), func(t *testing.T) {
			t.Parallel()
			status, body := slowPost(t, hs.Listener.Addr().String(), tt.path, tt.pieces, pause)
			if status != tt.want {
				t.Errorf("%s in %d pieces: %d %s, want %d", tt.path, len(tt.pieces), status, body, tt.want)
			}
		})
	}
}
