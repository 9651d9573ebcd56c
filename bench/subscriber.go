package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// sendClock records when each event was handed to the path under test, by
// seq, so that a subscriber can tell how long the event took to reach it.
// Times are monotonic offsets from t0.
type sendClock struct {
	t0    time.Time
	first int64
	at    []atomic.Int64
}

func newSendClock(first int64, n int) *sendClock {
	return &sendClock{t0: time.Now(), first: first, at: make([]atomic.Int64, n)}
}

func (c *sendClock) now() int64 { return int64(time.Since(c.t0)) }

// mark records that seq is being sent now.
func (c *sendClock) mark(seq int64) { c.at[seq-c.first].Store(c.now()) }

// since returns how long ago (at monotonic offset now) seq was sent.
func (c *sendClock) since(seq, now int64) time.Duration {
	return time.Duration(now - c.at[seq-c.first].Load())
}

// subscriber is one WebSocket client of the fan-out. It keeps nothing but
// what the check needs: the next seq it expects, counts of gaps and
// duplicates, and one latency per event.
type subscriber struct {
	conn        *websocket.Conn
	first, last int64 // the seqs it must get, inclusive
	clock       *sendClock
	done        chan struct{}

	next    int64        // the seq expected next
	reached atomic.Int64 // next, for other goroutines to watch
	got     int
	gaps    int64 // events skipped
	dups    int   // events at or below one already received
	lat     []time.Duration
	code    int       // the close code the server sent, if any
	err     error     // why reading stopped before the last event
	ended   time.Time // when reading stopped on err
}

// dialSubscribers connects n subscribers to url, a few at a time. Each
// calls greeted.Done on its first frame without a seq (the greeting), or
// when it fails before one.
func dialSubscribers(ctx context.Context, url string, n int, first, last int64, clock *sendClock, greeted *sync.WaitGroup) ([]*subscriber, error) {
	d := &websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 1024, HandshakeTimeout: 30 * time.Second}
	subs := make([]*subscriber, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, resp, err := d.DialContext(ctx, url, nil)
			if err != nil {
				if resp != nil {
					err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
				}
				errs <- fmt.Errorf("subscriber %d: dial %s: %w", i, url, err)
				return
			}
			subs[i] = &subscriber{conn: conn, first: first, last: last, next: first, clock: clock,
				done: make(chan struct{}), lat: make([]time.Duration, 0, last-first+1)}
		}()
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(collect(errs)...); err != nil {
		for _, s := range subs {
			if s != nil {
				s.conn.Close()
			}
		}
		return nil, err
	}
	greeted.Add(n)
	for _, s := range subs {
		go s.read(greeted)
	}
	return subs, nil
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// read takes frames until the last event or an error.
func (s *subscriber) read(greeted *sync.WaitGroup) {
	defer close(s.done)
	greet := sync.OnceFunc(greeted.Done)
	defer greet()
	var buf []byte
	for s.next <= s.last {
		_, r, err := s.conn.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				s.code = ce.Code
			}
			s.err, s.ended = err, time.Now()
			return
		}
		if buf, err = readFrame(r, buf[:0]); err != nil {
			s.err = err
			return
		}
		now := s.clock.now()
		seq, ok := seqOf(buf)
		switch {
		case !ok:
			greet() // full_state, or the baseline's greeting
		case seq < s.next:
			s.dups++
		case seq > s.last:
			s.err = fmt.Errorf("event seq %d is past the last one sent, %d", seq, s.last)
			return
		default:
			s.gaps += seq - s.next
			s.lat = append(s.lat, s.clock.since(seq, now))
			s.got++
			s.next = seq + 1
			s.reached.Store(s.next)
		}
	}
}

// caughtUp reports whether s has received every event before next, or
// has stopped reading.
func (s *subscriber) caughtUp(next int64) bool {
	select {
	case <-s.done:
		return true
	default:
	}
	return s.reached.Load() >= next
}

// readFrame reads r to its end into buf, reusing its room.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

var seqField = []byte(`"seq":`)

// seqOf reads the top-level seq of an event frame without decoding it. An
// event's own fields come before its payload, so the first "seq" key is
// the event's. Frames without one (full_state) report false.
func seqOf(frame []byte) (int64, bool) {
	i := bytes.Index(frame, seqField)
	if i < 0 {
		return 0, false
	}
	var n int64
	digits := 0
	for _, c := range frame[i+len(seqField):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0 && n > 0
}
