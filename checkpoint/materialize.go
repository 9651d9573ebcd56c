package checkpoint

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Materialize writes the part of owner's checkpoint id under root (an
// absolute path in the sandbox) as a new folder dir of this host: root's
// own entry gives dir its mode, owners and time, and every path under root
// becomes the same path under dir, with the checkpoint's modes, owners
// (when this process runs as root) and modification times. It returns the
// entries and content bytes written.
//
// dir must not exist; it is made, with everything in it, by this call
// alone, so nothing in it is ever followed: each file is created with
// O_EXCL and O_NOFOLLOW, and a path is written only under folders this
// call made (an entry under a symlink or a file of the checkpoint, which
// no real tree holds, is skipped). On error dir is removed.
func (s *Store) Materialize(owner, id, root, dir string) (files int, bytes int64, err error) {
	if err := validPath(root); err != nil {
		return 0, 0, fmt.Errorf("checkpoint: materialize: root: %w", err)
	}
	state, err := s.State(owner, id)
	if err != nil {
		return 0, 0, fmt.Errorf("checkpoint: materialize: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, 0, fmt.Errorf("checkpoint: materialize: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	w := materializer{s: s, dir: dir, dirs: map[string]bool{".": true}, chown: os.Geteuid() == 0}
	paths := make([]string, 0, len(state))
	for p := range state {
		if p == root || strings.HasPrefix(p, root+"/") {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths) // a folder before what it holds
	for _, p := range paths {
		rel := "."
		if p != root {
			rel = strings.TrimPrefix(p, root+"/")
		}
		if rel != "." && !w.parentMade(rel) {
			continue // under a symlink or a file of the checkpoint
		}
		n, err := w.write(rel, state[p])
		if err != nil {
			return files, bytes, fmt.Errorf("checkpoint: materialize %s/%s: %s: %w", owner, id, p, err)
		}
		files++
		bytes += n
	}
	// Folders' times last, deepest first: writing in a folder moves them.
	for _, d := range slices.Backward(w.dirTimes) {
		if err := w.attrs(d.rel, d.e, false); err != nil {
			return files, bytes, fmt.Errorf("checkpoint: materialize %s/%s: %w", owner, id, err)
		}
	}
	return files, bytes, nil
}

// materializer writes entries under dir.
type materializer struct {
	s     *Store
	dir   string
	dirs  map[string]bool // folders made here, relative to dir ("." itself)
	chown bool
	// dirTimes are the folders whose mode and times are set at the end.
	dirTimes []dirEntry
}

type dirEntry struct {
	rel string
	e   Entry
}

// write writes one entry at rel, under dir, whose folder was made here.
// It returns the content bytes written.
func (w *materializer) write(rel string, e Entry) (int64, error) {
	full := filepath.Join(w.dir, rel)
	switch e.Type {
	case tar.TypeDir:
		if rel != "." {
			if err := os.Mkdir(full, 0o700); err != nil {
				return 0, err
			}
			w.dirs[rel] = true
		}
		w.dirTimes = append(w.dirTimes, dirEntry{rel, e})
		return 0, nil
	case tar.TypeSymlink:
		if rel == "." {
			return 0, nil
		}
		if err := os.Symlink(e.Link, full); err != nil {
			return 0, err
		}
		return 0, w.attrs(rel, e, true)
	case tar.TypeReg:
		if rel == "." {
			return 0, nil
		}
		n, err := w.file(full, e)
		if err != nil {
			return n, err
		}
		return n, w.attrs(rel, e, false)
	}
	return 0, nil // the store keeps no other kind
}

// parentMade reports whether the folder holding rel was made here,
// making the folders missing on the way (a checkpoint may lack them).
func (w *materializer) parentMade(rel string) bool {
	parent := path.Dir(rel)
	if w.dirs[parent] {
		return true
	}
	if !w.parentMade(parent) {
		return false
	}
	if err := os.Mkdir(filepath.Join(w.dir, parent), 0o755); err != nil {
		return false // a symlink or a file is there
	}
	w.dirs[parent] = true
	return true
}

// file writes a regular file's content from its blob.
func (w *materializer) file(full string, e Entry) (int64, error) {
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if e.Size == 0 && e.Blob == "" {
		return 0, f.Close()
	}
	blob, err := os.Open(w.s.blobPath(e.Blob))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", e.Blob, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	defer blob.Close()
	n, err := io.CopyN(f, blob, e.Size)
	if err != nil {
		return n, fmt.Errorf("blob %s: %w", e.Blob, err)
	}
	return n, f.Close()
}

// attrs gives the path rel its owners, mode and modification time, never
// following a symlink (whose mode Linux does not keep).
func (w *materializer) attrs(rel string, e Entry, symlink bool) error {
	full := filepath.Join(w.dir, rel)
	if w.chown {
		if err := unix.Lchown(full, e.UID, e.GID); err != nil {
			return fmt.Errorf("chown %s: %w", rel, err)
		}
	}
	if !symlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, full, uint32(e.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod %s: %w", rel, err)
		}
	}
	if e.ModTime.IsZero() {
		return nil
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.ModTime.UnixNano()), unix.NsecToTimespec(e.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, full, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("times of %s: %w", rel, err)
	}
	return nil
}
