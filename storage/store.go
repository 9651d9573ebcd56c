// Package storage keeps GoHands' state in one bbolt file: conversations,
// their events (ordered by sequence number), their secrets (encrypted) and
// the records of running sandboxes.
//
// The events of all conversations share one append-ordered log, with a
// small index per conversation (index.go), so that a commit of appends
// from many conversations writes a few pages at the end of the log rather
// than pages all over the file.
//
// Events are durable before they are visible: [Store.Append] returns only
// once the events are committed and fsynced. Appends from many conversations
// at once share transactions (group commit, see batch.go), so the cost of
// one fsync is spread over every append waiting for it.
//
// Secrets never reach the file in the clear. With a secret key
// ([Options.SecretKey], from OH_SECRET_KEY) they are sealed with AES-256-GCM
// under a key derived from it; without one they are kept in memory only and
// are gone when the server stops.
//
// A Store is safe for concurrent use. Errors callers branch on are the
// sentinels below; every error returned wraps at most one of them and says
// what failed.
package storage

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/gohands/gohands/event"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such conversation, or no such event in it.
	ErrNotFound = errors.New("not found")
	// ErrExists: CreateConversation of an id already stored, or Append of
	// an event whose id the conversation already has.
	ErrExists = errors.New("already exists")
	// ErrUnavailable: a write (or, on a closed store, a read) failed: disk
	// full, read-only store, I/O error, store closed. Nothing already stored
	// is damaged; callers answer 503.
	ErrUnavailable = errors.New("store unavailable")
	// ErrBadPage: a page id that does not decode, or that belongs to
	// another kind of listing.
	ErrBadPage = errors.New("bad page id")
	// ErrInvalid: an argument the store cannot take: an empty or overlong
	// id, an unknown sort order, a nil event.
	ErrInvalid = errors.New("invalid argument")
	// ErrLocked: Open gave up waiting for the file's lock, which another
	// process holds.
	ErrLocked = errors.New("file locked by another process")
	// ErrSecretKey: the secret key given to Open is not the one the file's
	// secrets were sealed with.
	ErrSecretKey = errors.New("secret key does not match the store")
)

// Options configure a Store.
type Options struct {
	// SecretKey seals secrets and sandbox tokens at rest (OH_SECRET_KEY).
	// Empty means secrets are kept in memory only, never written, and
	// sandbox tokens are written in the clear (see SandboxRecord).
	SecretKey string
	// Logger receives the store's few log lines; nil discards them.
	Logger *slog.Logger
	// ReadOnly opens the file read-only, under a shared lock: reads work,
	// every write fails with ErrUnavailable. The file must exist and have
	// been opened read-write once.
	ReadOnly bool
	// Now is the clock that stamps events and conversations that come
	// without a time; nil means time.Now.
	Now func() time.Time
	// ActionTexts returns the texts of a tool action that an event
	// search (EventQuery.Body) reads; the tools know them (tools.Texts).
	// nil reads every string field of the action.
	ActionTexts func(event.ToolAction) []string

	// scanRecords makes event searches read every record, as schema 2
	// did, rather than skip by the codes of the index entries: the
	// baseline of tests and benchmarks.
	scanRecords bool
	// maxSize caps the file's size, for tests that need a full disk.
	maxSize int
	// migrateBudget overrides migrateBudget, for tests.
	migrateBudget int
}

// lockTimeout is how long Open waits for another process to let go of the
// file.
const lockTimeout = time.Second

// maxIDLen bounds conversation and event ids, which are bbolt keys.
const maxIDLen = 1024

// Store is an open GoHands state file.
type Store struct {
	db       *bbolt.DB
	path     string
	log      *slog.Logger
	now      func() time.Time
	serverID string
	// actionTexts are the texts of a tool action a search reads.
	actionTexts func(event.ToolAction) []string
	// scanRecords: see Options.scanRecords.
	scanRecords bool
	// aead seals secrets and tokens; nil without a secret key.
	aead cipher.AEAD
	w    *writer

	// lastSeqs caches each conversation's last seq, as a guess that
	// spares Append a read transaction; the writer checks it.
	seqMu    sync.Mutex
	lastSeqs map[string]uint64
	// tails is the writer's record of which conversations' last chunks
	// are in the tails bucket; see index.go.
	tails tailClock
	// deletions counts committed conversation deletions. An append whose
	// ids were looked for before a deletion looks again in the writer:
	// the conversation may be another one of the same id.
	deletions atomic.Uint64
	// afterLook, if set, runs in Append between the look for the ids and
	// the write, for tests.
	afterLook func()

	// secMu orders memory-only secrets against conversation deletion, so
	// that a deleted conversation's secrets never outlive it.
	secMu      sync.Mutex
	memSecrets map[string]map[string]string

	closeOnce sync.Once
	closeErr  error
}

