package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/gohands/gohands/sandbox"
)

// The fork pool keeps Options.ForkPoolSize running sandboxes of the
// default Spec whose working folder is a bind of an empty host folder, a
// slot: Options.SlotDir/<container name>/ws, bound with rslave
// propagation. SlotDir itself is a bind mount of itself made rshared, so
// that a mount made on a slot on the host after the container started
// shows inside the container. StartOverlay takes such a sandbox and
// mounts a fork's copy-on-write overlay (lower = the checkpoint's base,
// upper and work the fork's own) on its slot: a fork then costs no
// container start.
//
// The sandbox cannot undo or escape the mount: it has no CAP_SYS_ADMIN
// (capabilities), and with rslave nothing it mounts goes back to the
// host. The slot's mount goes when its container is removed (remove,
// destroyContainer); at New, and after a kill of the server, slots whose
// container is gone are unmounted and removed (dropStaleSlots).
//
// This needs a local engine in this process's mount namespace and a
// server that may mount (root): New tries once, and without it the fork
// pool is off and StartOverlay answers sandbox.ErrNoOverlay.

// labelSlot marks a fork pool sandbox: its working folder is the slot
// Options.SlotDir/<name>/ws.
const labelSlot = "gohands.slot"

// slotFile, beside a slot's ws folder, says whose the slot is once taken.
const slotFile = "slot.json"

// slotInfo is what slotFile holds.
type slotInfo struct {
	Owner  string `json:"owner"`
	Volume string `json:"volume"` // the OverlayVolume's name
}

var _ sandbox.OverlayStarter = (*Manager)(nil)

// setupSlots prepares Options.SlotDir for the fork pool and starts
// filling it; it reports why when the pool cannot be had.
func (m *Manager) setupSlots() error {
	dir := m.opts.SlotDir
	switch {
	case !m.local:
		return fmt.Errorf("engine %s is not on this host", m.engine.DaemonHost())
	case dir == "" || !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || strings.ContainsAny(dir, ",:\\\n"):
		return fmt.Errorf("slot folder %q is not an absolute clean path", dir)
	case os.Geteuid() != 0:
		return errors.New("the server is not root: it cannot mount")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	defer cancel()
	m.dropStaleSlots(ctx)
	return nil
}

// isMountPoint reports whether dir is the mount point of a mount of this
// process's namespace.
func isMountPoint(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMount undoes the octal escapes of a mountinfo path.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			ok := true
			for _, d := range s[i+1 : i+4] {
				if d < '0' || d > '7' {
					ok = false
					break
				}
				c = c*8 + byte(d-'0')
			}
			if ok {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// slotsOn reports whether the fork pool is on.
func (m *Manager) slotsOn() bool { return m.slotOn.Load() }

// slotDirOf returns the slot folder of the container named name, "" for a
// name that is no single folder name.
func (m *Manager) slotDirOf(name string) string {
	if m.opts.SlotDir == "" || name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return ""
	}
	return filepath.Join(m.opts.SlotDir, name)
}

// slotMount is the bind of s's slot on its working folder.
func slotMount(s *Sandbox, target string) mount.Mount {
	return mount.Mount{Type: mount.TypeBind, Source: filepath.Join(s.slot, "ws"), Target: target,
		BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave}}
}

// newSlotPool returns the fork pool, which m.slots.Fill keeps full
// from the first StartOverlay on (a server that never forks keeps no fork
// pool).
func (m *Manager) newSlotPool() *sandbox.Pool[*Sandbox] {
	cfg := m.poolConfig("fork pool", func() resolved { return m.slotSpec }, func() int {
		if !m.slotsOn() || !m.slotWanted.Load() {
			return 0
		}
		return m.opts.ForkPoolSize
	})
	// Not while forks that just took sandboxes restore their files:
	// a container's start is CPU the engine takes from them.
	cfg.Hold = func() time.Duration {
		return time.Until(time.Unix(0, m.slotTaken.Load()).Add(slotRefillDelay))
	}
	return m.reg.NewPool(cfg)
}

// slotRefillDelay is how long after a sandbox was taken from the fork
// pool its refill waits.
const slotRefillDelay = time.Second

// ForkPoolReady returns how many sandboxes wait in the fork pool.
func (m *Manager) ForkPoolReady() int { return m.slots.Len() }

// StartOverlay gives owner a sandbox of the fork pool whose working
// folder shows v, mounted on its slot: no container is started. It
// answers sandbox.ErrNoOverlay when it cannot (the pool is off or empty,
// as it is until the first call has it filled,
// spec, without its mount of v, asks for what pool sandboxes lack, or the
// mount fails): the caller then starts one with Start. A mount refused
// for want of rights turns the pool off.
func (m *Manager) StartOverlay(ctx context.Context, owner string, spec sandbox.Spec, v sandbox.OverlayVolume) (sandbox.Sandbox, error) {
	if !m.slotsOn() {
		return nil, fmt.Errorf("%w: no fork pool", sandbox.ErrNoOverlay)
	}
	if !m.slotWanted.Swap(true) {
		m.slots.Kick()
	}
	for _, p := range []string{v.Lower, v.Upper, v.Work} {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, ",:\\\n") {
			return nil, fmt.Errorf("%w: folder %q cannot be an overlay option", sandbox.ErrNoOverlay, p)
		}
	}
	spec.AddMounts = slices.DeleteFunc(slices.Clone(spec.AddMounts), func(mt sandbox.Mount) bool {
		return mt.Volume && mt.Source == v.Name
	})
	r, err := m.opts.resolve(spec)
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", owner, err)
	}
	if r.workspace != v.Target || !r.servedByPool(m.poolSpec) {
		return nil, fmt.Errorf("%w: the fork pool's sandboxes do not serve this spec", sandbox.ErrNoOverlay)
	}
	release, err := m.reg.Claim(owner)
	if err != nil {
		return nil, err
	}
	defer release()
	defer m.slots.Kick()
	m.slotTaken.Store(time.Now().UnixNano())
	s, ok := m.slots.Take(ctx)
	if !ok {
		return nil, fmt.Errorf("%w: the fork pool is empty", sandbox.ErrNoOverlay)
	}
	if err := m.mountSlot(s, owner, v); err != nil {
		m.discard(ctx, s)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENODEV) {
			m.slotOn.Store(false)
			m.log.WarnContext(ctx, "fork pool off: the server cannot mount a fork's workspace", "err", err)
		}
		return nil, fmt.Errorf("%w: %w", sandbox.ErrNoOverlay, err)
	}
	m.assign(s, owner, true)
	m.log.InfoContext(ctx, "sandbox from fork pool", "container", s.name, "owner", owner, "volume", v.Name)
	return s, nil
}

