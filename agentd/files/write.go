package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// defaultPerm is the mode of files this package creates.
const defaultPerm fs.FileMode = 0o644

// Write replaces the content of the file at path with data, creating the
// file (mode 0644, given to the Owner) and its missing parent directories.
// An existing file keeps its mode, owner and inode: it is truncated and
// rewritten in place, as an editor's "save" does. Data over MaxWriteBytes
// fails with ErrTooLarge before anything is touched.
func (f *FS) Write(path string, data []byte) error {
	return f.write("write", path, data)
}

func (f *FS) write(op, path string, data []byte) error {
	t, err := f.path(op, path, true)
	if err != nil {
		return err
	}
	if int64(len(data)) > f.maxWrite {
		return tooLargeToWrite(op, t.shown, int64(len(data)), f.maxWrite)
	}
	return f.writeTarget(op, t, data)
}

func (f *FS) writeTarget(op string, t target, data []byte) error {
	if err := f.mkdirAll(filepath.Dir(t.real)); err != nil {
		return osError(op, t.shown, err)
	}
	file, err := f.openForWrite(t.real)
	if err != nil {
		return osError(op, t.shown, err)
	}
	_, err = file.Write(data)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return osError(op, t.shown, err)
}

func tooLargeToWrite(op, path string, size, limit int64) error {
	return newError(ErrTooLarge, op, path, fmt.Sprintf("content is %s, over the %s write limit", humanSize(size), humanSize(limit)))
}

// openForWrite opens p for writing from its start: a new file is created
// with defaultPerm and given to the owner, an existing regular file is
// truncated. Anything else (directory, FIFO, device) is refused without
// blocking.
func (f *FS) openForWrite(p string) (*os.File, error) {
	const excl = os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NONBLOCK
	file, err := os.OpenFile(p, excl, defaultPerm)
	if err == nil {
		if err := f.setupNew(file, p); err != nil {
			return nil, err
		}
		return file, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	file, err = os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// p is a symlink to nothing: the write creates its target.
		file, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, defaultPerm)
		if err != nil {
			return nil, err
		}
		real, rerr := filepath.EvalSymlinks(p)
		if rerr != nil {
			real = p
		}
		if err := f.setupNew(file, real); err != nil {
			return nil, err
		}
		return file, nil
	}
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fs.PathError{Op: "write", Path: p, Err: errNotRegular}
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

// setupNew gives a file just created its mode (whatever the umask) and owner.
func (f *FS) setupNew(file *os.File, p string) error {
	err := file.Chmod(defaultPerm)
	if err == nil {
		err = f.chown(p)
	}
	if err != nil {
		file.Close()
		return err
	}
	return nil
}

// UploadFile writes the bytes of r to the file at path, creating missing
// parent directories. The bytes go to a temporary file next to it that is
// renamed over path only once complete, so a failed or oversized upload
// (over MaxWriteBytes: ErrTooLarge) leaves an existing file untouched. A
// replaced file's mode and owner carry over; a new file gets 0644 and the
// Owner. It returns the number of bytes written.
func (f *FS) UploadFile(ctx context.Context, path string, r io.Reader) (int64, error) {
	const op = "upload"
	t, err := f.path(op, path, true)
	if err != nil {
		return 0, err
	}
	real := t.real
	if fi, err := os.Lstat(real); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if r, err := filepath.EvalSymlinks(real); err == nil {
			real = r // replace the link's target, not the link
		}
	}
	if err := f.mkdirAll(filepath.Dir(real)); err != nil {
		return 0, osError(op, t.shown, err)
	}
	mode, uid, gid := defaultPerm, -1, -1
	fi, err := os.Stat(real)
	switch {
	case err == nil && fi.IsDir():
		return 0, osError(op, t.shown, &fs.PathError{Op: op, Path: real, Err: syscall.EISDIR})
	case err == nil && !fi.Mode().IsRegular():
		return 0, osError(op, t.shown, &fs.PathError{Op: op, Path: real, Err: errNotRegular})
	case err == nil:
		mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && f.isRoot {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, osError(op, t.shown, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".upload-*")
	if err != nil {
		return 0, osError(op, t.shown, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: io.LimitReader(r, f.maxWrite+1)})
	if err != nil {
		return 0, osError(op, t.shown, err)
	}
	if n > f.maxWrite {
		return 0, newError(ErrTooLarge, op, t.shown, fmt.Sprintf("upload is over the %s write limit", humanSize(f.maxWrite)))
	}
	if err := tmp.Chmod(mode); err != nil {
		return 0, osError(op, t.shown, err)
	}
	if uid >= 0 {
		err = os.Lchown(tmp.Name(), uid, gid)
	} else {
		err = f.chown(tmp.Name())
	}
	if err != nil {
		return 0, osError(op, t.shown, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, osError(op, t.shown, err)
	}
	if err := os.Rename(tmp.Name(), real); err != nil {
		return 0, osError(op, t.shown, err)
	}
	done = true
	return n, nil
}

// ctxReader stops a copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
