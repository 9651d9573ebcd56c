package terminal

import "sync"

// msg is one thing the reader hands to a waiting Exec, in order.
type msg struct {
	out    []byte
	prompt *prompt
	exited bool
}

// sink carries output from the reader to the one Exec waiting on a terminal.
// A full sink makes the reader wait, so a slow client slows the command
// instead of growing memory; a closed sink drops what is sent to it (the
// capture keeps it for the result).
type sink struct {
	ch   chan msg
	done chan struct{}
	once sync.Once
}

func newSink() *sink {
	return &sink{ch: make(chan msg, 16), done: make(chan struct{})}
}

func (s *sink) send(m msg) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.ch <- m:
		return true
	case <-s.done:
		return false
	}
}

func (s *sink) close() { s.once.Do(func() { close(s.done) }) }
