package terminal

import (
	"sync"
	"time"
)

// sinkLimit is how much output a sink holds for its Exec before the reader
// waits: a slow client slows the command instead of growing memory.
const sinkLimit = 1 << 20

// sink carries output from the reader to the one Exec waiting on a terminal.
// The reader appends to a buffer and the Exec takes all of it at once, so
// a command printing fast costs one hand-over per batch, not one per read
// of the pty. The end of the command (its prompt, or the shell's exit) is
// kept apart and always wakes the Exec at once; plain output wakes it only
// when it asked for that (see take), which lets it pace its deliveries.
type sink struct {
	mu     sync.Mutex
	keep   bool // the Exec streams: hand it the output, not only word of it
	out    []byte
	got    bool // output came since the last take
	ended  bool
	exited bool // the end was the shell's exit, not a prompt
	eager  bool // the Exec wants a wake-up for output too
	closed bool

	ready chan struct{} // capacity 1: there is something to take
	room  chan struct{} // capacity 1: the Exec took what was queued
}

// newSink makes the sink of one Exec. With keep, the output itself is
// handed over (for a streaming client); without, only the fact that some
// came, which is all an Exec needs for its no-output timeout (the capture
// keeps the output for the result).
func newSink(keep bool) *sink {
	return &sink{keep: keep, eager: true, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// put queues output. Output after the end is not the command's and is
// dropped here (the capture keeps it). It never blocks: the reader calls it
// holding the terminal's lock, and calls throttle after letting go.
func (s *sink) put(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ended || len(p) == 0 {
		return
	}
	s.got = true
	if s.keep {
		s.out = append(s.out, p...)
	}
	if s.eager {
		s.eager = false
		signal(s.ready)
	}
}

// end marks the end of the command (its prompt, or the shell's exit) and
// wakes the Exec.
func (s *sink) end(exited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ended {
		return
	}
	s.ended, s.exited = true, exited
	signal(s.ready)
}

// shellExited reports whether the end was the shell's exit.
func (s *sink) shellExited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited
}

// throttle makes the reader wait while the Exec has a full buffer to take.
func (s *sink) throttle() {
	for {
		s.mu.Lock()
		full := len(s.out) >= sinkLimit && !s.closed
		s.mu.Unlock()
		if !full {
			return
		}
		<-s.room
	}
}

// take hands over everything queued (nothing without keep), swapping in
// buf (emptied) for the next batch, and reports whether output came since
// the last take and whether the command has ended. After a take that found
// output, more output queues up silently: the Exec comes back on its own
// after pace. After one that found none, the next output wakes it.
func (s *sink) take(buf []byte) (out []byte, got, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, s.out = s.out, buf[:0]
	got, s.got = s.got, false
	s.eager = !got
	if !s.closed {
		signal(s.room)
	}
	return out, got, s.ended
}

func (s *sink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.room)
	}
}

// signal sets a capacity-1 channel without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pace is the least time between two deliveries of output to a streaming
// client while a command keeps printing: fewer, larger frames, and a delay
// no one reading a terminal notices. The first output of a quiet spell and
// the end of a command are delivered at once.
const pace = time.Millisecond
