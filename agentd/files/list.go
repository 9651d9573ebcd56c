package files

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gohands/gohands/agentapi"
)

// Entry types.
const (
	TypeFile    = agentapi.TypeFile
	TypeDir     = agentapi.TypeDir
	TypeSymlink = agentapi.TypeSymlink
	TypeOther   = agentapi.TypeOther
)

// DefaultListLimit bounds the entries List returns.
const DefaultListLimit = 10_000

// Entry describes one file system entry, without following a symlink.
type Entry = agentapi.FileEntry

func entryOf(path string, fi fs.FileInfo) Entry {
	e := Entry{
		Name:    fi.Name(),
		Path:    path,
		Size:    fi.Size(),
		Mode:    fi.Mode(),
		ModTime: fi.ModTime().UTC(),
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type = TypeFile
	case m.IsDir():
		e.Type = TypeDir
	case m&fs.ModeSymlink != 0:
		e.Type = TypeSymlink
		e.Target, _ = os.Readlink(path)
	default:
		e.Type = TypeOther
	}
	return e
}

// Stat describes the entry at path; a symlink is described, not followed.
func (f *FS) Stat(path string) (Entry, error) {
	const op = "stat"
	t, err := f.path(op, path, false)
	if err != nil {
		return Entry{}, err
	}
	fi, err := os.Lstat(t.real)
	if err != nil {
		return Entry{}, osError(op, t.shown, err)
	}
	e := entryOf(t.real, fi)
	e.Path = t.shown
	if t.shown == "/" {
		e.Name = "/"
	}
	if real, err := resolveExisting(t.shown); err == nil {
		e.Real = real
	}
	return e, nil
}

// ListOptions shape a List.
type ListOptions struct {
	// Depth is how many levels to descend: 1 (or 0) lists the directory's
	// own entries, 2 also its subdirectories' entries, and so on. Symlinks
	// to directories are listed, not entered.
	Depth int
	// Limit bounds the entries returned; 0 means DefaultListLimit.
	Limit int
}

// Listing is what List returns.
type Listing = agentapi.Listing

// List returns the entries of the directory at path, hidden ones included,
// down to opts.Depth levels: depth first, each directory's entries by name,
// a directory's contents right after it.
func (f *FS) List(ctx context.Context, path string, opts ListOptions) (Listing, error) {
	const op = "list"
	t, err := f.path(op, path, true)
	if err != nil {
		return Listing{}, err
	}
	depth := max(opts.Depth, 1)
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	fi, err := os.Stat(t.real)
	if err != nil {
		return Listing{}, osError(op, t.shown, err)
	}
	if !fi.IsDir() {
		return Listing{}, newError(ErrInvalid, op, t.shown, "not a directory; use stat for a single file")
	}
	l := Listing{Path: t.shown, Entries: []Entry{}}
	var walk func(real, shown string, level int) error
	walk = func(real, shown string, level int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(real)
		if err != nil {
			if level > 1 {
				return nil // an unreadable subdirectory is listed without children
			}
			return err
		}
		for _, d := range ents {
			if len(l.Entries) >= limit {
				l.Truncated = true
				return nil
			}
			info, err := d.Info()
			if err != nil {
				continue // removed meanwhile
			}
			e := entryOf(filepath.Join(real, d.Name()), info)
			e.Path = filepath.Join(shown, d.Name())
			l.Entries = append(l.Entries, e)
			if d.IsDir() && level < depth {
				if err := walk(filepath.Join(real, d.Name()), e.Path, level+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(t.real, t.shown, 1); err != nil {
		return Listing{}, osError(op, t.shown, err)
	}
	return l, nil
}
