package agentd

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// dirFlags open a directory for *at calls without following a symlink.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// maxCachedDirs bounds the descriptors a dirs keeps open.
const maxCachedDirs = 256

// errNotDir says a component of a path is a symlink, or not a directory,
// where a directory must be: a snapshot or restore never goes through it.
var errNotDir = errors.New("a symlink or a non-directory is in the path")

// dirs opens directories by absolute path one component at a time from
// "/", each with O_NOFOLLOW, so no symlink anywhere in a path is ever
// followed, even one a sandbox process swaps in meanwhile. It keeps the
// descriptors it opened, as consecutive paths mostly share parents. A
// descriptor it returns is valid until the next call of open, forget or
// close. It is not safe for concurrent use.
type dirs struct {
	fds map[string]int
}

func newDirs() *dirs { return &dirs{fds: make(map[string]int)} }

// open returns a descriptor of the directory p (clean and absolute). With
// mkdir set, a missing directory for which mkdir returns true is made
// (mode 0755, owned by the agent).
func (d *dirs) open(p string, mkdir func(string) bool) (int, error) {
	if len(d.fds) >= maxCachedDirs {
		d.close()
	}
	return d.openCached(p, mkdir)
}

func (d *dirs) openCached(p string, mkdir func(string) bool) (int, error) {
	if fd, ok := d.fds[p]; ok {
		return fd, nil
	}
	var fd int
	var err error
	if p == "/" {
		fd, err = unix.Open("/", dirFlags, 0)
	} else {
		var parent int
		parent, err = d.openCached(path.Dir(p), mkdir)
		if err != nil {
			return -1, err
		}
		fd, err = openDirAt(parent, path.Base(p))
		if errors.Is(err, unix.ENOENT) && mkdir != nil && mkdir(p) {
			if err = unix.Mkdirat(parent, path.Base(p), 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				fd, err = openDirAt(parent, path.Base(p))
			}
		}
	}
	if err != nil {
		return -1, fmt.Errorf("open directory %s: %w", p, err)
	}
	d.fds[p] = fd
	return fd, nil
}

// openDirAt opens the directory name in dir without following a symlink;
// a symlink or a file there is errNotDir.
func openDirAt(dir int, name string) (int, error) {
	fd, err := unix.Openat(dir, name, dirFlags, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, errNotDir
	}
	return fd, err
}

// forget closes the descriptors of p and the directories under it, which
// are about to be removed or replaced.
func (d *dirs) forget(p string) {
	for k, fd := range d.fds {
		if under(k, p) {
			unix.Close(fd)
			delete(d.fds, k)
		}
	}
}

// close closes every descriptor kept.
func (d *dirs) close() {
	for k, fd := range d.fds {
		unix.Close(fd)
		delete(d.fds, k)
	}
}

// under reports whether p is dir or lies below it; both are clean and
// absolute.
func under(p, dir string) bool {
	if dir == "/" || p == dir {
		return true
	}
	return strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}

// splitPath returns the parent directory and the base name of p, which is
// clean, absolute and not "/".
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}
