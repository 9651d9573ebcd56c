package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for the zero values of Spec.
const (
	DefaultEventBufferSize = 10
	DefaultFlushDelay      = 30 * time.Second
	DefaultNumRetries      = 3
	DefaultRetryDelay      = 5 * time.Second
)

// maxDelay bounds FlushDelay and RetryDelay. Past a day a delay is a typo,
// and the bound keeps seconds-as-float conversions exact to the nanosecond.
const maxDelay = 24 * time.Hour

// Spec configures one webhook endpoint. Events go to
// {BaseURL}/events/{conversation_id} as a JSON array; conversation info goes
// to {BaseURL}/conversations.
//
// The zero value of each tuning field means its default. In Go, a negative
// NumRetries means "never retry" and a negative RetryDelay means "retry at
// once". In JSON and in the environment, 0 means the same for those two
// fields (as in the OpenHands configuration), and delays are in seconds.
type Spec struct {
	// BaseURL is an absolute http or https URL without query or fragment.
	BaseURL string `json:"base_url"`
	// Headers are added to every request. Content-Type is always
	// application/json whatever Headers say.
	Headers map[string]string `json:"headers,omitempty"`
	// EventBufferSize is how many events of one conversation are sent
	// together; 0 means DefaultEventBufferSize.
	EventBufferSize int `json:"event_buffer_size"`
	// FlushDelay is how long the first buffered event of a conversation may
	// wait for the buffer to fill; 0 means DefaultFlushDelay.
	FlushDelay time.Duration `json:"-"`
	// NumRetries is how many times a failed request is tried again; 0 means
	// DefaultNumRetries, negative means none.
	NumRetries int `json:"num_retries"`
	// RetryDelay is the wait before the first retry, doubled for each
	// further one; 0 means DefaultRetryDelay, negative means no wait. A
	// Retry-After header on a 429 or 503 answer takes its place.
	RetryDelay time.Duration `json:"-"`
}

