package agentd

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gohands/gohands/agentapi"
)

// Bounds of a restore stream.
const (
	maxRestoreHeader  = 64 << 20 // the JSON header, deletions included
	maxRestoreEntries = 4 << 20
)

// restore applies a restore stream: the deletions of its header, then its
// entries, each only under the header's roots (or at one of its paths) and
// never through a symlink; then it walks the roots to make the new
// generation.
func (sn *snapshots) restore(w http.ResponseWriter, r *http.Request) error {
	tr := tar.NewReader(r.Body)
	hdr, err := tr.Next()
	if err != nil {
		return errorf(http.StatusBadRequest, "not a tar stream: %v", err)
	}
	if hdr.Name != agentapi.RestoreHeaderName || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != typeRegA) {
		return errorf(http.StatusBadRequest, "the first entry must be the file %s, not %q", agentapi.RestoreHeaderName, hdr.Name)
	}
	var h agentapi.RestoreHeader
	if err := decodeJSON(io.LimitReader(tr, maxRestoreHeader+1), maxRestoreHeader, &h); err != nil {
		return err
	}
	if len(h.Roots) == 0 {
		return errorf(http.StatusUnprocessableEntity, "roots: give at least one root")
	}
	for field, ps := range map[string][]string{"roots": h.Roots, "paths": h.Paths, "exclude": h.Exclude} {
		if err := cleanPaths(field, ps); err != nil {
			return err
		}
	}

	sn.mu.Lock()
	defer sn.mu.Unlock()
	x := &restorer{h: h, dirs: newDirs(), chown: sn.chown, paths: make(map[string]bool, len(h.Paths))}
	defer x.dirs.close()
	for _, p := range h.Paths {
		x.paths[p] = true
	}
	// Every deletion is checked before the first is made.
	dels := make([]string, len(h.Delete))
	for i, name := range h.Delete {
		p, err := x.checkDelete(name)
		if err != nil {
			return err
		}
		dels[i] = p
	}
	for i, p := range dels {
		if err := x.remove(h.Delete[i], p); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errorf(http.StatusBadRequest, "not a valid tar stream: %v", err)
		}
		if n >= maxRestoreEntries {
			return errorf(http.StatusRequestEntityTooLarge, "the tar has more than %d entries", maxRestoreEntries)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	if err := x.finish(); err != nil {
		return err
	}

	// Let the timestamp clock pass the restore's writes, so that none is
	// racy in the new generation (see racyWindow) and a snapshot since it
	// is empty until something changes.
	time.Sleep(racyWindow + 2*time.Millisecond)
	d := newDirs()
	defer d.close()
	wk := newWalker(d, h.Exclude, nil)
	if err := walkAll(wk, h.Roots, h.Paths); err != nil {
		return err
	}
	x.res.Generation = sn.newGeneration()
	sn.keep(x.res.Generation, wk.cur)
	writeJSON(w, http.StatusOK, x.res)
	return nil
}

// restorer holds the state of one restore.
type restorer struct {
	h       agentapi.RestoreHeader
	dirs    *dirs
	chown   bool
	paths   map[string]bool
	pending []dirMeta // directories' modes and times, set once their contents are in
	res     agentapi.RestoreResult
}

type dirMeta struct {
	path string
	hdr  *tar.Header
}

// restorePath turns a tar entry name or a deletion into a clean absolute
// path, refusing any ".." component (a relative name is read from "/").
func restorePath(name string) (string, error) {
	if name == "" || containsNUL(name) {
		return "", errors.New("empty or holds a NUL byte")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`climbs with ".."`)
		}
	}
	return path.Clean("/" + name), nil
}

func (x *restorer) excluded(p string) bool {
	for _, e := range x.h.Exclude {
		if under(p, e) {
			return true
		}
	}
	return false
}

// allowed reports whether p may be written or deleted: under a root or one
// of the single paths, and not excluded.
func (x *restorer) allowed(p string) bool {
	if x.excluded(p) {
		return false
	}
	if x.paths[p] {
		return true
	}
	for _, r := range x.h.Roots {
		if under(p, r) {
			return true
		}
	}
	return false
}

// mkdirOK reports whether a missing directory p may be made: under a root.
func (x *restorer) mkdirOK(p string) bool {
	if x.excluded(p) {
		return false
	}
	for _, r := range x.h.Roots {
		if under(p, r) {
			return true
		}
	}
	return false
}

func (x *restorer) isRoot(p string) bool {
	for _, r := range x.h.Roots {
		if p == r {
			return true
		}
	}
	return false
}

func refused(name, format string, args ...any) error {
	return errorf(http.StatusBadRequest, "entry %q: %s", name, fmt.Sprintf(format, args...))
}

