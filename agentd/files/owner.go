package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// chown gives a file or directory this FS just created to Config.Owner. It
// does nothing when no owner is set or the process is not root (New decides
// that once). A symlink itself is changed, never its target.
func (f *FS) chown(path string) error {
	if f.owner == nil {
		return nil
	}
	return os.Lchown(path, f.owner.UID, f.owner.GID)
}

// chownRoot is chown for a name inside an os.Root.
func (f *FS) chownRoot(r *os.Root, name string) error {
	if f.owner == nil {
		return nil
	}
	return r.Lchown(name, f.owner.UID, f.owner.GID)
}

// mkdirAll creates dir and its missing parents with mode 0755 and gives each
// one it creates to the owner. Directories that already exist are left as
// they are.
func (f *FS) mkdirAll(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: d, Err: errParentNotDir}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if d == "/" {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // made meanwhile by someone else: not ours to chown
			}
			return err
		}
		if err := f.chown(d); err != nil {
			return fmt.Errorf("chown %s: %w", d, err)
		}
	}
	return nil
}

// errParentNotDir is the cause when a file stands where a parent directory
// is to be made.
var errParentNotDir = errors.New("a file is in the way where a directory is needed")
