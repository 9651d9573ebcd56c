package agentd

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gohands/gohands/agentapi"
)

// maxGenerations bounds the manifests the agent keeps: the server asks
// for a snapshot since the last one it kept, so a few are plenty.
const maxGenerations = 4

// snapshots serves POST /snapshot and POST /restore. It remembers the
// manifests of its last few generations, in memory only: an agent that
// restarted knows none, and its next snapshot is full.
type snapshots struct {
	log   *slog.Logger
	chown bool // the agent runs as root: restored files get their owners

	mu   sync.Mutex // one snapshot or restore at a time
	boot string     // random, so an old generation name is never reused
	next uint64
	gens []generation // oldest first
}

type generation struct {
	id string
	m  manifest
}

func (s *Server) snapshotRoutes(auth func(string, func(http.ResponseWriter, *http.Request) error)) {
	sn := newSnapshots(s.log)
	auth("POST /snapshot", sn.snapshot)
	auth("POST /restore", sn.restore)
}

func newSnapshots(log *slog.Logger) *snapshots {
	var b [6]byte
	rand.Read(b[:])
	return &snapshots{log: log, chown: os.Geteuid() == 0, boot: hex.EncodeToString(b[:])}
}

// maxSnapshotRequest bounds a snapshot request, whose Paths may list every
// path the engine saw change in the container.
const maxSnapshotRequest = 64 << 20

// newGeneration names the next generation.
func (sn *snapshots) newGeneration() string {
	sn.next++
	return sn.boot + "-" + strconv.FormatUint(sn.next, 10)
}

// lookup returns the manifest of generation id, or nil.
func (sn *snapshots) lookup(id string) manifest {
	for _, g := range sn.gens {
		if g.id == id && id != "" {
			return g.m
		}
	}
	return nil
}

// keep remembers a generation, forgetting the oldest past maxGenerations.
func (sn *snapshots) keep(id string, m manifest) {
	sn.gens = append(sn.gens, generation{id, m})
	if n := len(sn.gens) - maxGenerations; n > 0 {
		clear(sn.gens[:n])
		sn.gens = sn.gens[n:]
	}
}

