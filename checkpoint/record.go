package checkpoint

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// smallBlob is the size up to which a file's content is hashed in memory
// before anything is written, so that content already stored costs no write.
const smallBlob = 1 << 20

// headerAllowance bounds the tar's own bytes (headers, padding, PAX records)
// per entry, beyond the content the limit counts.
const headerAllowance = 3 << 10

// Record parses the snapshot tar an agent sent (see [SnapshotTrailer]) and
// stores it as a new checkpoint of owner following event seq: the contents
// not yet stored become blobs, and the checkpoint's change list holds the
// entries of the tar and the trailer's deleted paths. parent is the
// checkpoint the snapshot is a change from; a full snapshot (Trailer.Full),
// or any snapshot without a parent, is a whole state of its own. limit
// bounds the file content bytes of the tar (0 or less: only empty files).
//
// The tar is untrusted: more than [MaxEntries] entries, a name longer than
// [MaxNameLen], a name not absolute and clean, or a missing or misplaced
// trailer is ErrInvalid; content past limit is ErrTooLarge. Device and fifo
// entries are skipped. On any error nothing of the tar is left in the store.
//
// After the commit, past the owner's MaxCount or MaxBytes its oldest
// checkpoints are squashed into their children and the blobs no checkpoint
// references any more are removed.
func (s *Store) Record(owner string, seq int64, parent string, tarStream io.Reader, limit int64) (Checkpoint, error) {
	if err := validOwner(owner); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: record: %w", err)
	}
	if parent != "" {
		if _, err := s.meta(owner, parent); err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint: record for %s: parent %s: %w", owner, parent, err)
		}
	}
	bw := &blobWriter{s: s, added: map[string]bool{}, pinned: map[string]bool{}}
	snap, err := s.parse(tarStream, limit, bw)
	var cp Checkpoint
	if err == nil {
		err = bw.flush()
	}
	if err == nil && s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err == nil {
		cp, err = s.commit(owner, seq, parent, snap)
	}
	bw.unpin()
	if err != nil {
		bw.abandon()
		return Checkpoint{}, fmt.Errorf("checkpoint: record for %s: %w", owner, err)
	}
	bw.done()
	if err := s.enforce(owner); err != nil {
		s.log.Warn("bounds not enforced", "owner", owner, "err", err)
	}
	return cp, nil
}

// snapshot is a parsed snapshot tar.
type snapshot struct {
	changed Manifest
	trailer SnapshotTrailer
}

// parse reads the tar, writing new contents through bw.
func (s *Store) parse(r io.Reader, limit int64, bw *blobWriter) (snapshot, error) {
	if limit < 0 {
		limit = 0
	}
	raw := &boundedReader{r: r, left: limit + maxTrailerSize + MaxEntries*headerAllowance}
	tr := tar.NewReader(bufio.NewReaderSize(raw, 64<<10))
	snap := snapshot{changed: Manifest{}}
	var used int64
	entries := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return snapshot{}, fmt.Errorf("no trailer %s: %w", SnapshotTrailerName, ErrInvalid)
		}
		if err != nil {
			return snapshot{}, tarError(raw, err)
		}
		if entries++; entries > s.maxEntries {
			return snapshot{}, fmt.Errorf("more than %d entries: %w", s.maxEntries, ErrInvalid)
		}
		if hdr.Name == SnapshotTrailerName {
			t, err := readTrailer(hdr, tr)
			if err != nil {
				return snapshot{}, err
			}
			if _, err := tr.Next(); err != io.EOF {
				if err != nil {
					return snapshot{}, tarError(raw, err)
				}
				return snapshot{}, fmt.Errorf("entries after the trailer: %w", ErrInvalid)
			}
			if len(t.Deleted)+entries > s.maxEntries {
				return snapshot{}, fmt.Errorf("more than %d entries and deletions: %w", s.maxEntries, ErrInvalid)
			}
			snap.trailer = t
			return snap, nil
		}
		name := hdr.Name
		if hdr.Typeflag == tar.TypeDir {
			name = strings.TrimSuffix(name, "/")
		}
		if err := validPath(name); err != nil {
			return snapshot{}, err
		}
		if len(hdr.Linkname) > MaxNameLen || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return snapshot{}, fmt.Errorf("link of %q: bad target: %w", name, ErrInvalid)
		}
		if hdr.Uid < 0 || hdr.Gid < 0 {
			return snapshot{}, fmt.Errorf("%q: negative owner: %w", name, ErrInvalid)
		}
		e := Entry{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid, ModTime: hdr.ModTime.UTC()}
		switch hdr.Typeflag {
		case tar.TypeReg: // the reader turns the old TypeRegA into TypeReg
			e.Type = tar.TypeReg
			if hdr.Size > limit-used {
				return snapshot{}, fmt.Errorf("%q: more than %d bytes of content: %w", name, limit, ErrTooLarge)
			}
			sum, err := bw.write(tr, hdr.Size)
			if err != nil {
				return snapshot{}, fmt.Errorf("%q: %w", name, tarError(raw, err))
			}
			used += hdr.Size
			e.Size, e.Blob = hdr.Size, sum
		case tar.TypeDir:
		case tar.TypeSymlink:
			e.Link = hdr.Linkname
		case tar.TypeLink:
			// A hard link is stored as a copy of its target, when the
			// target is a regular file of this same tar.
			target, ok := snap.changed[path.Clean(hdr.Linkname)]
			if !ok || target.Type != tar.TypeReg {
				continue
			}
			e.Type, e.Size, e.Blob = tar.TypeReg, target.Size, target.Blob
		default:
			// Devices, fifos and anything else: not part of a checkpoint.
			continue
		}
		snap.changed[name] = e
	}
}