// Buckets at the root of the file.
var (
	bucketMeta          = []byte("meta")
	bucketConversations = []byte("conversations")   // id -> conversationRecord JSON
	bucketByCreated     = []byte("conv_by_created") // timeKey(created)+id -> nothing
	bucketByUpdated     = []byte("conv_by_updated") // timeKey(updated)+id -> nothing
	bucketLog           = []byte("log")             // the events of all conversations; see index.go
	bucketSeqs          = []byte("chunks")          // conversations' chunks of log positions
	bucketCodes         = []byte("event_codes")     // codes of event kinds and sources
	bucketTails         = []byte("tails")           // conversations' last chunks, while they append
	bucketIDGroups      = []byte("id_groups")       // sorted id hashes of conversations' events, by 1,024
	bucketSecrets       = []byte("secrets")         // conv id -> {name -> sealed value}
	bucketSandboxes     = []byte("sandboxes")       // conv id -> sandboxRecord JSON
)

// Keys of the meta bucket.
var (
	metaSchema    = []byte("schema")    // uint64, big endian
	metaMigrating = []byte("migrating") // uint64: the migration under way, in several transactions
	metaServerID  = []byte("server_id") // hex
	metaSalt      = []byte("salt")      // HKDF salt for the secret key
	metaKeyCheck  = []byte("key_check") // a known value sealed with the key
)

// migrations[v] takes a file from schema version v to v+1. The file's
// version is the number of migrations applied.
//
// A migration runs in one transaction, or in several when it has much to
// move: it does at most about budget events' worth of work and reports
// whether it has more to do. The first transaction already sets the new
// version, so that an older server refuses the half-migrated file, and
// marks the migration under way (metaMigrating) until the last; Open
// resumes one that a crash or a kill cut short.
var migrations = []func(tx *bbolt.Tx, budget int) (more bool, err error){
	// 0 -> 1: the first layout.
	func(tx *bbolt.Tx, _ int) (bool, error) {
		for _, name := range []string{"meta", "conversations", "conv_by_created", "conv_by_updated", "events", "secrets", "sandboxes"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return false, fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return false, nil
	},
	// 1 -> 2: the events of all conversations in one log (index.go).
	migrateEventLog,
	// 2 -> 3: the codes of each event's kind and source in its index
	// entry (codes.go).
	migrateEntryCodes,
}

// schemaVersion is the layout this code reads and writes.
var schemaVersion = uint64(len(migrations))

// migrateBudget is how many events a migration moves per transaction:
// a transaction holds what it writes in memory until it commits.
const migrateBudget = 20000

// Open opens the state file at path, creating it (mode 0600) and its folder
// (0700) if need be, and brings its layout up to date. It waits about a
// second for the file's lock and then fails with ErrLocked, since only one
// process may have the file open for writing.
//
// With opts.SecretKey set, the key is checked against the one the file was
// first used with; a different key fails with ErrSecretKey rather than
// yield garbage later.
func Open(path string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "storage")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("storage: open %s: %w", path, err)
		}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:  lockTimeout,
		ReadOnly: opts.ReadOnly,
		// The freelist is rebuilt on open instead of written on every
		// commit: one page less to write per append.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		// A mapping larger than the file keeps commits that grow the file
		// from waiting for read transactions to end (a remap).
		InitialMmapSize: 256 << 20,
		MaxSize:         opts.maxSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: open %s: %w (waited %s for its lock; is another GoHands server using it?)", path, ErrLocked, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("state file is readable by other users; it holds sandbox tokens", "path", path, "mode", fi.Mode().Perm().String())
	}
	actionTexts := opts.ActionTexts
	if actionTexts == nil {
		actionTexts = stringFields
	}
	s := &Store{
		db:          db,
		path:        path,
		log:         log,
		now:         now,
		actionTexts: actionTexts,
		scanRecords: opts.scanRecords,
		memSecrets:  make(map[string]map[string]string),
		lastSeqs:    make(map[string]uint64),
		tails:       tailClock{last: make(map[string]uint64)},
	}
	if err := s.init(opts); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	s.w = newWriter(db)
	log.Info("store open", "path", path, "server_id", s.serverID, "schema", schemaVersion,
		"secrets_persistent", s.SecretsPersistent(), "read_only", opts.ReadOnly)
	return s, nil
}

