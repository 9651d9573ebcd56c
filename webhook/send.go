package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// attemptTimeout bounds one POST, so a hanging endpoint holds its queue
	// for a known time whatever client the caller passed in.
	attemptTimeout = 30 * time.Second
	// maxBackoff caps the doubling retry delay and any Retry-After.
	maxBackoff = 5 * time.Minute
	// drainLimit is how much of an answer's body is read so that the
	// connection can be reused.
	drainLimit = 64 << 10
)

// outcome is the result of one attempt.
type outcome struct {
	err        error
	retryable  bool
	retryAfter time.Duration // from a Retry-After header; -1 when absent
}

// deliver sends r until it is answered 2xx, fails for good, or ctx ends,
// and counts the result. It reports false when ctx ended first.
func (s *sink) deliver(ctx context.Context, r request) bool {
	target, body, err := s.build(r)
	if err != nil {
		s.stats.failed.Add(1)
		s.log.Error("webhook request not sent", "conversation", r.conversationID, "err", err)
		return true
	}
	retries := max(s.spec.NumRetries, 0)
	for attempt := 0; ; attempt++ {
		out := s.attempt(ctx, target, body)
		if out.err == nil {
			s.stats.sent.Add(1)
			return true
		}
		if ctx.Err() != nil {
			s.stats.dropped.Add(1)
			return false
		}
		if !out.retryable || attempt >= retries {
			s.stats.failed.Add(1)
			s.log.Error("webhook request failed", "url", s.redactedURL(target), "attempts", attempt+1, "err", out.err)
			return true
		}
		wait := s.backoff(attempt, out.retryAfter)
		s.log.Warn("webhook request failed; will retry", "url", s.redactedURL(target), "attempt", attempt+1, "retry_in", wait, "err", out.err)
		if !sleep(ctx, wait) {
			s.stats.dropped.Add(1)
			return false
		}
		s.stats.retries.Add(1)
	}
}

// build makes the URL and body of r. Events that are not valid JSON are
// left out (one would spoil the whole array); a request with nothing valid
// left is an error.
func (s *sink) build(r request) (target string, body []byte, err error) {
	if r.events == nil {
		if !json.Valid(r.info) {
			return "", nil, errors.New("conversation info is not valid JSON")
		}
		// The info is shared by every sink; Redact may write in place.
		body = bytes.Clone(r.info)
		target = s.conversationsURL
	} else {
		size := 2
		for _, ev := range r.events {
			size += len(ev) + 1
		}
		body = make([]byte, 0, size)
		body = append(body, '[')
		skipped := 0
		for _, ev := range r.events {
			if !json.Valid(ev) {
				skipped++
				continue
			}
			if len(body) > 1 {
				body = append(body, ',')
			}
			body = append(body, ev...)
		}
		body = append(body, ']')
		if skipped == len(r.events) {
			return "", nil, fmt.Errorf("none of %d events is valid JSON", skipped)
		}
		if skipped > 0 {
			s.log.Warn("events left out of webhook batch: not valid JSON", "conversation", r.conversationID, "skipped", skipped)
		}
		target = s.eventsURL + url.PathEscape(r.conversationID)
	}
	if s.redact != nil {
		body = s.redact(body)
	}
	return target, body, nil
}

// attempt makes one POST.
func (s *sink) attempt(ctx context.Context, target string, body []byte) outcome {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err, retryAfter: -1}
	}
	for name, value := range s.spec.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The client strips any password from the URL in its errors.
		return outcome{err: err, retryable: true, retryAfter: -1}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return outcome{}
	}
	out := outcome{err: fmt.Errorf("answered %s", resp.Status), retryAfter: -1}
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		out.retryable = true
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), s.now()); ok {
			out.retryAfter = d
		}
	}
	return out
}

// backoff is the wait before retry number attempt+1: the answer's
// Retry-After if it had one, else RetryDelay doubled per earlier retry;
// both capped at maxBackoff.
func (s *sink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter >= 0 {
		return min(retryAfter, maxBackoff)
	}
	d := max(s.spec.RetryDelay, 0)
	for range attempt {
		if d >= maxBackoff {
			break
		}
		d *= 2
	}
	return min(d, maxBackoff)
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(maxBackoff/time.Second) {
			return maxBackoff, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redactedURL is target fit for a log line.
func (s *sink) redactedURL(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return s.name
	}
	return u.Redacted()
}