// ioError turns a failed system call on entry name into an HTTP error.
func ioError(name string, err error) error {
	switch {
	case errors.Is(err, errNotDir), errors.Is(err, unix.ELOOP):
		return refused(name, "a symlink or a file is in the path; not written through")
	case errors.Is(err, unix.ENOENT):
		return errorf(http.StatusConflict, "entry %q: a parent directory outside the roots is missing: %v", name, err)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return errorf(http.StatusInsufficientStorage, "entry %q: %v", name, err)
	}
	return errorf(http.StatusInternalServerError, "entry %q: %v", name, err)
}

// parent opens the directory that holds p, making missing ones under a
// root.
func (x *restorer) parent(name, p string) (int, string, error) {
	dir, base := splitPath(p)
	fd, err := x.dirs.open(dir, x.mkdirOK)
	if err != nil {
		return -1, "", ioError(name, err)
	}
	return fd, base, nil
}

// checkDelete returns the path a deletion names, or why it is refused.
func (x *restorer) checkDelete(name string) (string, error) {
	p, err := restorePath(name)
	if err != nil {
		return "", refused(name, "%v", err)
	}
	if !x.allowed(p) {
		return "", refused(name, "deletion outside the roots")
	}
	if x.isRoot(p) || p == "/" {
		return "", refused(name, "a root is not deleted")
	}
	return p, nil
}

// remove deletes p (as the header named it, name), a directory with all it
// holds. Missing, or beyond a symlink, it is not there: nothing to do.
func (x *restorer) remove(name, p string) error {
	dir, base := splitPath(p)
	parent, err := x.dirs.open(dir, nil)
	if gone(err) {
		return nil
	}
	if err != nil {
		return ioError(name, err)
	}
	x.dirs.forget(p)
	existed, err := removeAt(parent, base, 0)
	if err != nil {
		return ioError(name, err)
	}
	if existed {
		x.res.Deleted++
	}
	return nil
}

// removeAt removes name in dir and, if it is a directory, all it holds,
// never following a symlink. It reports whether name existed.
func removeAt(dir int, name string, depth int) (bool, error) {
	err := unix.Unlinkat(dir, name, 0)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case !errors.Is(err, unix.EISDIR):
		return false, err
	}
	if depth >= maxWalkDepth {
		return false, fmt.Errorf("remove %s: deeper than %d levels", name, maxWalkDepth)
	}
	fd, err := openDirAt(dir, name)
	if errors.Is(err, errNotDir) {
		return removeAt(dir, name, depth) // replaced meanwhile
	}
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	for _, n := range names {
		if err != nil {
			break
		}
		_, err = removeAt(fd, n, depth+1)
	}
	f.Close()
	if err != nil {
		return false, err
	}
	if err := unix.Unlinkat(dir, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, err
	}
	return true, nil
}

// clearAt removes what stands at name in dir, except a directory when
// keepDir is set; it reports whether a directory is left there.
func (x *restorer) clearAt(dir int, p, name string, keepDir bool) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		x.dirs.forget(p)
	}
	_, err := removeAt(dir, name, 0)
	return false, err
}

func (x *restorer) entry(hdr *tar.Header, body io.Reader) error {
	p, err := restorePath(hdr.Name)
	if err != nil {
		return refused(hdr.Name, "%v", err)
	}
	if x.excluded(p) {
		return refused(hdr.Name, "under an excluded path")
	}
	if !x.allowed(p) {
		return refused(hdr.Name, "outside the roots")
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeDir:
		return x.mkdir(p, hdr)
	}
	if x.isRoot(p) || p == "/" {
		return refused(hdr.Name, "a root must stay a directory")
	}
	switch hdr.Typeflag {
	case tar.TypeReg, typeRegA:
		return x.file(p, hdr, body)
	case tar.TypeSymlink:
		return x.symlink(p, hdr)
	}
	return refused(hdr.Name, "type %q is not restored", hdr.Typeflag)
}

func (x *restorer) file(p string, hdr *tar.Header, body io.Reader) error {
	if hdr.Size < 0 {
		return refused(hdr.Name, "negative size")
	}
	dir, name, err := x.parent(hdr.Name, p)
	if err != nil {
		return err
	}
	fd, oldSize := x.reuseFile(dir, name, hdr)
	if fd < 0 {
		if _, err := x.clearAt(dir, p, name, false); err != nil {
			return ioError(hdr.Name, err)
		}
		fd, err = unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return ioError(hdr.Name, err)
		}
	}
	f := os.NewFile(uintptr(fd), p)
	n, err := io.CopyN(f, body, hdr.Size)
	x.res.Bytes += n
	if err == nil && oldSize > hdr.Size {
		err = unix.Ftruncate(fd, hdr.Size)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) {
			return refused(hdr.Name, "the tar stream ends inside it")
		}
		return ioError(hdr.Name, err)
	}
	if x.chown {
		err = unix.Fchown(fd, hdr.Uid, hdr.Gid)
	}
	if err == nil {
		err = unix.Fchmod(fd, uint32(hdr.Mode&0o7777)) // after chown, which drops set-id bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = setTimes(dir, name, hdr.ModTime)
	}
	if err != nil {
		return ioError(hdr.Name, err)
	}
	x.res.Files++
	return nil
}

