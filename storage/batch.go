package storage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// writer is the store's group commit. Every write goes through one goroutine
// that takes all the writes queued since its last commit and runs them in a
// single bbolt transaction, so that one commit (two fdatasyncs) serves every
// caller waiting at that moment. A write that arrives while the writer is
// idle is committed at once, and writes that arrive during a commit go
// together into the next one. Throughput therefore grows with the number of
// concurrent writers.
//
// The contract of a write function: it returns an error only before it has
// written anything, so that its failure leaves the shared transaction as it
// found it. Errors of bbolt's Put and Delete, which come after writes, are
// wrapped with abort; they roll the whole transaction back, and the writes
// of that batch are then run again one per transaction. A write function
// may therefore run more than once, and must not have effects outside the
// transaction.
type writer struct {
	db *bbolt.DB

	mu     sync.Mutex
	queue  []*writeOp
	closed bool

	wake    chan struct{} // capacity 1: "the queue may be non-empty"
	stopped chan struct{} // closed when run returns

	// Counters for WriteStats.
	commits    atomic.Uint64
	writes     atomic.Uint64
	commitTime atomic.Int64 // nanoseconds
}

// WriteStats counts the store's write transactions since it was opened.
type WriteStats struct {
	// Commits is the number of write transactions, Writes the number of
	// writes (appends, conversation updates, ...) they carried: Writes /
	// Commits is the mean size of a group commit.
	Commits, Writes uint64
	// CommitTime is the time spent in write transactions, fsyncs included.
	CommitTime time.Duration
}

// WriteStats returns the counts of the store's writes so far.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{
		Commits:    s.w.commits.Load(),
		Writes:     s.w.writes.Load(),
		CommitTime: time.Duration(s.w.commitTime.Load()),
	}
}

type writeOp struct {
	fn       func(tx *bbolt.Tx) error
	err      error
	panicked any // a panic of fn, raised again in the caller's goroutine
	done     chan struct{}
}

func newWriter(db *bbolt.DB) *writer {
	w := &writer{
		db:      db,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// do runs fn in a write transaction shared with other callers and returns
// once that transaction is committed and synced to disk, or has failed.
// An error of fn comes back as is; a failed commit, a read-only or a
// closed store is ErrUnavailable.
func (w *writer) do(fn func(tx *bbolt.Tx) error) error {
	op := &writeOp{fn: fn, done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("%w: store closed", ErrUnavailable)
	}
	w.queue = append(w.queue, op)
	w.mu.Unlock()
	w.signal()
	<-op.done
	if op.panicked != nil {
		panic(op.panicked)
	}
	return op.err
}

// close stops taking writes, commits those already queued, and waits for
// the writer goroutine to end.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	<-w.stopped
}

// signal wakes the writer goroutine, if it is not awake already.
func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) run() {
	defer close(w.stopped)
	// Two slices take turns as the queue, so that steady traffic
	// allocates none.
	var spare []*writeOp
	for {
		w.mu.Lock()
		batch, closed := w.queue, w.closed
		if len(batch) > 0 {
			w.queue = spare
		}
		w.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-w.wake
			continue
		}
		w.commit(batch)
		for _, op := range batch {
			close(op.done)
		}
		clear(batch)
		spare = batch[:0]
	}
}

// commit runs batch in one transaction, falling back to one transaction
// per write when a write aborts the shared one.
func (w *writer) commit(batch []*writeOp) {
	start := time.Now()
	defer func() {
		w.commits.Add(1)
		w.writes.Add(uint64(len(batch)))
		w.commitTime.Add(int64(time.Since(start)))
	}()
	err := w.db.Update(func(tx *bbolt.Tx) error {
		for _, op := range batch {
			op.err = op.call(tx)
			if isAbort(op.err) {
				return op.err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		return
	case isAbort(err) && len(batch) > 1:
		for _, op := range batch {
			op.err = nil
			if op.panicked == nil {
				w.commitOne(op)
			}
		}
	default:
		w.fail(batch, err)
	}
}

func (w *writer) commitOne(op *writeOp) {
	err := w.db.Update(func(tx *bbolt.Tx) error {
		op.err = op.call(tx)
		return op.err
	})
	if err != nil {
		w.fail([]*writeOp{op}, err)
	}
}

// fail sets the error of the writes of a transaction that did not commit.
// A write's own error (not found, exists, ...) stands; the others get the
// reason the transaction failed.
func (w *writer) fail(batch []*writeOp, err error) {
	for _, op := range batch {
		switch {
		case op.panicked != nil:
		case op.err == nil:
			op.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		case isAbort(op.err):
			op.err = fmt.Errorf("%w: %w", ErrUnavailable, errors.Unwrap(op.err))
		}
	}
}

// call runs op.fn, turning a panic into an abort of the transaction.
func (op *writeOp) call(tx *bbolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			op.panicked = r
			err = abort(fmt.Errorf("write panicked: %v", r))
		}
	}()
	return op.fn(tx)
}

// abortError marks an error after which the transaction must not commit.
type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

// abort wraps a failed Put or Delete (or nil, which stays nil).
func abort(err error) error {
	if err == nil {
		return nil
	}
	return &abortError{err}
}

func isAbort(err error) bool {
	var a *abortError
	return errors.As(err, &a)
}
