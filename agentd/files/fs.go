package files

import (
	"fmt"
	"os"
	"path/filepath"
)

// Default limits, used where Config leaves a field at zero.
const (
	DefaultMaxReadBytes     int64 = 10 << 20 // 10 MiB: the OpenHands editor's limit
	DefaultMaxWriteBytes    int64 = 64 << 20
	DefaultMaxUploadBytes   int64 = 1 << 30 // sum of the regular files in one tar
	DefaultMaxUploadEntries       = 200_000
)

// Config configures an FS. The zero value is usable: no root, no owner,
// default limits.
type Config struct {
	// Root, when set, confines every path to this directory tree: a path
	// must resolve inside it after cleaning and after resolving the symlinks
	// of its existing part, else the call fails with ErrInvalid.
	Root string
	// Owner, when set and the process runs as root, owns every file and
	// directory this FS creates.
	Owner *Owner
	// MaxReadBytes caps the size of a file that Read, the editor and Grep
	// load (Grep skips larger files).
	MaxReadBytes int64
	// MaxWriteBytes caps one Write, one UploadFile and one editor result.
	MaxWriteBytes int64
	// MaxUploadBytes caps the total size of the files in one tar Upload,
	// and MaxUploadEntries the number of its entries.
	MaxUploadBytes   int64
	MaxUploadEntries int
}

// Owner is the user and group that created files and directories are
// given (chown) when the agent runs as root.
type Owner struct {
	UID, GID int
}

// FS does file operations on the local file system under the limits and
// ownership of its Config. It holds no mutable state and is safe for
// concurrent use.
type FS struct {
	root      string // resolved Config.Root, "" when unconfined
	isRoot    bool   // the process runs as root and may give files away
	owner     *Owner // nil when chown is skipped
	maxRead   int64
	maxWrite  int64
	maxUpload int64
	maxEntry  int
}

// New returns an FS for cfg. It fails when Root is set but is not an
// absolute path to an existing directory.
func New(cfg Config) (*FS, error) {
	f := &FS{
		maxRead:   orDefault(cfg.MaxReadBytes, DefaultMaxReadBytes),
		maxWrite:  orDefault(cfg.MaxWriteBytes, DefaultMaxWriteBytes),
		maxUpload: orDefault(cfg.MaxUploadBytes, DefaultMaxUploadBytes),
		maxEntry:  int(orDefault(int64(cfg.MaxUploadEntries), DefaultMaxUploadEntries)),
	}
	f.isRoot = os.Geteuid() == 0
	f.owner = ownerFor(cfg.Owner, f.isRoot)
	if cfg.Root != "" {
		if !filepath.IsAbs(cfg.Root) {
			return nil, fmt.Errorf("files: root %q is not an absolute path", cfg.Root)
		}
		r, err := filepath.EvalSymlinks(cfg.Root)
		if err != nil {
			return nil, fmt.Errorf("files: root: %w", err)
		}
		st, err := os.Stat(r)
		if err != nil {
			return nil, fmt.Errorf("files: root: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("files: root %s is not a directory", cfg.Root)
		}
		f.root = r
	}
	return f, nil
}

func orDefault(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// ownerFor returns the owner to give created files, or nil when chown is to
// be skipped: no owner set, or not root (chown to another user would fail).
func ownerFor(o *Owner, isRoot bool) *Owner {
	if o == nil || !isRoot {
		return nil
	}
	c := *o
	return &c
}

// MaxWriteBytes is the largest Write, UploadFile or editor result allowed.
func (f *FS) MaxWriteBytes() int64 { return f.maxWrite }
