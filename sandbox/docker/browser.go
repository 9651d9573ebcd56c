package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/gohands/gohands/sandbox"
)

// labelBrowser is "1" on every browser container. A browser also carries
// labelServer, labelInstance and labelOwner, the owner of the sandbox
// whose network it shares.
const labelBrowser = "gohands.browser"

// BrowserOptions configure the browsers a Manager runs beside its
// sandboxes (see StartBrowser).
type BrowserOptions struct {
	// Image is the browser image (BROWSER_IMAGE); it must have Debian's
	// Chromium (/usr/lib/chromium/chromium), sh, and a user 1000. Default sandbox.DefaultBrowserImage;
	// BrowsersOff runs none (StartBrowser gives sandbox.ErrNoBrowser).
	Image string
	// Memory bounds a browser container, in bytes, swap included
	// (BROWSER_MEMORY). Default 1 GiB: a page that eats more gets the
	// browser killed, never the server.
	Memory int64
	// PidsLimit bounds its processes (BROWSER_PIDS_LIMIT). Default 512.
	PidsLimit int64
}

// BrowsersOff as BrowserOptions.Image turns browsers off.
const BrowsersOff = "none"

func (o BrowserOptions) withDefaults() BrowserOptions {
	if o.Image == "" {
		o.Image = sandbox.DefaultBrowserImage
	}
	if o.Memory <= 0 {
		o.Memory = 1 << 30
	}
	if o.PidsLimit <= 0 {
		o.PidsLimit = 512
	}
	return o
}

// browserUser is the uid:gid Chromium runs as: the image's user "browser".
const browserUser = "1000:1000"

// chromiumFlags start a headless Chromium that speaks the DevTools
// protocol on file descriptors 3 and 4 only: no port is opened. The
// container is the sandbox (Chromium's own needs namespaces the engine's
// seccomp profile refuses), and /tmp, a tmpfs, holds the profile.
var chromiumFlags = []string{
	"--headless",
	"--remote-debugging-pipe",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-dev-shm-usage",
	"--user-data-dir=/tmp/profile",
	"--no-first-run",
	"--no-default-browser-check",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-default-apps",
	"--disable-extensions",
	"--disable-sync",
	"--disable-breakpad",
	"--disable-crash-reporter",
	"--disable-features=Translate,MediaRouter,OptimizationHints",
	"--mute-audio",
	"--hide-scrollbars",
	"--window-size=1280,800",
	"about:blank",
}

// chromiumScript runs Chromium with the container's stdin as its command
// pipe (fd 3) and the container's stdout as its message pipe (fd 4); its
// own output goes to stderr. It runs Debian's binary itself: the
// /usr/bin/chromium wrapper starts a dozen small programs first, each
// slow to load in a container, for settings the flags here give.
const chromiumScript = `exec /usr/lib/chromium/chromium "$@" 3<&0 4>&1 0</dev/null 1>&2`

