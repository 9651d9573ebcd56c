package files

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/gohands/gohands/agentapi"
)

// sniffLen is how much of a file is looked at to tell text from binary.
const sniffLen = 8 << 10

// Text is what Read returns: the lines asked for and where they sit.
type Text = agentapi.FileText

// Read returns lines start to end (1-based, inclusive) of the text file at
// path and the file's line count. start 0 means 1; end -1 (or 0) means the
// last line, and an end past the last line is cut to it. A file over
// MaxReadBytes fails with ErrTooLarge, one that looks binary (a NUL byte or
// invalid UTF-8 in its first 8 KiB) with ErrBinary.
func (f *FS) Read(path string, start, end int) (Text, error) {
	const op = "read"
	t, err := f.path(op, path, true)
	if err != nil {
		return Text{}, err
	}
	data, err := f.readText(op, t)
	if err != nil {
		return Text{}, err
	}
	s := string(data)
	total := countLines(s)
	if start == 0 {
		start = 1
	}
	if end == 0 || end == -1 {
		end = total
	}
	switch {
	case start < 1:
		return Text{}, newError(ErrInvalid, op, t.shown, fmt.Sprintf("start line %d is not a line number; lines count from 1", start))
	case end < 0:
		return Text{}, newError(ErrInvalid, op, t.shown, fmt.Sprintf("end line %d is not a line number; use -1 for the end of the file", end))
	case total == 0 && start == 1:
		end = 0 // an empty file has no lines to show, but asking for them is fine
	case start > total:
		return Text{}, newError(ErrInvalid, op, t.shown, fmt.Sprintf("start line %d is past the end of the file, which has %d lines", start, total))
	case end > total:
		end = total
	case end < start:
		return Text{}, newError(ErrInvalid, op, t.shown, fmt.Sprintf("end line %d is before start line %d", end, start))
	}
	return Text{Path: t.shown, Content: lineSpan(s, start, end), Start: start, End: end, TotalLines: total}, nil
}

// readText reads a whole regular text file under the read limit.
func (f *FS) readText(op string, t target) ([]byte, error) {
	file, fi, err := openRegular(t.real)
	if err != nil {
		return nil, osError(op, t.shown, err)
	}
	defer file.Close()
	if fi.Size() > f.maxRead {
		return nil, tooLargeToRead(op, t.shown, fi.Size(), f.maxRead)
	}
	data, err := readLimited(file, f.maxRead)
	if err != nil {
		if err == errOverLimit {
			return nil, tooLargeToRead(op, t.shown, int64(len(data)), f.maxRead)
		}
		return nil, osError(op, t.shown, err)
	}
	if looksBinary(data) {
		return nil, newError(ErrBinary, op, t.shown, "file looks binary (a NUL byte or invalid UTF-8 near its start); only text files can be read this way")
	}
	return data, nil
}

func tooLargeToRead(op, path string, size, limit int64) error {
	return newError(ErrTooLarge, op, path, fmt.Sprintf("file is %s, over the %s read limit", humanSize(size), humanSize(limit)))
}

// openRegular opens a regular file for reading. O_NONBLOCK keeps a FIFO from
// blocking the open; such files are then refused, as are directories.
func openRegular(p string) (*os.File, fs.FileInfo, error) {
	file, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := file.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			err = &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
		} else {
			err = &fs.PathError{Op: "read", Path: p, Err: errNotRegular}
		}
	}
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	return file, fi, nil
}

// errNotRegular is the cause given for devices, FIFOs and sockets.
var errNotRegular = errors.New("not a regular file")

var errOverLimit = errors.New("over limit")

// readLimited reads r to its end, or fails with errOverLimit (returning
// what it read) once more than limit bytes come. Sizes from stat are not
// trusted: files in /proc report 0, and files grow.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return buf.Bytes(), errOverLimit
	}
	return buf.Bytes(), nil
}

// looksBinary reports whether the start of b has a NUL byte or is not valid
// UTF-8. A character cut by the sniff window does not count as invalid.
func looksBinary(b []byte) bool {
	cut := len(b) > sniffLen
	if cut {
		b = b[:sniffLen]
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return !(cut && !utf8.FullRune(b[i:]))
		}
		i += size
	}
	return false
}

// countLines counts lines as Python iterating over a file does: a last line
// without a newline still counts, an empty file has none.
func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// lineSpan returns lines start to end (1-based, inclusive) of s, each with
// its newline. Out-of-range parts are empty.
func lineSpan(s string, start, end int) string {
	if end < start || start < 1 {
		return ""
	}
	from := 0
	for line := 1; line < start; line++ {
		i := strings.IndexByte(s[from:], '\n')
		if i < 0 {
			return ""
		}
		from += i + 1
	}
	to := from
	for line := start; line <= end && to < len(s); line++ {
		i := strings.IndexByte(s[to:], '\n')
		if i < 0 {
			to = len(s)
			break
		}
		to += i + 1
	}
	return s[from:to]
}

// humanSize prints a byte count the way people read it.
func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
