package terminal

import (
	"bytes"
	"testing"
	"time"
)

func ready(s *sink) bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

func TestSinkWakesOncePerBatch(t *testing.T) {
	s := newSink(true)
	s.put([]byte("a"))
	s.put([]byte("b"))
	if !ready(s) {
		t.Fatal("first output did not wake the waiter")
	}
	out, _, ended := s.take(nil)
	if string(out) != "ab" || ended {
		t.Fatalf("take = %q, %v; want \"ab\", false", out, ended)
	}
	// Output was found: more output queues up without a wake-up, until
	// the waiter comes back on its own.
	s.put([]byte("c"))
	if ready(s) {
		t.Fatal("output woke a waiter that is pacing itself")
	}
	out, _, _ = s.take(out)
	if string(out) != "c" {
		t.Fatalf("take = %q, want \"c\"", out)
	}
	// An empty take re-arms the wake-up.
	if out, _, _ = s.take(out); len(out) != 0 {
		t.Fatalf("take = %q, want nothing", out)
	}
	s.put([]byte("d"))
	if !ready(s) {
		t.Fatal("output after an empty take did not wake the waiter")
	}
}

func TestSinkEnd(t *testing.T) {
	s := newSink(true)
	s.put([]byte("x"))
	s.take(nil) // pacing: output would not wake
	s.put([]byte("before"))
	s.end(false)
	if !ready(s) {
		t.Fatal("the end did not wake a pacing waiter")
	}
	s.put([]byte("after")) // not the command's
	out, _, ended := s.take(nil)
	if string(out) != "before" || !ended || s.shellExited() {
		t.Fatalf("take = %q, %v, exited %v; want \"before\", true, false", out, ended, s.shellExited())
	}
	e := newSink(true)
	e.end(true)
	if !e.shellExited() {
		t.Fatal("the shell's exit was not reported")
	}
}

func TestSinkThrottle(t *testing.T) {
	s := newSink(true)
	s.put(bytes.Repeat([]byte("x"), sinkLimit))
	done := make(chan struct{})
	go func() { s.throttle(); close(done) }()
	select {
	case <-done:
		t.Fatal("the reader went on with a full sink")
	case <-time.After(50 * time.Millisecond):
	}
	if out, _, _ := s.take(nil); len(out) != sinkLimit {
		t.Fatalf("took %d bytes, want %d", len(out), sinkLimit)
	}
	<-done

	// A closed sink never holds the reader.
	s.put(bytes.Repeat([]byte("x"), sinkLimit))
	done = make(chan struct{})
	go func() { s.throttle(); close(done) }()
	s.close()
	<-done
	s.put([]byte("late"))
	if out, _, _ := s.take(nil); len(out) != sinkLimit {
		t.Fatalf("a closed sink took output: %d bytes queued", len(out))
	}
}

// Without keep (an Exec that does not stream) the sink hands over word of
// output, not the output: the capture keeps it, and nothing is copied twice.
func TestSinkWithoutKeep(t *testing.T) {
	s := newSink(false)
	s.put(bytes.Repeat([]byte("x"), 2*sinkLimit))
	if !ready(s) {
		t.Fatal("output did not wake the waiter")
	}
	s.throttle() // never full: returns at once
	out, got, ended := s.take(nil)
	if len(out) != 0 || !got || ended {
		t.Fatalf("take = %d bytes, got %v, ended %v; want none, true, false", len(out), got, ended)
	}
	if _, got, _ := s.take(nil); got {
		t.Fatal("a second take reported output again")
	}
}