// StartBrowser starts a Chromium container for owner in the network
// namespace of owner's running sandbox, and returns its DevTools channel:
// the container's stdin and stdout, attached through the engine's API.
// Only the server reaches the engine, so nothing in the sandbox can open,
// impersonate or drive this channel; Chromium listens on no port. A
// browser owner had already is removed first.
//
// The container runs as an unprivileged user with no capabilities, a
// read-only root filesystem (the profile lives in a tmpfs), no mounts, its
// own memory and pids limits, and no log (the protocol's traffic is no
// log). It is removed when its sandbox stops, when the server starts
// again, and by Close.
func (m *Manager) StartBrowser(ctx context.Context, owner string) (sandbox.BrowserConn, error) {
	if m.opts.Browser.Image == BrowsersOff {
		return nil, fmt.Errorf("%w: browsers are turned off (BROWSER_IMAGE=none)", sandbox.ErrNoBrowser)
	}
	s := m.Get(owner)
	if s == nil || s.Status() != sandbox.StatusRunning {
		return nil, fmt.Errorf("start browser of %s: its sandbox is not running", owner)
	}
	m.removeBrowser(ctx, owner)
	o := m.opts.Browser
	name := s.name + "-browser"
	cfg := &container.Config{
		Image:        o.Image,
		User:         browserUser,
		Entrypoint:   []string{"/bin/sh", "-c", chromiumScript, "chromium"},
		Cmd:          chromiumFlags,
		Env:          []string{"HOME=/tmp", "XDG_CONFIG_HOME=/tmp/.config", "XDG_CACHE_HOME=/tmp/.cache"},
		WorkingDir:   "/tmp",
		OpenStdin:    true,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		Labels:       m.browserLabels(owner),
	}
	pids := o.PidsLimit
	init := true
	hc := &container.HostConfig{
		// Chromium's helpers (the crash handler) leave orphans that
		// Chromium, were it PID 1, would never reap.
		Init:           &init,
		NetworkMode:    container.NetworkMode("container:" + s.id),
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=256m,mode=1777"},
		ShmSize:        64 << 20,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "none"},
		Resources: container.Resources{
			Memory:     o.Memory,
			MemorySwap: o.Memory,
			PidsLimit:  &pids,
		},
	}
	resp, err := m.engine.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil && cerrdefs.IsConflict(err) {
		// A browser of an earlier sandbox start, not yet removed.
		m.engine.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
		resp, err = m.engine.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	}
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%w: image %s is missing (build it with `make browser-image`): %w", sandbox.ErrNoBrowser, o.Image, err)
		}
		return nil, fmt.Errorf("create browser of %s: %w", owner, engineErr(m.engine, err))
	}
	b := &browserConn{m: m, id: resp.ID, name: name, owner: owner, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	// Attach before start, so that no message is lost; the attachment
	// outlives ctx (the browser serves later calls).
	hj, err := m.engine.ContainerAttach(context.WithoutCancel(ctx), resp.ID, container.AttachOptions{
		Stream: true, Stdin: true, Stdout: true, Stderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("attach to browser of %s: %w", owner, engineErr(m.engine, err))
	}
	b.conn = hj.Conn
	pr, pw := io.Pipe()
	b.r = pr
	go b.demux(pw, hj.Reader)
	if err := m.engine.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start browser of %s: %w", owner, engineErr(m.engine, err))
	}
	m.mu.Lock()
	if m.browsers == nil {
		m.browsers = make(map[string]*browserConn)
	}
	m.browsers[owner] = b
	m.mu.Unlock()
	ok = true
	m.log.InfoContext(ctx, "browser started", "container", name, "owner", owner)
	return b, nil
}

// browserLabels are the labels of owner's browser container.
func (m *Manager) browserLabels(owner string) map[string]string {
	labels := make(map[string]string, len(m.opts.Labels)+4)
	for k, v := range m.opts.Labels {
		labels[k] = v
	}
	labels[labelBrowser] = "1"
	labels[labelServer] = m.opts.ServerID
	labels[labelInstance] = m.instance
	labels[labelOwner] = owner
	return labels
}

// removeBrowser removes owner's browser, if it has one.
func (m *Manager) removeBrowser(ctx context.Context, owner string) {
	m.mu.Lock()
	b := m.browsers[owner]
	m.mu.Unlock()
	if b != nil {
		b.close(ctx)
	}
}

// stopBrowserOf removes owner's browser in the background: its sandbox
// is stopping, and with it the network the browser lives in.
func (m *Manager) stopBrowserOf(owner string) {
	m.mu.Lock()
	b := m.browsers[owner]
	m.mu.Unlock()
	if b == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b.close(ctx)
	}()
}

// reapBrowsers removes the browser containers of this server that an
// earlier run left (their channel died with that run), or, with all, every
// browser of this server.
func (m *Manager) reapBrowsers(ctx context.Context, all bool) {
	f := filters.NewArgs(filters.Arg("label", labelBrowser+"=1"), filters.Arg("label", labelServer+"="+m.opts.ServerID))
	list, err := m.engine.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		m.log.WarnContext(ctx, "list browsers", "err", err)
		return
	}
	for _, c := range list {
		if !all && c.Labels[labelInstance] == m.instance {
			continue
		}
		if err := m.engine.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !isGone(err) {
			m.log.WarnContext(ctx, "remove browser", "container", c.ID, "err", err)
		}
	}
}