func (sn *snapshots) snapshot(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.SnapshotRequest
	if err := decodeJSON(io.LimitReader(r.Body, maxSnapshotRequest+1), maxSnapshotRequest, &req); err != nil {
		return err
	}
	if len(req.Roots)+len(req.Paths) == 0 {
		return errorf(http.StatusUnprocessableEntity, "roots: give at least one root or path")
	}
	if req.MaxBytes < 0 {
		return errorf(http.StatusUnprocessableEntity, "max_bytes must not be negative")
	}
	for field, ps := range map[string][]string{"roots": req.Roots, "paths": req.Paths, "exclude": req.Exclude} {
		if err := cleanPaths(field, ps); err != nil {
			return err
		}
	}

	sn.mu.Lock()
	defer sn.mu.Unlock()
	prev := sn.lookup(req.Since)
	d := newDirs()
	defer d.close()
	wk := newWalker(d, req.Exclude, prev)
	if err := walkAll(wk, req.Roots, req.Paths); err != nil {
		return err
	}
	if req.MaxBytes > 0 && wk.bytes > req.MaxBytes {
		return errorf(http.StatusRequestEntityTooLarge, "the changed files hold %d bytes, over max_bytes %d", wk.bytes, req.MaxBytes)
	}

	w.Header().Set("Content-Type", agentapi.TarType)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	trailer := agentapi.SnapshotTrailer{Generation: sn.newGeneration(), Full: prev == nil}
	st := &sender{tw: tw, dirs: d, wk: wk, max: req.MaxBytes}
	for _, p := range wk.changed {
		if err := st.send(p); err != nil {
			if errors.Is(err, errOverBudget) {
				trailer.Truncated = true
				break
			}
			// The status is sent: cut the stream so the caller sees it
			// fail rather than a tar without its trailer.
			sn.log.Warn("snapshot cut short", "path", p, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	trailer.Deleted = wk.deleted()
	trailer.Files, trailer.Bytes = st.files, st.bytes
	err := writeJSONEntry(tw, agentapi.SnapshotTrailerName, trailer)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		sn.log.Warn("snapshot not delivered", "err", err)
		panic(http.ErrAbortHandler)
	}
	if !trailer.Truncated {
		sn.keep(trailer.Generation, wk.cur)
	}
	return nil
}

// walkAll records the trees at roots and the single paths.
func walkAll(wk *walker, roots, paths []string) error {
	for _, p := range roots {
		if err := wk.root(p); err != nil {
			return walkError(err)
		}
	}
	for _, p := range paths {
		if err := wk.single(p); err != nil {
			return walkError(err)
		}
	}
	return nil
}

func walkError(err error) error {
	if errors.Is(err, errNotDir) {
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return errorf(http.StatusInternalServerError, "%v", err)
}

// errOverBudget stops a snapshot whose files grew past MaxBytes while it
// was being sent.
var errOverBudget = errors.New("over max_bytes")

// sender writes a snapshot's entries, each read again as it is sent: what
// it sends is what the generation's manifest records.
type sender struct {
	tw    *tar.Writer
	dirs  *dirs
	wk    *walker
	max   int64
	files int
	bytes int64
}

// send writes the entry of path p. A path that vanished or changed kind
// since the walk is dropped from the manifest (so the next snapshot sends
// it, or lists it deleted); a file that shrank while being read is padded
// and marked so that the next snapshot sends it again.
func (s *sender) send(p string) error {
	n, ok := s.wk.cur[p]
	if !ok {
		return nil // went away during the walk
	}
	hdr := &tar.Header{
		Name: p, Mode: int64(n.mode & 0o7777), Uid: int(n.uid), Gid: int(n.gid),
		ModTime: time.Unix(0, n.mtime), Format: tar.FormatPAX,
	}
	switch n.typ() {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if p != "/" {
			hdr.Name += "/"
		}
		s.files++
		return s.tw.WriteHeader(hdr)
	case unix.S_IFLNK:
		dir, name := splitPath(p)
		parent, err := s.dirs.open(dir, nil)
		if err == nil {
			hdr.Linkname, err = readlinkAt(parent, name)
		}
		if errors.Is(err, unix.EINVAL) {
			err = errNotDir // no longer a symlink
		}
		if err != nil {
			return s.drop(p, err)
		}
		hdr.Typeflag = tar.TypeSymlink
		s.files++
		return s.tw.WriteHeader(hdr)
	}
	return s.file(p, hdr)
}

func (s *sender) file(p string, hdr *tar.Header) error {
	dir, name := splitPath(p)
	parent, err := s.dirs.open(dir, nil)
	if err != nil {
		return s.drop(p, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return s.drop(p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return s.drop(p, errNotDir)
	}
	if s.max > 0 && s.bytes+st.Size > s.max {
		return errOverBudget
	}
	n := nodeOf(&st)
	n.racy = n.ctime >= s.wk.racyAfter
	hdr.Typeflag = tar.TypeReg
	hdr.Mode, hdr.Uid, hdr.Gid = int64(n.mode&0o7777), int(n.uid), int(n.gid)
	hdr.ModTime, hdr.Size = time.Unix(0, n.mtime), n.size
	if err := s.tw.WriteHeader(hdr); err != nil {
		return err
	}
	copied, err := io.CopyN(s.tw, f, n.size)
	if err == io.EOF {
		// Cut while read: pad, and have the next snapshot send it again.
		if _, err = io.CopyN(s.tw, zeros{}, n.size-copied); err != nil {
			return err
		}
		n.racy = true
	} else if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	s.wk.cur[p] = n
	s.files++
	s.bytes += n.size
	return nil
}

// drop forgets a path that is not what the walk saw when err says it went
// away; other errors are returned.
func (s *sender) drop(p string, err error) error {
	if !gone(err) {
		return fmt.Errorf("%s: %w", p, err)
	}
	delete(s.wk.cur, p)
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// readlinkAt returns the target of the symlink name in dir.
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// writeJSONEntry writes v as a regular file entry named name.
func writeJSONEntry(tw *tar.Writer, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}
