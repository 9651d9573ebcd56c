package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// middleware has the shape of both SDKs' request middleware.
type middleware = func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error)

// attempt records what the HTTP layer saw during one attempt, so that the
// retry loop does not depend on how each SDK reports errors.
type attempt struct {
	mu       sync.Mutex
	sent     bool        // a request went out
	status   int         // the response status, 0 if none came
	header   http.Header // the response headers
	body     []byte      // the body of an error response
	transErr error       // the transport's error, if the request failed
}

// maxErrorBody bounds how much of an error response is kept.
const maxErrorBody = 64 << 10

// middleware returns the request middleware that fills a.
func (a *attempt) middleware() middleware {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		res, err := next(req)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.sent = true
		a.transErr = err
		if res == nil {
			return res, err
		}
		a.status = res.StatusCode
		a.header = res.Header
		if res.StatusCode >= 400 && res.Body != nil {
			// Keep a copy of the error body and give the SDK the same bytes.
			b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
			res.Body.Close()
			a.body = b
			res.Body = io.NopCloser(bytes.NewReader(b))
		}
		return res, err
	}
}

// Complete sends req, retrying as Config says. See Client.
func (c *client) Complete(ctx context.Context, req Request) (Response, error) {
	for n := 0; ; n++ {
		res, wait, err := c.try(ctx, req)
		if err == nil {
			res.Cost = c.price.Cost(res.Usage)
			return res, nil
		}
		if ctx.Err() != nil {
			return Response{}, fmt.Errorf("llm %s: %w", c.cfg.Model, ctx.Err())
		}
		if wait < 0 || n >= c.cfg.MaxRetries {
			if n > 0 {
				return Response{}, fmt.Errorf("llm %s: %d attempts: %w", c.cfg.Model, n+1, err)
			}
			return Response{}, fmt.Errorf("llm %s: %w", c.cfg.Model, err)
		}
		if wait == 0 {
			wait = c.backoff(n)
		}
		c.log.Warn("llm call failed, retrying", "attempt", n+1, "wait", wait, "err", err)
		if err := c.cfg.sleep(ctx, wait); err != nil {
			return Response{}, fmt.Errorf("llm %s: %w", c.cfg.Model, err)
		}
	}
}

// try makes one attempt. On failure it returns how long to wait before the
// next: 0 for the usual backoff, a Retry-After's wait, or -1 for "do not
// retry".
func (c *client) try(ctx context.Context, req Request) (Response, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var a attempt
	res, err := c.p.complete(actx, req, a.middleware())
	if err == nil {
		return res, 0, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		return Response{}, -1, ctx.Err()
	case a.status >= 400:
		e := apiError(c.route.provider, a.status, a.body)
		if !retryable(a.status) {
			return Response{}, -1, e
		}
		return Response{}, retryAfter(a.header), e
	case errors.Is(err, context.DeadlineExceeded) || actx.Err() != nil:
		return Response{}, 0, fmt.Errorf("no answer within %s: %w", c.cfg.Timeout, ErrTimeout)
	case !a.sent:
		// The request was never sent: the SDK refused it (a parameter it
		// cannot encode). Another attempt would fail the same way.
		return Response{}, -1, fmt.Errorf("%w: %w", ErrBadRequest, err)
	case a.transErr != nil:
		return Response{}, 0, fmt.Errorf("%w: %w", ErrConnection, err)
	default:
		// A success status with a body that could not be read: the
		// connection broke part-way, or the server sent something else.
		return Response{}, 0, fmt.Errorf("%w: reading the answer: %w", ErrServer, err)
	}
}

// backoff is the wait before retry n+1: RetryMinWait doubled n times, capped
// at RetryMaxWait, then jittered down by up to a quarter so that clients
// limited together do not come back together.
func (c *client) backoff(n int) time.Duration {
	d := c.cfg.RetryMinWait
	for i := 0; i < n && d < c.cfg.RetryMaxWait; i++ {
		d *= 2
	}
	d = min(d, c.cfg.RetryMaxWait)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// retryAfter reads the wait a rate-limited or busy server asks for:
// retry-after-ms (OpenAI), then Retry-After in seconds or as an HTTP date.
// It returns 0 if there is none, and never more than maxRetryAfter.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			d = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); d == 0 && v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				d = time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = time.Until(t)
		}
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