// reuseFile opens the regular file name in dir for rewriting in place,
// and returns it and its size, when that is safe: it is a regular file with
// no other hard link (writing it changes nothing elsewhere), with the mode
// and owner hdr gives (so no process that may read it now is denied the
// new content, nor one that may not read it later is let in through a
// descriptor held open), the same file before and after the open. Else, or on any error, it returns -1 and the
// caller replaces the file. Writing over the old blocks, then cutting what
// is left, spares the file system freeing and allocating them again: on
// ext4 mounted with discard, unlinking or emptying a file is what costs.
func (x *restorer) reuseFile(dir int, name string, hdr *tar.Header) (int, int64) {
	var before, after unix.Stat_t
	if unix.Fstatat(dir, name, &before, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		before.Mode&unix.S_IFMT != unix.S_IFREG || before.Nlink != 1 ||
		int64(before.Mode&0o7777) != hdr.Mode&0o7777 ||
		(x.chown && (int(before.Uid) != hdr.Uid || int(before.Gid) != hdr.Gid)) {
		return -1, 0
	}
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0
	}
	if unix.Fstat(fd, &after) != nil || after.Ino != before.Ino || after.Dev != before.Dev ||
		after.Mode != before.Mode || after.Uid != before.Uid || after.Gid != before.Gid || after.Nlink != 1 {
		unix.Close(fd)
		return -1, 0
	}
	return fd, after.Size
}

func (x *restorer) symlink(p string, hdr *tar.Header) error {
	if hdr.Linkname == "" || containsNUL(hdr.Linkname) {
		return refused(hdr.Name, "symlink with an empty or NUL-holding target")
	}
	dir, name, err := x.parent(hdr.Name, p)
	if err != nil {
		return err
	}
	if _, err := x.clearAt(dir, p, name, false); err != nil {
		return ioError(hdr.Name, err)
	}
	err = unix.Symlinkat(hdr.Linkname, dir, name)
	if err == nil && x.chown {
		err = unix.Fchownat(dir, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		err = setTimes(dir, name, hdr.ModTime)
	}
	if err != nil {
		return ioError(hdr.Name, err)
	}
	x.res.Files++
	return nil
}

func (x *restorer) mkdir(p string, hdr *tar.Header) error {
	if p != "/" {
		dir, name, err := x.parent(hdr.Name, p)
		if err != nil {
			return err
		}
		isDir, err := x.clearAt(dir, p, name, true)
		if err == nil && !isDir {
			err = unix.Mkdirat(dir, name, 0o700) // its mode is set last
		}
		if err != nil {
			return ioError(hdr.Name, err)
		}
	}
	x.pending = append(x.pending, dirMeta{p, hdr})
	x.res.Files++
	return nil
}

// finish sets the owners, modes and times of the directories restored,
// deepest first, as writing in a directory moves its mtime.
func (x *restorer) finish() error {
	sort.Slice(x.pending, func(i, j int) bool { return x.pending[i].path > x.pending[j].path })
	for _, d := range x.pending {
		fd, err := x.dirs.open(d.path, nil)
		if err == nil && x.chown {
			err = unix.Fchown(fd, d.hdr.Uid, d.hdr.Gid)
		}
		if err == nil {
			err = unix.Fchmod(fd, uint32(d.hdr.Mode&0o7777))
		}
		if err == nil {
			if d.path == "/" {
				err = setTimes(unix.AT_FDCWD, "/", d.hdr.ModTime)
			} else {
				dir, name := splitPath(d.path)
				var parent int
				if parent, err = x.dirs.open(dir, nil); err == nil {
					err = setTimes(parent, name, d.hdr.ModTime)
				}
			}
		}
		if err != nil {
			return ioError(d.hdr.Name, err)
		}
	}
	return nil
}

// setTimes sets the access and modification times of name in dir, or of a
// symlink itself.
func setTimes(dir int, name string, mtime time.Time) error {
	if mtime.IsZero() {
		return nil
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(dir, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// typeRegA is the type flag of a regular file in old tars.
const typeRegA = '\x00'
