package session

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors callers branch on. Error values returned by this package wrap one
// of these, or a storage or sandbox error.
var (
	ErrNotFound       = errors.New("not found")
	ErrInvalid        = errors.New("invalid request")
	ErrConflict       = errors.New("conflict")
	ErrTooMany        = errors.New("too many live conversations")
	ErrNoAgent        = errors.New("no agent loop")
	ErrSlowSubscriber = errors.New("subscriber fell behind")
	ErrClosed         = errors.New("conversation manager closed")
	ErrDeleted        = errors.New("conversation deleted")
)

// Error is an error with the HTTP status it should be answered with. The
// server answers {"detail": Detail} with Status.
type Error struct {
	Status int
	Detail string
	Err    error // what it wraps, for errors.Is
}

func (e *Error) Error() string { return e.Detail }
func (e *Error) Unwrap() error { return e.Err }

// invalid returns a 422 error naming what is wrong.
func invalid(format string, args ...any) error {
	return &Error{Status: http.StatusUnprocessableEntity, Detail: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

// notFound returns a 404 error.
func notFound(what, id string) error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %q not found", what, id), Err: ErrNotFound}
}

// conflict returns a 409 error.
func conflict(format string, args ...any) error {
	return &Error{Status: http.StatusConflict, Detail: fmt.Sprintf(format, args...), Err: ErrConflict}
}
