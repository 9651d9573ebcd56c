package session

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Error values returned by this package wrap one
// of these, or a storage or sandbox error.
var (
	ErrNotFound       = errors.New("not found")
	ErrInvalid        = errors.New("invalid request")
	ErrConflict       = errors.New("conflict")
	ErrTooMany        = errors.New("too many live sandboxes")
	ErrNoAgent        = errors.New("no agent loop")
	ErrSlowSubscriber = errors.New("subscriber fell behind")
	ErrClosed         = errors.New("conversation manager closed")
	ErrDeleted        = errors.New("conversation deleted")
)

// Kind says what sort of failure an Error is. The package speaks no
// protocol: the server turns a kind into the status of its answer.
type Kind int

// The kinds of Error.
const (
	// KindInternal is the server's own failure; the zero Kind.
	KindInternal Kind = iota
	// KindInvalid is a request that is malformed or asks for the impossible.
	KindInvalid
	// KindNotFound is a request naming something that does not exist.
	KindNotFound
	// KindConflict is a request the conversation's state refuses now (it
	// runs, it has no agent loop, its sandbox is paused).
	KindConflict
	// KindTooMany is a request refused because the server's cap on live
	// sandboxes is reached, none could be stopped to make room and the
	// start could not wait its turn (the queue is full, or the wait was
	// over). Error.RetryAfter says when to come back.
	KindTooMany
	// KindUnavailable is a request that needs what is down or absent: the
	// state store, the sandbox engine, sandboxes at all.
	KindUnavailable
	// KindRefused is a request the runtime agent in the sandbox refused as
	// the caller's fault; Err holds the agent's answer (an
	// *agentapi.HTTPError), which says how it refused.
	KindRefused
	// KindRejected is a request whose input a rule of the server rejects
	// outright, unlike KindInvalid's: a path with a NUL byte or too long,
	// one that leaves the conversation's workspace.
	KindRejected
)

var kindNames = [...]string{
	KindInternal:    "internal",
	KindInvalid:     "invalid",
	KindNotFound:    "not found",
	KindConflict:    "conflict",
	KindTooMany:     "too many",
	KindUnavailable: "unavailable",
	KindRefused:     "refused by the agent",
	KindRejected:    "rejected",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is an error the client is told about: its Kind says what sort of
// failure it is and Detail says what went wrong, in words for the client.
// The server answers {"detail": Detail} with the status it gives Kind.
type Error struct {
	Kind   Kind
	Detail string
	Err    error // what it wraps, for errors.Is; it may name server internals
	// RetryAfter, when not 0, is how long the client should wait before
	// asking again (a KindTooMany refusal's).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Detail }
func (e *Error) Unwrap() error { return e.Err }

// invalid returns a KindInvalid error naming what is wrong.
func invalid(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Detail: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// rejected returns a KindRejected error naming what is wrong.
func rejected(format string, args ...any) error {
	return &Error{Kind: KindRejected, Detail: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// notFound returns a KindNotFound error.
func notFound(what, id string) error {
	return &Error{Kind: KindNotFound, Detail: fmt.Sprintf("%s %q not found", what, id), Err: ErrNotFound}
}

// conflict returns a KindConflict error.
func conflict(format string, args ...any) error {
	return &Error{Kind: KindConflict, Detail: fmt.Sprintf(format, args...), Err: ErrConflict}
}
