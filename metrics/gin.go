package metrics

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// RouteUnmatched is the route label of requests no route matched (404s of
// NoRoute, scanners probing paths).
const RouteUnmatched = "unmatched"

// GinMiddleware records every request with HTTPRequest, labelled by the
// matched route template (c.FullPath()) or RouteUnmatched.
//
// A WebSocket upgrade is recorded when the handler hijacks the connection,
// with status 101 and the time to the hijack: recording it when the handler
// returns would measure the socket's whole life and put it in the latency
// histogram.
func (r *Registry) GinMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		route := c.FullPath()
		if route == "" {
			route = RouteUnmatched
		}
		method := c.Request.Method
		w := &hijackWriter{ResponseWriter: c.Writer}
		w.onHijack = func() { r.HTTPRequest(method, route, http.StatusSwitchingProtocols, time.Since(start)) }
		c.Writer = w
		c.Next()
		if !w.hijacked() {
			r.HTTPRequest(method, route, c.Writer.Status(), time.Since(start))
		}
	}
}

// hijackWriter notices a successful Hijack.
type hijackWriter struct {
	gin.ResponseWriter
	onHijack func()

	mu   sync.Mutex
	done bool
}

// Hijack implements http.Hijacker.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := w.ResponseWriter.Hijack()
	if err == nil {
		w.mu.Lock()
		first := !w.done
		w.done = true
		w.mu.Unlock()
		if first {
			w.onHijack()
		}
	}
	return conn, rw, err
}

func (w *hijackWriter) hijacked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
