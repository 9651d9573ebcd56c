package files

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Sentinel errors callers branch on (with errors.Is) to choose a status.
var (
	// ErrInvalid: the request can never succeed as written (relative path,
	// NUL byte, bad line range, unknown command, a path that escapes Root).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the file or directory does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the file should not exist yet but does (editor create).
	ErrExists = errors.New("already exists")
	// ErrConflict: something of the wrong type is in the way, such as a
	// directory where a file is to be written.
	ErrConflict = errors.New("conflict")
	// ErrBinary: the file looks binary and only text was asked for.
	ErrBinary = errors.New("binary file")
	// ErrTooLarge: a read, write or upload is over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrPermission: the operating system refused access.
	ErrPermission = errors.New("permission denied")
)

// Error is the error of every file operation here. Msg is written for a
// person and, for Editor commands, is exactly the text the OpenHands file
// editor shows the model: send Msg as the tool's observation, and
// err.Error() (which adds the operation and path) as an HTTP error detail
// or a log line. Kind is one of the sentinels, or nil for an unexpected
// failure (a 500); Err is the underlying cause, if any.
//
// errors.Is matches both Kind and Err, so for a file the kernel reports
// missing both errors.Is(err, ErrNotFound) and errors.Is(err,
// fs.ErrNotExist) hold.
type Error struct {
	Op   string // "read", "write", "str_replace", "upload", ...
	Path string // the path as the caller gave it, cleaned
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	return s + ": " + e.Msg
}

// Unwrap returns Kind and Err, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func newError(kind error, op, path, msg string) *Error {
	return &Error{Op: op, Path: path, Kind: kind, Msg: msg}
}

// osError turns an error from the os package into an *Error with the
// matching Kind. An *Error passes through unchanged.
func osError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{Op: op, Path: path, Kind: kindOf(err), Err: err, Msg: causeText(err)}
}

// kindOf maps an operating-system error to a sentinel, or nil.
func kindOf(err error) error {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, fs.ErrNotExist), errno == syscall.ENOTDIR:
		return ErrNotFound // a path through a file names nothing
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	case errors.Is(err, fs.ErrPermission), errno == syscall.EROFS:
		return ErrPermission
	case errors.Is(err, errParentNotDir), errno == syscall.EISDIR, errno == syscall.ENOTEMPTY:
		return ErrConflict
	case errors.Is(err, errNotRegular), errno == syscall.ENAMETOOLONG, errno == syscall.ELOOP:
		return ErrInvalid
	case errno == syscall.EFBIG:
		return ErrTooLarge
	}
	return nil
}

// causeText is the part of an os error worth showing: the errno text without
// the operation and path that *Error already carries.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
