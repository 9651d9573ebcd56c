package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gohands/gohands/sandbox"
)

// forkTrees makes the workspaces of forks copy-on-write views of the
// checkpoint they start from, so that K forks of one point write its
// files once, not K times. The first fork of a (conversation, checkpoint)
// writes the workspace part of the checkpoint from the store's blobs into
// a base folder; each fork's workspace is then a volume of the backend's
// (sandbox.OverlayVolumes) whose reads come from the base and whose
// writes land in the fork's own upper folder. Only the paths outside the
// workspace are still restored by the sandbox's agent. A backend with a
// fork pool (sandbox.OverlayStarter) gives the fork's first sandbox
// already running, the same folders mounted on its working folder, so
// that the fork starts no container (runner.startOverlay).
//
// Layout under its folder (Options.ForkTreesDir), which no sandbox
// reaches:
//
//	bases/<key>/          a checkpoint's workspace, never written once made
//	forks/<id>/fork.json  the fork's base and volume
//	forks/<id>/up/        the fork's changes (the sandbox writes here)
//	forks/<id>/work/      the kernel's scratch folder of the mount
//
// The sandbox is root in its container and writes what it likes into
// up/ (symlinks included): the server never reads there, it only removes
// the folder (os.RemoveAll follows no symlink). A base goes when the last
// fork using it goes.
type forkTrees struct {
	dir string
	be  sandbox.OverlayVolumes // nil: no copy-on-write workspaces
	log *slog.Logger

	mu    sync.Mutex
	bases map[string]*baseTree
	// mount is what the first start of a sandbox on such a volume told:
	// 0 not tried yet, 1 mounted, -1 the engine could not mount it (forks
	// then restore their workspace through the agent).
	mount atomic.Int32
}

// baseTree is one base folder: made once, by the first fork that needs
// it, while the others of the same point wait.
type baseTree struct {
	done chan struct{} // closed once made (or failed)
	err  error
	refs int // the forks using it, those waiting included
}

// forkTree is what forks/<id>/fork.json holds.
type forkTree struct {
	Base   string `json:"base"`
	Volume string `json:"volume"`
}

// overlayVolumePrefix starts the name of every fork volume.
const overlayVolumePrefix = "gohands-cow-"

// newForkTrees opens the fork trees of dir, counting which bases the
// forks there use and removing those none uses (and any half made). With
// dir "" or a backend without OverlayVolumes it makes none.
func newForkTrees(dir string, be sandbox.Backend, log *slog.Logger) (*forkTrees, error) {
	t := &forkTrees{dir: dir, log: log, bases: make(map[string]*baseTree)}
	ov, ok := be.(sandbox.OverlayVolumes)
	if dir == "" || !ok {
		return t, nil
	}
	for _, sub := range []string{"", "bases", "forks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("fork trees: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fork trees: %w", err)
	}
	t.be = ov
	forks, err := os.ReadDir(filepath.Join(dir, "forks"))
	if err != nil {
		return nil, fmt.Errorf("fork trees: %w", err)
	}
	for _, f := range forks {
		ft, err := t.read(f.Name())
		if err != nil {
			continue // RemovePendingForks removes it
		}
		b := t.bases[ft.Base]
		if b == nil {
			b = &baseTree{done: make(chan struct{})}
			close(b.done)
			t.bases[ft.Base] = b
		}
		b.refs++
	}
	bases, err := os.ReadDir(filepath.Join(dir, "bases"))
	if err != nil {
		return nil, fmt.Errorf("fork trees: %w", err)
	}
	for _, b := range bases {
		if t.bases[b.Name()] == nil {
			os.RemoveAll(filepath.Join(dir, "bases", b.Name()))
		}
	}
	return t, nil
}

// on reports whether forks may get copy-on-write workspaces.
func (t *forkTrees) on() bool {
	return t.be != nil && t.mount.Load() >= 0
}

// baseKey names the base of owner's checkpoint id.
func baseKey(owner, id string) string {
	sum := sha256.Sum256([]byte(owner + "\x00" + id))
	return hex.EncodeToString(sum[:16])
}

// forkDir is the folder of the fork id; "" for an id that is no name of
// one folder (ids are checked before, this is a second guard).
func (t *forkTrees) forkDir(id string) string {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
		return ""
	}
	return filepath.Join(t.dir, "forks", id)
}

// read reads the fork.json of the fork id.
func (t *forkTrees) read(id string) (forkTree, error) {
	var ft forkTree
	dir := t.forkDir(id)
	if dir == "" {
		return ft, fs.ErrNotExist
	}
	raw, err := os.ReadFile(filepath.Join(dir, "fork.json"))
	if err != nil {
		return ft, err
	}
	if err := json.Unmarshal(raw, &ft); err != nil {
		return ft, err
	}
	if !strings.HasPrefix(ft.Volume, overlayVolumePrefix) || ft.Base == "" || strings.ContainsAny(ft.Base, "/\\.") {
		return ft, fmt.Errorf("fork tree %s: bad fork.json", id)
	}
	return ft, nil
}

// volume returns the name of the fork id's workspace volume, if it has
// one.
func (t *forkTrees) volume(id string) (string, bool) {
	if t.be == nil {
		return "", false
	}
	ft, err := t.read(id)
	return ft.Volume, err == nil
}

