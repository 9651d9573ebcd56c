package agentd

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// maxWalkDepth bounds how deep a walk goes; it holds one descriptor per
// level.
const maxWalkDepth = 512

// node is what a manifest records of one path: enough of its lstat to tell,
// without reading it, whether it changed.
type node struct {
	mode         uint32 // st_mode: type and permission bits
	uid, gid     uint32
	size         int64
	mtime, ctime int64 // nanoseconds
	ino, dev     uint64
	absent       bool // a requested path that does not exist
	// racy marks a file changed so shortly before it was seen that a later
	// change may leave the same times: it is sent again next time.
	racy bool
}

// racyWindow is the coarsest tick of file timestamps: the kernel stamps a
// change with a clock that lags the fine one by up to a tick (4 ms at
// HZ=250, 10 ms at HZ=100). A change within the tick of a stat may leave
// ctime as it was; a file whose ctime is that close to the walk is racy.
const racyWindow = 10 * time.Millisecond

func nodeOf(st *unix.Stat_t) node {
	return node{
		mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino, dev: st.Dev,
	}
}

func (n node) typ() uint32 { return n.mode & unix.S_IFMT }

// same reports whether n and o show the same content and metadata. A
// write moves mtime and ctime, a chmod or chown ctime, a replacement the
// inode. A directory's mtime and size move with every entry made or
// removed in it; those entries are sent or listed deleted themselves, so a
// directory counts as changed only when it is replaced or its mode or
// owner changes.
func (n node) same(o node) bool {
	if n.absent || o.absent {
		return n.absent == o.absent
	}
	if n.mode != o.mode || n.uid != o.uid || n.gid != o.gid || n.ino != o.ino || n.dev != o.dev {
		return false
	}
	if n.typ() == unix.S_IFDIR {
		return true
	}
	return n.size == o.size && n.mtime == o.mtime && n.ctime == o.ctime
}

// manifest records a state of the files: path -> node.
type manifest map[string]node

// walker builds the manifest of the files under some roots and single
// paths and, against a previous manifest, the list of what changed.
type walker struct {
	dirs    *dirs
	exclude []string
	prev    manifest // nil: every path is new
	cur     manifest
	changed []string // new or changed paths, parents before children
	bytes   int64    // size of the changed regular files
	// racyAfter is the ctime from which a file is racy (see racyWindow).
	racyAfter int64
}

func newWalker(d *dirs, exclude []string, prev manifest) *walker {
	return &walker{
		dirs: d, exclude: exclude, prev: prev, cur: make(manifest, len(prev)),
		racyAfter: time.Now().Add(-racyWindow).UnixNano(),
	}
}

func (w *walker) excluded(p string) bool {
	for _, e := range w.exclude {
		if under(p, e) {
			return true
		}
	}
	return false
}

// root walks the tree at p. A root that does not exist is recorded absent.
func (w *walker) root(p string) error {
	if w.excluded(p) {
		return nil
	}
	if p == "/" {
		var st unix.Stat_t
		if err := unix.Lstat("/", &st); err != nil {
			return fmt.Errorf("walk /: %w", err)
		}
		w.add(p, &st)
		fd, err := unix.Open("/", dirFlags, 0)
		if err != nil {
			return fmt.Errorf("walk /: %w", err)
		}
		return w.dir(fd, p, 0)
	}
	parent, st, err := w.lstat(p)
	if err != nil || st == nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	_, name := splitPath(p)
	fd, err := openDirAt(parent, name)
	if err != nil {
		if gone(err) {
			delete(w.cur, p) // replaced since the lstat: seen next time
			return nil
		}
		return fmt.Errorf("walk %s: %w", p, err)
	}
	return w.dir(fd, p, 0)
}

// single records the path p, without walking into it if it is a directory.
func (w *walker) single(p string) error {
	if w.excluded(p) {
		return nil
	}
	if p == "/" {
		var st unix.Stat_t
		if err := unix.Lstat("/", &st); err != nil {
			return fmt.Errorf("stat /: %w", err)
		}
		w.add(p, &st)
		return nil
	}
	_, _, err := w.lstat(p)
	return err
}

