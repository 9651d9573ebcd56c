package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds symlink expansion while resolving a path, as the kernel's
// own limit does (40 on Linux; a little more room is harmless).
const maxLinks = 64

// target is a checked path: shown is the cleaned path as the caller gave it,
// used in messages; real is where the operation goes. They differ only under
// Config.Root, where real has its symlinks resolved.
type target struct {
	shown string
	real  string
}

// checkPath refuses what is never a valid path here: empty, relative, or
// holding a NUL byte (which the kernel would cut the path at).
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("path is empty")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains a NUL byte")
	case !filepath.IsAbs(p):
		return fmt.Errorf("path %q is not absolute; it should start with /", p)
	}
	return nil
}

// path checks p for op and, under Root, resolves it and checks that it stays
// inside. With followLast false the last component is not resolved, for
// operations on a symlink itself (Stat, Lstat-like listing).
func (f *FS) path(op, p string, followLast bool) (target, error) {
	if err := checkPath(p); err != nil {
		return target{}, newError(ErrInvalid, op, "", err.Error())
	}
	t := target{shown: filepath.Clean(p)}
	t.real = t.shown
	if f.root == "" {
		return t, nil
	}
	var err error
	if followLast || t.shown == "/" {
		t.real, err = resolveExisting(t.shown)
	} else {
		var dir string
		dir, err = resolveExisting(filepath.Dir(t.shown))
		t.real = filepath.Join(dir, filepath.Base(t.shown))
	}
	if err != nil {
		return target{}, osError(op, t.shown, err)
	}
	if !within(f.root, t.real) {
		return target{}, newError(ErrInvalid, op, t.shown,
			fmt.Sprintf("path resolves to %s, which escapes the root %s", t.real, f.root))
	}
	return t, nil
}

// within reports whether p is root or lies under it; both are clean and
// absolute.
func within(root, p string) bool {
	if root == "/" || p == root {
		return true
	}
	return strings.HasPrefix(p, root+"/")
}

// resolveExisting returns p with every symlink in its existing part
// resolved, including a dangling one (whose target is where a write would
// land). The part that does not exist yet is joined on as written.
func resolveExisting(p string) (string, error) {
	rest := strings.Split(p, "/")
	resolved := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		fi, err := os.Lstat(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return filepath.Join(append([]string{next}, rest...)...), nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
		}
		link, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(link) {
			resolved = "/"
		}
		rest = append(strings.Split(link, "/"), rest...)
	}
	return resolved, nil
}