// specJSON is the wire form of Spec. Pointers tell "absent" from "0", which
// differ for num_retries and retry_delay.
type specJSON struct {
	BaseURL         *string           `json:"base_url,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	EventBufferSize *int              `json:"event_buffer_size,omitempty"`
	FlushDelay      *float64          `json:"flush_delay,omitempty"`
	NumRetries      *int              `json:"num_retries,omitempty"`
	RetryDelay      *float64          `json:"retry_delay,omitempty"`
}

// MarshalJSON writes the effective values (defaults filled in), delays in
// seconds.
func (s Spec) MarshalJSON() ([]byte, error) {
	e := s.withDefaults()
	retries := max(e.NumRetries, 0)
	retryDelay := max(e.RetryDelay, 0).Seconds()
	flushDelay := e.FlushDelay.Seconds()
	return json.Marshal(specJSON{
		BaseURL:         &e.BaseURL,
		Headers:         e.Headers,
		EventBufferSize: &e.EventBufferSize,
		FlushDelay:      &flushDelay,
		NumRetries:      &retries,
		RetryDelay:      &retryDelay,
	})
}

// UnmarshalJSON reads a spec in the OpenHands WebhookSpec shape and checks
// it: base_url is required; event_buffer_size >= 1; flush_delay > 0;
// num_retries >= 0; retry_delay >= 0.
func (s *Spec) UnmarshalJSON(data []byte) error {
	var j specJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("webhook spec: %w", err)
	}
	spec, err := j.spec()
	if err != nil {
		return fmt.Errorf("webhook spec: %w", err)
	}
	*s = spec
	return nil
}

// fieldError names the JSON field a bad value came from, so that callers
// can name the variable that held it.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// spec converts and checks the wire form.
func (j specJSON) spec() (Spec, error) {
	var s Spec
	if j.BaseURL == nil || *j.BaseURL == "" {
		return Spec{}, &fieldError{"base_url", errors.New("required")}
	}
	s.BaseURL = *j.BaseURL
	if err := checkBaseURL(s.BaseURL); err != nil {
		return Spec{}, &fieldError{"base_url", err}
	}
	if err := checkHeaders(j.Headers); err != nil {
		return Spec{}, &fieldError{"headers", err}
	}
	if len(j.Headers) > 0 {
		s.Headers = j.Headers
	}
	if j.EventBufferSize != nil {
		if *j.EventBufferSize < 1 {
			return Spec{}, &fieldError{"event_buffer_size", fmt.Errorf("%d is not >= 1", *j.EventBufferSize)}
		}
		s.EventBufferSize = *j.EventBufferSize
	}
	if j.FlushDelay != nil {
		d, err := seconds(*j.FlushDelay)
		if err == nil && d == 0 {
			err = fmt.Errorf("%v is not > 0", *j.FlushDelay)
		}
		if err != nil {
			return Spec{}, &fieldError{"flush_delay", err}
		}
		s.FlushDelay = d
	}
	if j.NumRetries != nil {
		switch n := *j.NumRetries; {
		case n < 0:
			return Spec{}, &fieldError{"num_retries", fmt.Errorf("%d is not >= 0", n)}
		case n == 0:
			s.NumRetries = -1
		default:
			s.NumRetries = n
		}
	}
	if j.RetryDelay != nil {
		d, err := seconds(*j.RetryDelay)
		if err != nil {
			return Spec{}, &fieldError{"retry_delay", err}
		}
		s.RetryDelay = d
		if d == 0 {
			s.RetryDelay = -1
		}
	}
	return s, nil
}

// seconds converts a JSON number of seconds to a Duration in [0, maxDelay].
// A positive value too small for a nanosecond becomes one nanosecond, so
// that it is not mistaken for "use the default".
func seconds(v float64) (time.Duration, error) {
	if math.IsNaN(v) || v < 0 || v > maxDelay.Seconds() {
		return 0, fmt.Errorf("%v seconds is not between 0 and %v", v, maxDelay.Seconds())
	}
	d := time.Duration(math.Round(v * float64(time.Second)))
	if d == 0 && v > 0 {
		d = 1
	}
	return d, nil
}

// Validate reports whether s can be used: a good base URL, header names and
// values that HTTP can carry, and delays of at most a day.
func (s Spec) Validate() error {
	if err := checkBaseURL(s.BaseURL); err != nil {
		return fmt.Errorf("base_url: %w", err)
	}
	if err := checkHeaders(s.Headers); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	if s.EventBufferSize < 0 {
		return fmt.Errorf("event_buffer_size: %d is negative", s.EventBufferSize)
	}
	if s.FlushDelay < 0 || s.FlushDelay > maxDelay {
		return fmt.Errorf("flush_delay: %v is not between 0 and %v", s.FlushDelay, maxDelay)
	}
	if s.RetryDelay > maxDelay {
		return fmt.Errorf("retry_delay: %v is more than %v", s.RetryDelay, maxDelay)
	}
	return nil
}

// withDefaults fills in the zero values.
func (s Spec) withDefaults() Spec {
	if s.EventBufferSize == 0 {
		s.EventBufferSize = DefaultEventBufferSize
	}
	if s.FlushDelay == 0 {
		s.FlushDelay = DefaultFlushDelay
	}
	if s.NumRetries == 0 {
		s.NumRetries = DefaultNumRetries
	}
	if s.RetryDelay == 0 {
		s.RetryDelay = DefaultRetryDelay
	}
	return s
}

func checkBaseURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	if !utf8.ValidString(raw) {
		return errors.New("not valid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return errors.New("has a query or fragment; paths are appended to it")
	}
	return nil
}

func checkHeaders(h map[string]string) error {
	for name, value := range h {
		if !validHeaderName(name) {
			return fmt.Errorf("%q is not a valid header name", name)
		}
		if !validHeaderValue(value) {
			return fmt.Errorf("value of %s has control characters", name)
		}
		if !utf8.ValidString(value) {
			return fmt.Errorf("value of %s is not valid UTF-8", name)
		}
	}
	return nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than tab, which would
// let a value split a header or fail every request.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
