package kube

import (
	"net"
	"sync"
)

// conns tracks the open connections to one sandbox's agent, so that when
// its Pod goes they are closed at once: a call in flight (a long command)
// fails then, instead of waiting on a peer that vanished from the network
// without a reset.
type conns struct {
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	closed bool
}

type trackedConn struct {
	net.Conn
	set  *conns
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.open, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// add tracks c; after closeAll it closes c at once.
func (s *conns) add(c net.Conn) net.Conn {
	t := &trackedConn{Conn: c, set: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return t
	}
	if s.open == nil {
		s.open = make(map[*trackedConn]struct{})
	}
	s.open[t] = struct{}{}
	return t
}

// closeAll closes every tracked connection and every later one.
func (s *conns) closeAll() {
	s.mu.Lock()
	s.closed = true
	open := s.open
	s.open = nil
	s.mu.Unlock()
	for c := range open {
		c.Conn.Close()
	}
}