// readTrailer decodes and checks the trailer entry.
func readTrailer(hdr *tar.Header, tr *tar.Reader) (SnapshotTrailer, error) {
	var t SnapshotTrailer
	if hdr.Typeflag != tar.TypeReg {
		return t, fmt.Errorf("trailer is not a file: %w", ErrInvalid)
	}
	if hdr.Size > maxTrailerSize {
		return t, fmt.Errorf("trailer of %d bytes: %w", hdr.Size, ErrInvalid)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return t, fmt.Errorf("read trailer: %w", err)
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("trailer: %v: %w", err, ErrInvalid)
	}
	if t.Truncated {
		return t, ErrTruncated
	}
	for _, p := range t.Deleted {
		if err := validPath(p); err != nil {
			return t, fmt.Errorf("trailer: deleted: %w", err)
		}
	}
	return t, nil
}

// validPath accepts an absolute, clean path other than "/" within the bounds.
func validPath(p string) error {
	if len(p) > MaxNameLen {
		return fmt.Errorf("name of %d bytes: %w", len(p), ErrInvalid)
	}
	if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("name %q is not an absolute clean path: %w", p, ErrInvalid)
	}
	return nil
}

// tarError turns a failure of the tar reader into ErrInvalid, unless the
// raw stream ran past its bound or the error is the store's own.
func tarError(raw *boundedReader, err error) error {
	if raw.exceeded {
		return fmt.Errorf("tar stream past its bound: %w", ErrTooLarge)
	}
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid) || errors.Is(err, errStore) {
		return err
	}
	return fmt.Errorf("%v: %w", err, ErrInvalid)
}

// errStore marks failures of the store's own disk, not of the tar.
var errStore = errors.New("store")

// boundedReader fails once more than left bytes were read.
type boundedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.exceeded = true
		return 0, ErrTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// commit stores the checkpoint record and counts its blob references.
func (s *Store) commit(owner string, seq int64, parent string, snap snapshot) (Checkpoint, error) {
	cl := changeList{Changed: snap.changed}
	if !snap.trailer.Full {
		cl.Deleted = snap.trailer.Deleted
	}
	var cp Checkpoint
	var delta int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ob, err := ownerBuckets(tx, owner, true)
		if err != nil {
			return err
		}
		if parent != "" && ob.meta.Get([]byte(parent)) == nil {
			return fmt.Errorf("parent %s: %w", parent, ErrNotFound)
		}
		n, err := tx.Bucket(bucketOwners).NextSequence()
		if err != nil {
			return err
		}
		if delta, _, err = adjustRefs(tx, cl.Changed, +1); err != nil {
			return err
		}
		cp = Checkpoint{
			ID:         fmt.Sprintf("%016x", n),
			Owner:      owner,
			Seq:        seq,
			Parent:     parent,
			Generation: snap.trailer.Generation,
			Files:      len(cl.Changed),
			Bytes:      delta,
			Created:    time.Now().UTC(),
		}
		rec := record{Checkpoint: cp, Full: snap.trailer.Full || parent == "", Size: distinctBytes(cl.Changed)}
		return putRecord(ob, rec, cl)
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("commit: %w", errors.Join(errStore, err))
	}
	s.count.Add(1)
	s.bytes.Add(delta)
	return cp, nil
}