// mountSlot records owner and v in s's slot and mounts v's overlay on it.
func (m *Manager) mountSlot(s *Sandbox, owner string, v sandbox.OverlayVolume) error {
	raw, _ := json.Marshal(slotInfo{Owner: owner, Volume: v.Name})
	if err := os.WriteFile(filepath.Join(s.slot, slotFile), raw, 0o600); err != nil {
		return err
	}
	ws := filepath.Join(s.slot, "ws")
	opts := "lowerdir=" + v.Lower + ",upperdir=" + v.Upper + ",workdir=" + v.Work
	if err := unix.Mount("overlay", ws, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount the overlay on %s: %w", ws, err)
	}
	return nil
}

// readSlot returns what the slot of the container named name says, if
// it was taken.
func (m *Manager) readSlot(name string) (slotInfo, bool) {
	var si slotInfo
	dir := m.slotDirOf(name)
	if dir == "" {
		return si, false
	}
	raw, err := os.ReadFile(filepath.Join(dir, slotFile))
	if err != nil || json.Unmarshal(raw, &si) != nil {
		return si, false
	}
	return si, true
}

// dropSlot unmounts what is mounted on the slot folder dir and removes
// it. A slot whose mount does not go is left whole (its files are a
// fork's).
func (m *Manager) dropSlot(dir string) error {
	ws := filepath.Join(dir, "ws")
	for range 8 { // a mount may sit over another
		err := unix.Unmount(ws, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not a mount point (any more)
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", ws, err)
		}
	}
	if mounted, err := isMountPoint(ws); err != nil || mounted {
		return fmt.Errorf("slot %s: still mounted", ws)
	}
	return os.RemoveAll(dir)
}

// dropStaleSlots removes the slots whose container is gone: those a
// killed server left, and those of containers removed outside this
// Manager. With no slot left it also unmounts the slot folder's own bind
// when the Manager is closed.
func (m *Manager) dropStaleSlots(ctx context.Context) {
	entries, err := os.ReadDir(m.opts.SlotDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := m.slotDirOf(e.Name())
		m.mu.Lock()
		making := m.makingSlots[dir]
		m.mu.Unlock()
		if dir == "" || making {
			continue
		}
		_, err := m.engine.ContainerInspect(ctx, e.Name())
		if !isGone(err) {
			continue // in use, or the engine cannot tell
		}
		if err := m.dropSlot(dir); err != nil {
			m.log.WarnContext(ctx, "slot of a removed sandbox not removed", "slot", dir, "err", err)
		}
	}
}

// ReleaseSlots removes the slots whose container is gone, then unmounts
// the bind of Options.SlotDir when no slot is left in it. Close calls
// it, so that a server that stops with no fork on a slot leaves no mount
// behind; so do tests after removing their containers.
func (m *Manager) ReleaseSlots(ctx context.Context) {
	if m.opts.ForkPoolSize == 0 || m.opts.SlotDir == "" {
		return
	}
	if _, err := os.Stat(m.opts.SlotDir); err != nil {
		return
	}
	m.dropStaleSlots(ctx)
	dir := m.opts.SlotDir
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		return
	}
	if mounted, _ := isMountPoint(dir); mounted {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			m.log.Warn("slot folder not unmounted", "dir", dir, "err", err)
		}
	}
}