// overlay describes the fork id's workspace volume, target being where
// its sandbox mounts it, for a backend that mounts it on a sandbox
// already running (sandbox.OverlayStarter).
func (t *forkTrees) overlay(id, target string) (sandbox.OverlayVolume, bool) {
	if t.be == nil {
		return sandbox.OverlayVolume{}, false
	}
	ft, err := t.read(id)
	if err != nil {
		return sandbox.OverlayVolume{}, false
	}
	dir := t.forkDir(id)
	return sandbox.OverlayVolume{Name: ft.Volume, Owner: id, Target: target,
		Lower: filepath.Join(t.dir, "bases", ft.Base), Upper: filepath.Join(dir, "up"), Work: filepath.Join(dir, "work")}, true
}

// acquire counts one more fork using the base key, made first by fill
// (given a folder that does not exist yet) unless it is made or being
// made: K forks of one point wait for one fill.
func (t *forkTrees) acquire(ctx context.Context, key string, fill func(dir string) error) error {
	t.mu.Lock()
	b := t.bases[key]
	if b != nil {
		b.refs++
		t.mu.Unlock()
		select {
		case <-b.done:
		case <-ctx.Done():
			t.unref(key, b)
			return ctx.Err()
		}
		if b.err != nil {
			t.unref(key, b)
			return b.err
		}
		return nil
	}
	b = &baseTree{done: make(chan struct{}), refs: 1}
	t.bases[key] = b
	t.mu.Unlock()
	final := filepath.Join(t.dir, "bases", key)
	tmp := final + ".new-" + rand.Text()[:8]
	err := fill(tmp)
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	t.mu.Lock()
	b.err = err
	if err != nil && t.bases[key] == b {
		delete(t.bases, key) // the next fork tries again
	}
	close(b.done)
	t.mu.Unlock()
	if err != nil {
		t.unref(key, b)
	}
	return err
}

// unref counts one fork less using the base b of key, and removes the
// base when none uses it any more.
func (t *forkTrees) unref(key string, b *baseTree) {
	t.mu.Lock()
	b.refs--
	gone := ""
	if b.refs <= 0 && t.bases[key] == b {
		delete(t.bases, key)
		final := filepath.Join(t.dir, "bases", key)
		gone = final + ".gone-" + rand.Text()[:8]
		if os.Rename(final, gone) != nil {
			gone = ""
		}
	}
	t.mu.Unlock()
	if gone != "" {
		if err := os.RemoveAll(gone); err != nil {
			t.log.Warn("base of fork workspaces not removed", "dir", gone, "err", err)
		}
	}
}

// release counts one fork less using the base key.
func (t *forkTrees) release(key string) {
	t.mu.Lock()
	b := t.bases[key]
	t.mu.Unlock()
	if b != nil {
		t.unref(key, b)
	}
}

// errForkTreeExists: the workspace of an earlier fork of that id is
// there still, and cannot be removed.
var errForkTreeExists = errors.New("fork tree exists")

// make makes the workspace volume of the fork id over the base key, its
// target in the sandbox being target: fork.json first (so that a removal
// finds the volume however far this got), then the upper and work
// folders, then the volume. The upper folder's root takes the mode and
// owners of the base's, which the mount shows as the workspace's own. On
// failure, what was made goes.
func (t *forkTrees) make(ctx context.Context, id, owner, key, target string) (err error) {
	dir := t.forkDir(id)
	if dir == "" {
		return fmt.Errorf("fork tree: id %q", id)
	}
	err = os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		// Left by an earlier fork of this id whose removal did not end.
		if err := t.drop(ctx, id); err != nil {
			return fmt.Errorf("%w: %w", errForkTreeExists, err)
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	ft := forkTree{Base: key, Volume: overlayVolumePrefix + strings.ToLower(rand.Text()[:20])}
	defer func() {
		if err != nil {
			t.be.RemoveOverlayVolume(context.WithoutCancel(ctx), ft.Volume)
			os.RemoveAll(dir)
		}
	}()
	raw, _ := json.Marshal(ft)
	if err := os.WriteFile(filepath.Join(dir, "fork.json"), raw, 0o600); err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	base := filepath.Join(t.dir, "bases", key)
	st, err := os.Lstat(base)
	if err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	up, work := filepath.Join(dir, "up"), filepath.Join(dir, "work")
	if err := os.Mkdir(up, st.Mode().Perm()); err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Lchown(up, int(sys.Uid), int(sys.Gid)); err != nil {
			return fmt.Errorf("fork tree: %w", err)
		}
	}
	if err := os.Chmod(up, st.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	return t.be.CreateOverlayVolume(ctx, sandbox.OverlayVolume{Name: ft.Volume, Owner: id, Target: target,
		Lower: base, Upper: up, Work: work})
}

// drop removes the workspace volume of the fork id, its folders, and its
// base when no other fork uses it. The fork's sandbox must be gone: a
// volume in use is not removed (the error says so, and the folders stay).
// A fork without a workspace volume is not an error.
func (t *forkTrees) drop(ctx context.Context, id string) error {
	if t.be == nil {
		return nil
	}
	dir := t.forkDir(id)
	if dir == "" {
		return nil
	}
	ft, err := t.read(id)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(dir); err == nil {
			return os.RemoveAll(dir) // made no further than its folder
		}
		return nil
	}
	if err == nil {
		if err := t.be.RemoveOverlayVolume(ctx, ft.Volume); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("fork tree: %w", err)
	}
	if ft.Base != "" {
		t.release(ft.Base)
	}
	return nil
}

// ids returns the ids of the forks that have a folder here.
func (t *forkTrees) ids() []string {
	if t.be == nil {
		return nil
	}
	entries, _ := os.ReadDir(filepath.Join(t.dir, "forks"))
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}