// blobWriter writes the new contents of one Record: each to tmp/, then its
// name to the Record's journal, then renamed into blobs/.
type blobWriter struct {
	s       *Store
	journal *os.File
	added   map[string]bool // blobs this Record put into blobs/
	pinned  map[string]bool // blobs this Record uses
	buf     []byte
}

// write stores the n bytes of r as a blob and returns its sha256 hex.
func (w *blobWriter) write(r io.Reader, n int64) (string, error) {
	h := sha256.New()
	if n <= smallBlob {
		if int64(cap(w.buf)) < n {
			w.buf = make([]byte, n)
		}
		data := w.buf[:n]
		if _, err := io.ReadFull(r, data); err != nil {
			return "", err
		}
		h.Write(data)
		sum := hex.EncodeToString(h.Sum(nil))
		if w.have(sum) {
			return sum, nil
		}
		return sum, w.store(sum, func(f *os.File) error {
			_, err := f.Write(data)
			return err
		})
	}
	tmp, err := w.tempFile()
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.CopyN(tmp, io.TeeReader(r, h), n); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write blob: %w", errors.Join(errStore, err))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if w.have(sum) {
		return sum, nil
	}
	return sum, w.install(sum, tmp.Name())
}

// have pins the blob and reports whether it is already on disk.
func (w *blobWriter) have(sum string) bool {
	if w.added[sum] {
		return true
	}
	if !w.pinned[sum] {
		w.pinned[sum] = true
		w.s.pinMu.Lock()
		w.s.pins[sum]++
		w.s.pinMu.Unlock()
	}
	_, err := os.Lstat(w.s.blobPath(sum))
	return err == nil
}

// store writes a blob with fill, then installs it.
func (w *blobWriter) store(sum string, fill func(*os.File) error) error {
	tmp, err := w.tempFile()
	if err != nil {
		return err
	}
	err = fill(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write blob: %w", errors.Join(errStore, err))
	}
	if err := w.install(sum, tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func (w *blobWriter) tempFile() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(w.s.dir, "tmp"), "blob-")
	if err != nil {
		return nil, fmt.Errorf("write blob: %w", errors.Join(errStore, err))
	}
	return f, nil
}

// install journals the blob, then renames the temporary file into blobs/.
func (w *blobWriter) install(sum, tmp string) error {
	if w.journal == nil {
		f, err := os.OpenFile(filepath.Join(w.s.dir, "journal", rand.Text()), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("journal: %w", errors.Join(errStore, err))
		}
		w.journal = f
	}
	if _, err := w.journal.WriteString(sum + "\n"); err != nil {
		return fmt.Errorf("journal: %w", errors.Join(errStore, err))
	}
	dst := w.s.blobPath(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("install blob: %w", errors.Join(errStore, err))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("install blob: %w", errors.Join(errStore, err))
	}
	w.added[sum] = true
	return nil
}

// flush makes the new blobs durable before their record is committed: one
// syncfs rather than an fsync per file.
func (w *blobWriter) flush() error {
	if len(w.added) == 0 || w.s.noSync {
		return nil
	}
	d, err := os.Open(filepath.Join(w.s.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("sync blobs: %w", errors.Join(errStore, err))
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync blobs: %w", errors.Join(errStore, err))
	}
	return nil
}

// done forgets the journal of a committed Record.
func (w *blobWriter) done() {
	if w.journal != nil {
		w.journal.Close()
		os.Remove(w.journal.Name())
	}
}

// abandon removes the blobs of a Record that failed (unless another Record
// committed a reference to them meanwhile, or uses them: then their last
// unpin decides), then its journal.
func (w *blobWriter) abandon() {
	sums := make([]string, 0, len(w.added))
	for sum := range w.added {
		sums = append(sums, sum)
	}
	if _, err := w.s.removeUnreferenced(sums); err != nil {
		w.s.log.Warn("blobs of a failed snapshot not removed", "err", err)
		return // the journal lets Open retry
	}
	w.done()
}

// unpin releases the Record's blobs, removing those whose removal waited
// for it and that nothing references.
func (w *blobWriter) unpin() {
	var due []string
	w.s.pinMu.Lock()
	for sum := range w.pinned {
		if w.s.pins[sum]--; w.s.pins[sum] > 0 {
			continue
		}
		delete(w.s.pins, sum)
		if w.s.deferred[sum] {
			delete(w.s.deferred, sum)
			due = append(due, sum)
		}
	}
	w.s.pinMu.Unlock()
	if _, err := w.s.removeUnreferenced(due); err != nil {
		w.s.log.Warn("freed blobs not removed", "err", err)
	}
}
