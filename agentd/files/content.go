package files

import (
	"bytes"
	"io"
	"io/fs"
	"os"
)

// SmallFile is the size up to which a file is read whole before it is
// sent, so that the length sent ahead of it (a tar header, a
// Content-Length) is the length read: the files of /proc and /sys report
// a size of 0 or 4096 whatever they hold (/proc/version says 0).
const SmallFile = 64 << 10

// MaxUnsized bounds how much of such a file a tar stream takes: its entry
// must be held in memory until its length is known.
const MaxUnsized = 16 << 20

// Open opens the regular file at path for reading, following a symlink
// named directly, and returns its stat.
func (f *FS) Open(path string) (*os.File, fs.FileInfo, error) {
	const op = "open"
	t, err := f.path(op, path, true)
	if err != nil {
		return nil, nil, err
	}
	file, fi, err := openRegular(t.real)
	if err != nil {
		return nil, nil, osError(op, t.shown, err)
	}
	return file, fi, nil
}

// Measure returns the content of the regular file r, whose stat gave
// size, and its exact length. A file that reports at most SmallFile bytes
// is read whole first (see SmallFile), up to max bytes: one that holds
// more is given whole by the reader, with the length -1. A bigger file is
// given as the size it reported; one that shrank meanwhile ends early.
func Measure(r io.Reader, size, max int64) (io.Reader, int64, error) {
	if size > SmallFile {
		return io.LimitReader(r, size), size, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(data)) > max {
		return io.MultiReader(bytes.NewReader(data), r), -1, nil
	}
	return bytes.NewReader(data), int64(len(data)), nil
}