// init reads (and on first use creates) the file's metadata: schema
// version, server id and key check, running migrations as needed.
func (s *Store) init(opts Options) error {
	var salt, check []byte
	if opts.ReadOnly {
		err := s.db.View(func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				return errors.New("file has no GoHands data yet; open it read-write first")
			}
			if v := readUint(meta.Get(metaSchema)); v != schemaVersion || meta.Get(metaMigrating) != nil {
				return fmt.Errorf("file has schema version %d, this server reads %d; open it read-write to migrate", v, schemaVersion)
			}
			s.serverID = string(meta.Get(metaServerID))
			salt = bytes.Clone(meta.Get(metaSalt))
			check = bytes.Clone(meta.Get(metaKeyCheck))
			return nil
		})
		if err != nil {
			return err
		}
		return s.initKey(opts.SecretKey, salt, check, nil)
	}
	budget := migrateBudget
	if opts.migrateBudget > 0 {
		budget = opts.migrateBudget
	}
	for {
		done, err := s.migrate(budget)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		// The conversations that had a last chunk in tails when the file
		// was closed are settled first when tails gets full.
		if err := tx.Bucket(bucketTails).ForEach(func(k, _ []byte) error {
			s.tails.last[string(k)] = 0
			return nil
		}); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaSchema, binary.BigEndian.AppendUint64(nil, schemaVersion)); err != nil {
			return err
		}
		if id := meta.Get(metaServerID); id != nil {
			s.serverID = string(id)
		} else {
			s.serverID = randomHex(16)
			if err := meta.Put(metaServerID, []byte(s.serverID)); err != nil {
				return err
			}
		}
		salt = bytes.Clone(meta.Get(metaSalt))
		if salt == nil {
			salt = randomBytes(32)
			if err := meta.Put(metaSalt, salt); err != nil {
				return err
			}
		}
		check = bytes.Clone(meta.Get(metaKeyCheck))
		return s.initKey(opts.SecretKey, salt, check, func(sealed []byte) error {
			return meta.Put(metaKeyCheck, sealed)
		})
	})
}

// migrate runs one transaction of the next migration the file needs, and
// reports whether it needs none.
func (s *Store) migrate(budget int) (done bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		// version is the layout the file is in, or is leaving when a
		// migration is under way.
		var version uint64
		if meta := tx.Bucket(bucketMeta); meta != nil {
			version = readUint(meta.Get(metaSchema))
			if v := meta.Get(metaMigrating); v != nil {
				version = readUint(v)
				if version >= schemaVersion {
					return fmt.Errorf("file is being migrated to schema version %d, newer than this server's %d", version+1, schemaVersion)
				}
			}
		}
		if version > schemaVersion {
			return fmt.Errorf("file has schema version %d, newer than this server's %d", version, schemaVersion)
		}
		if version == schemaVersion {
			done = true
			return nil
		}
		more, err := migrations[version](tx, budget)
		if err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", version, version+1, err)
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaSchema, binary.BigEndian.AppendUint64(nil, version+1)); err != nil {
			return err
		}
		if more {
			s.log.Info("schema migration under way", "from", version, "to", version+1)
			return meta.Put(metaMigrating, binary.BigEndian.AppendUint64(nil, version))
		}
		s.log.Info("schema migrated", "from", version, "to", version+1)
		return meta.Delete(metaMigrating)
	})
	return done, err
}

// ServerID returns the id made on the file's first open and kept since; it
// labels this server's containers.
func (s *Store) ServerID() string { return s.serverID }

// SecretsPersistent reports whether secrets are written (sealed) to the
// file, that is whether a secret key was given.
func (s *Store) SecretsPersistent() bool { return s.aead != nil }

// Close waits for pending writes to commit and closes the file. Calls after
// the first return the first's result; every other method then fails with
// ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.w.close()
		if !s.db.IsReadOnly() {
			// One last commit that writes the free list, which commits
			// otherwise leave out (NoFreelistSync): the next Open reads it
			// instead of walking every page of the file to rebuild it
			// (about 1 s for a file of a million events). The first commit
			// after that Open frees its page again. After a crash the next
			// Open walks the file, as before.
			s.db.NoFreelistSync = false
			if err := s.db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
				s.log.Warn("free list not written at close; the next open rebuilds it", "err", err)
			}
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("storage: close %s: %w", s.path, err)
		}
		s.secMu.Lock()
		clear(s.memSecrets)
		s.secMu.Unlock()
	})
	return s.closeErr
}

// view runs fn in a read transaction. An error of fn comes back as is; a
// failure to begin the transaction (a closed store) is ErrUnavailable.
func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	var fnErr error
	err := s.db.View(func(tx *bbolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// update runs fn through the group-commit writer; see writer.do for the
// contract fn must keep.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	return s.w.do(fn)
}

// checkID refuses ids bbolt cannot take as keys, and absurd ones.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s: %w", what, ErrInvalid)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%s of %d bytes, over %d: %w", what, len(id), maxIDLen, ErrInvalid)
	}
	return nil
}

// seqKey is a seq as a value: big endian.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// readUint reads a big-endian uint64 key or value; anything else is 0.
func readUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic("storage: crypto/rand: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