// lstat records p from its parent directory, opened without following a
// symlink, and returns that directory's descriptor and p's stat: nil when p
// does not exist (recorded absent) or is of a kind not kept (device, FIFO,
// socket).
func (w *walker) lstat(p string) (int, *unix.Stat_t, error) {
	dir, name := splitPath(p)
	parent, err := w.dirs.open(dir, nil)
	if err != nil {
		if gone(err) {
			w.absent(p)
			return -1, nil, nil
		}
		return -1, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if gone(err) {
			w.absent(p)
			return -1, nil, nil
		}
		return -1, nil, fmt.Errorf("stat %s: %w", p, err)
	}
	if !kept(st.Mode) {
		return parent, nil, nil
	}
	w.add(p, &st)
	return parent, &st, nil
}

// gone reports whether err means the path is not there (any more), or is
// not reachable without following a symlink.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, errNotDir) || errors.Is(err, unix.ELOOP)
}

// kept reports whether a file of this mode is snapshotted: regular files,
// directories and symlinks. Devices, FIFOs and sockets are left out.
func kept(mode uint32) bool {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR, unix.S_IFLNK:
		return true
	}
	return false
}

func (w *walker) absent(p string) {
	if _, seen := w.cur[p]; !seen {
		w.cur[p] = node{absent: true}
	}
}

// add records p, once, and notes it changed when it differs from prev.
func (w *walker) add(p string, st *unix.Stat_t) {
	if _, seen := w.cur[p]; seen {
		return // roots and paths may overlap
	}
	n := nodeOf(st)
	n.racy = n.ctime >= w.racyAfter && n.typ() != unix.S_IFDIR
	w.cur[p] = n
	if old, ok := w.prev[p]; ok && !old.racy && old.same(n) {
		return
	}
	w.changed = append(w.changed, p)
	if n.typ() == unix.S_IFREG {
		w.bytes += n.size
	}
}

// dir walks the directory open as fd, which it closes, in name order.
func (w *walker) dir(fd int, p string, depth int) error {
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if depth >= maxWalkDepth {
		return fmt.Errorf("walk %s: deeper than %d levels", p, maxWalkDepth)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		if gone(err) {
			delete(w.cur, p) // removed while listed: seen next time
			return nil
		}
		return fmt.Errorf("walk %s: %w", p, err)
	}
	sort.Strings(names)
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for _, name := range names {
		child := prefix + name
		if w.excluded(child) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if gone(err) {
				continue // removed meanwhile
			}
			return fmt.Errorf("stat %s: %w", child, err)
		}
		if !kept(st.Mode) {
			continue
		}
		w.add(child, &st)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := openDirAt(fd, name)
		if err != nil {
			if gone(err) {
				delete(w.cur, child) // replaced since the stat: seen next time
				continue
			}
			return fmt.Errorf("walk %s: %w", child, err)
		}
		if err := w.dir(sub, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// deleted lists, sorted, the paths of prev that are not in cur, and the
// paths of cur newly recorded absent.
func (w *walker) deleted() []string {
	var out []string
	for p, n := range w.prev {
		if n.absent {
			continue
		}
		if c, ok := w.cur[p]; !ok || c.absent {
			out = append(out, p)
		}
	}
	for p, n := range w.cur {
		if !n.absent {
			continue
		}
		// One present before was listed above; one absent before is old news.
		if _, ok := w.prev[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// cleanPaths checks that every path is absolute, clean and free of NUL
// bytes, as a path the agent walks or writes must be.
func cleanPaths(field string, ps []string) error {
	for _, p := range ps {
		if p == "" || p[0] != '/' || path.Clean(p) != p || containsNUL(p) {
			return errorf(400, "%s: %q is not a clean absolute path", field, p)
		}
	}
	return nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
