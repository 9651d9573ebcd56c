// Package checkpoint keeps the filesystem checkpoints of GoHands sandboxes on
// the server: the snapshot tars a runtime-agent sends after a step, stored as
// content-addressed file blobs plus one change list per checkpoint, so that a
// conversation can be forked or rewound together with its files.
//
// Layout under the store's folder:
//
//	blobs/<sha256[:2]>/<sha256>   file contents, one file per distinct content
//	checkpoints.db                bbolt: per owner the checkpoints and their change lists,
//	                              and a reference count per blob
//	tmp/                          blobs being written (renamed into blobs/ when complete)
//	journal/                      per Record in progress, the blobs it added
//
// A checkpoint's full state (a [Manifest]) is the fold of its chain: the
// change lists from the newest full one up to it. Forks reference the same
// blobs ([Store.Copy]); a blob is removed when no change list references it.
//
// Durability: a blob is written under a temporary name and renamed into
// blobs/ before the checkpoint that references it is committed, and its name
// is appended to the Record's journal before the rename. What a kill -9
// leaves (temporary files, blobs of a Record that never committed, blobs of
// a deletion that committed but had not yet removed them) is collected by
// [Open] from tmp/, journal/ and a list of freed blobs, without walking
// blobs/.
//
// The snapshot tar comes from a sandbox and is untrusted: it is parsed with
// bounds on entry count, name length and content bytes, names must be
// absolute and clean, and nothing of it is ever extracted on the host.
//
// A Store is safe for concurrent use.
package checkpoint

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such owner or checkpoint (or parent checkpoint).
	ErrNotFound = errors.New("checkpoint not found")
	// ErrInvalid: a snapshot tar that breaks the format or its bounds, or an
	// argument the store cannot take (an empty owner, a relative root).
	ErrInvalid = errors.New("invalid snapshot")
	// ErrTooLarge: the snapshot holds more file content than the limit
	// given to Record.
	ErrTooLarge = errors.New("snapshot too large")
	// ErrTruncated: the agent itself said its snapshot was cut short.
	ErrTruncated = errors.New("snapshot truncated by the agent")
)

// Bounds on an untrusted snapshot tar.
const (
	// MaxEntries bounds the entries of one snapshot plus its deleted paths.
	MaxEntries = 1_000_000
	// MaxNameLen bounds a path or a symlink target, in bytes.
	MaxNameLen = 4096
	// maxTrailerSize bounds the trailer's JSON (it lists deleted paths).
	maxTrailerSize = 64 << 20
	// maxOwnerLen bounds an owner (a conversation id).
	maxOwnerLen = 256
)

// Default per-owner bounds.
const (
	DefaultMaxCount = 200
	DefaultMaxBytes = 2 << 30
)

// Options configure a Store. MaxCount and MaxBytes bound what one owner (a
// conversation) keeps: past either, its oldest checkpoint is squashed into
// the next one (see [Store.Record]).
type Options struct {
	// Dir is the store's folder, used when Open is given "".
	Dir string
	// MaxCount is the most checkpoints an owner keeps; 0 means DefaultMaxCount.
	MaxCount int
	// MaxBytes bounds the blob bytes an owner's checkpoints reference, each
	// checkpoint counting the distinct contents of its own change list (a
	// content shared by two checkpoints counts twice, so this is an upper
	// bound of what deleting the owner frees); 0 means DefaultMaxBytes.
	MaxBytes int64
	// Logger receives the store's few log lines; nil discards them.
	Logger *slog.Logger
	// NoSync skips flushing new blobs and the database to disk before a
	// checkpoint is committed. A kill -9 still leaves a consistent store; a
	// power cut may not. For tests and fuzzing.
	NoSync bool
}

// Entry is one path of a state, as the agent's tar described it.
type Entry struct {
	Type    byte      `json:"type"` // a tar type flag: tar.TypeReg, TypeDir, TypeSymlink
	Mode    int64     `json:"mode"` // permission bits (with setuid, setgid, sticky)
	UID     int       `json:"uid"`
	GID     int       `json:"gid"`
	Size    int64     `json:"size,omitempty"`
	Blob    string    `json:"blob,omitempty"` // sha256 hex of a regular file's content
	Link    string    `json:"link,omitempty"` // a symlink's target
	ModTime time.Time `json:"mtime"`
}