// Browsers returns how many browsers run.
func (m *Manager) Browsers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.browsers)
}

// browserConn is a browser container attached through the engine.
type browserConn struct {
	m     *Manager
	id    string
	name  string
	owner string

	conn net.Conn      // the attachment: writes go to the browser's stdin
	r    io.ReadCloser // the browser's stdout, demultiplexed

	wmu sync.Mutex

	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
	err       error
	stderr    tail
}

var _ sandbox.BrowserConn = (*browserConn)(nil)

func (b *browserConn) ID() string            { return b.id }
func (b *browserConn) Done() <-chan struct{} { return b.done }

func (b *browserConn) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *browserConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *browserConn) Write(p []byte) (int, error) {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	select {
	case <-b.done:
		return 0, io.ErrClosedPipe
	default:
	}
	return b.conn.Write(p)
}

// Close removes the browser container.
func (b *browserConn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b.close(ctx)
}

func (b *browserConn) close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		err = b.m.engine.ContainerRemove(ctx, b.id, container.RemoveOptions{Force: true})
		if isGone(err) {
			err = nil
		}
		if b.conn != nil {
			b.conn.Close()
		}
		if b.r != nil {
			b.r.Close()
		}
		b.m.mu.Lock()
		if b.m.browsers[b.owner] == b {
			delete(b.m.browsers, b.owner)
		}
		b.m.mu.Unlock()
		if err == nil {
			b.m.log.InfoContext(ctx, "browser removed", "container", b.name, "owner", b.owner)
		}
	})
	return err
}

// demux splits the attached stream: stdout (the protocol) to w, stderr
// (Chromium's log) to a bounded tail. When the stream ends the browser
// has ended; unless it was closed, demux records why.
func (b *browserConn) demux(w *io.PipeWriter, r io.Reader) {
	_, err := stdcopy.StdCopy(w, &b.stderr, r)
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if !closed {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = b.exitError(ctx, err)
		cancel()
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
		b.m.log.Warn("browser ended", "container", b.name, "owner", b.owner, "err", err)
	}
	if err == nil {
		err = io.EOF
	}
	w.CloseWithError(err)
	close(b.done)
}

// exitError says why the browser container ended, from the engine's
// record of it, waiting a little for the engine to see the exit.
func (b *browserConn) exitError(ctx context.Context, streamErr error) error {
	for {
		info, err := b.m.engine.ContainerInspect(ctx, b.id)
		if isGone(err) {
			return fmt.Errorf("browser %s: %w", b.name, sandbox.ErrRemoved)
		}
		if err == nil && info.State != nil && !info.State.Running {
			msg := fmt.Sprintf("browser %s exited with code %d", b.name, info.State.ExitCode)
			switch {
			case info.State.OOMKilled:
				msg += " (out of memory: the page used more than the browser's memory limit)"
			case info.State.ExitCode == 137:
				msg += " (killed)"
			}
			if t := strings.TrimSpace(b.stderr.String()); t != "" {
				msg += "; last output: " + lastLines(t, 3)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browser %s: the channel to it broke: %v", b.name, streamErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Memory returns the browser container's memory use, as `docker stats`
// counts it (the page cache it may drop left out).
func (b *browserConn) Memory(ctx context.Context) (int64, error) {
	st, err := b.m.engine.ContainerStatsOneShot(ctx, b.id)
	if err != nil {
		return 0, fmt.Errorf("browser memory: %w", engineErr(b.m.engine, err))
	}
	defer st.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(st.Body).Decode(&s); err != nil {
		return 0, fmt.Errorf("browser memory: %w", err)
	}
	use := s.MemoryStats.Usage
	if c, ok := s.MemoryStats.Stats["inactive_file"]; ok && c < use {
		use -= c
	}
	return int64(use), nil
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 8<<10; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