// Manifest is a full state: path to entry.
type Manifest map[string]Entry

// Checkpoint describes one recorded checkpoint.
type Checkpoint struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`  // the conversation it belongs to
	Seq        int64     `json:"seq"`    // the event seq it follows
	Parent     string    `json:"parent"` // the checkpoint it is a change from; "" for a base
	Generation string    `json:"generation"`
	Files      int       `json:"files"` // entries in its change list
	Bytes      int64     `json:"bytes"` // blob bytes it added to the disk
	Created    time.Time `json:"created"`
}

// Store holds checkpoints. Open one per folder.
type Store struct {
	dir      string
	db       *bbolt.DB
	log      *slog.Logger
	maxCount int
	maxBytes int64
	noSync   bool
	// maxEntries is MaxEntries (tests lower it).
	maxEntries int

	// pinMu guards pins and deferred, and is held while a blob file is
	// removed. A Record pins every blob it uses (found on disk or written)
	// until its commit counted the reference, so that a removal never takes
	// a file a commit is about to reference; a removal of a pinned blob is
	// deferred to its last unpin. No lock is held while a sandbox's tar is
	// read: a slow sandbox delays nobody else.
	pinMu    sync.Mutex
	pins     map[string]int
	deferred map[string]bool
	// delMu serializes the updates that free blobs (deletion, squash), so
	// that each finds the garbage list of the one before it finished.
	delMu sync.Mutex

	// beforeCommit, when set (tests), runs between a Record's last blob
	// and its commit.
	beforeCommit func()

	count atomic.Int64 // checkpoints stored
	bytes atomic.Int64 // blob bytes referenced
}

// bbolt buckets.
var (
	bucketOwners  = []byte("owners")  // owner -> {meta: id -> record, changes: id -> changeList}
	bucketRefs    = []byte("refs")    // blob -> count (8 bytes) + size (8 bytes)
	bucketGarbage = []byte("garbage") // blob -> "": freed, its file maybe not yet removed
	bucketMeta    = []byte("meta")
	bucketChanges = []byte("changes")
)

// Open opens (creating it if needed) the store in dir, or in opts.Dir when
// dir is "", and collects what a killed process left behind.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		dir = opts.Dir
	}
	if dir == "" {
		return nil, fmt.Errorf("checkpoint: open: no folder: %w", ErrInvalid)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		dir:        dir,
		log:        logger.With("component", "checkpoint"),
		maxCount:   opts.MaxCount,
		maxBytes:   opts.MaxBytes,
		noSync:     opts.NoSync,
		maxEntries: MaxEntries,
		pins:       map[string]int{},
		deferred:   map[string]bool{},
	}
	if s.maxCount <= 0 {
		s.maxCount = DefaultMaxCount
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	for _, sub := range []string{"blobs", "tmp", "journal"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("checkpoint: open %s: %w", dir, err)
		}
	}
	db, err := bbolt.Open(filepath.Join(dir, "checkpoints.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", dir, err)
	}
	s.db = db
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("checkpoint: open %s: %w", dir, err)
	}
	return s, nil
}

// Close closes the store's database.
func (s *Store) Close() error {
	return s.db.Close()
}

// Usage reports the checkpoints stored and the blob bytes they reference,
// over all owners (gohands_checkpoints, gohands_checkpoint_bytes).
func (s *Store) Usage() (count int, bytes int64) {
	return int(s.count.Load()), s.bytes.Load()
}

// blobPath is where the blob of a sha256 hex lives.
func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "blobs", sum[:2], sum)
}

func validOwner(owner string) error {
	if owner == "" || len(owner) > maxOwnerLen {
		return fmt.Errorf("owner %q: %w", owner, ErrInvalid)
	}
	return nil
}
