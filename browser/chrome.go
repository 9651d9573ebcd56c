package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Defaults of Options.
const (
	DefaultLoadTimeout = 30 * time.Second
	DefaultIdleTimeout = 10 * time.Minute
	DefaultContentMax  = 30000
	// startTimeout bounds a browser's start and its first tab.
	startTimeout = 60 * time.Second
)

// Conn is a running Chromium's DevTools channel (see
// sandbox.BrowserConn): Read and Write carry the protocol's messages, each
// ended by a zero byte; Close stops the browser; Done closes when it ended,
// and Err says why when it was not asked to.
type Conn interface {
	io.ReadWriteCloser
	Done() <-chan struct{}
	Err() error
}

// Starter starts a new browser and returns its channel.
type Starter func(ctx context.Context) (Conn, error)

// Options tune a Browser. Zero fields take the defaults.
type Options struct {
	// LoadTimeout bounds the wait for a page to load, and any one call
	// (BROWSER_LOAD_TIMEOUT). Default 30 s.
	LoadTimeout time.Duration
	// IdleTimeout stops a browser no call used for that long
	// (BROWSER_IDLE_TIMEOUT); the next call starts a new one. Default 10
	// minutes; negative never.
	IdleTimeout time.Duration
	// OnRestart, if set, is told when a call starts a new browser because
	// the last one died (reason says how).
	OnRestart func(reason error)
	// Logger receives the browser's warnings.
	Logger *slog.Logger
}

// Browser is a Page on browsers that start is asked for: one at a time,
// started on the first call. It is safe for concurrent use; calls run one
// at a time. Close stops it.
type Browser struct {
	start Starter
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex // serialises calls; guards the fields below
	cur    *instance
	died   error // why the last browser died, until a call restarts it
	closed bool
	idle   *time.Timer
	notes  []string // what happened since the last State: a restart

	notesMu sync.Mutex
	pending []string // dialogs and downloads, noted from chromedp's goroutines

	// running is cur, for Running and Memory, which must not wait for a
	// call (up to LoadTimeout) to end.
	running atomic.Pointer[instance]
}

var _ Page = (*Browser)(nil)

// New returns a Browser that starts its browsers with start.
func New(start Starter, opts Options) *Browser {
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Browser{start: start, opts: opts, log: opts.Logger.With("component", "browser")}
}

// instance is one running browser.
type instance struct {
	conn    Conn
	cancel  context.CancelFunc // stops the browser
	bctx    context.Context    // the first tab's context: the browser's
	tabs    map[target.ID]*tab
	active  target.ID
	crashMu sync.Mutex
	crashed error // a tab's renderer died
}

// tab is a tab the server attached to.
type tab struct {
	ctx    context.Context
	cancel context.CancelFunc // nil for the first tab (cancelling it stops the browser)
}

// Running reports whether a browser is up.
func (b *Browser) Running() bool {
	inst := b.running.Load()
	return inst != nil && !inst.dead()
}

// Memory returns the memory the running browser uses, when its channel can
// tell (sandbox.BrowserConn can); ok is false when no browser runs.
func (b *Browser) Memory(ctx context.Context) (n int64, ok bool, err error) {
	inst := b.running.Load()
	if inst == nil || inst.dead() {
		return 0, false, nil
	}
	m, can := inst.conn.(interface {
		Memory(context.Context) (int64, error)
	})
	if !can {
		return 0, false, nil
	}
	n, err = m.Memory(ctx)
	return n, err == nil, err
}

// Close stops the browser, if one runs. Calls after Close start none and
// fail with ErrNoBrowser.
func (b *Browser) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.idle != nil {
		b.idle.Stop()
	}
	b.stopLocked()
	return nil
}

// Stop stops the running browser, if any; the next call starts a new one.
func (b *Browser) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked()
}

func (b *Browser) stopLocked() {
	if b.cur != nil {
		b.cur.stop()
		b.cur = nil
		b.running.Store(nil)
	}
}

func (inst *instance) stop() {
	inst.cancel()
	inst.conn.Close()
}

// dead reports whether the browser ended or a tab's renderer crashed.
func (inst *instance) dead() bool {
	select {
	case <-inst.conn.Done():
		return true
	default:
	}
	inst.crashMu.Lock()
	defer inst.crashMu.Unlock()
	return inst.crashed != nil
}

// failure says why the browser died, or nil when it was stopped on
// purpose (or runs).
func (inst *instance) failure() error {
	inst.crashMu.Lock()
	crashed := inst.crashed
	inst.crashMu.Unlock()
	if crashed != nil {
		return crashed
	}
	return inst.conn.Err()
}

// why says why a dead browser died.
func (inst *instance) why() error {
	inst.crashMu.Lock()
	crashed := inst.crashed
	inst.crashMu.Unlock()
	if crashed != nil {
		return crashed
	}
	if err := inst.conn.Err(); err != nil {
		return err
	}
	return errors.New("the browser's channel closed")
}

// call runs fn on the browser, starting one first when none runs (or the
// last died), under the load bound and ctx.
func (b *Browser) call(ctx context.Context, fn func(ctx context.Context, inst *instance) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("%w: the browser is closed", ErrNoBrowser)
	}
	defer b.touchLocked()
	inst, err := b.ensureLocked(ctx)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(inst.tabCtx(), b.opts.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err = fn(tctx, inst)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNoElement) {
		return err
	}
	if inst.dead() || waitDone(inst.conn, 200*time.Millisecond) {
		why := inst.why()
		b.died = why
		b.stopLocked()
		return fmt.Errorf("%w: %v; the next call starts a new browser", ErrCrashed, why)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if tctx.Err() == context.DeadlineExceeded {
		// Leave the page in a state the next call can use.
		sctx, scancel := context.WithTimeout(inst.tabCtx(), 2*time.Second)
		chromedp.Call(sctx, page.StopLoading, cdp.Empty{})
		scancel()
		return fmt.Errorf("%w: nothing finished within %s", ErrTimeout, b.opts.LoadTimeout)
	}
	return err
}

// waitDone reports whether c ends within d.
func waitDone(c Conn, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.Done():
		return true
	case <-t.C:
		return false
	}
}

// touchLocked restarts the idle timer.
func (b *Browser) touchLocked() {
	if b.opts.IdleTimeout < 0 || b.cur == nil {
		return
	}
	if b.idle == nil {
		b.idle = time.AfterFunc(b.opts.IdleTimeout, b.stopIdle)
		return
	}
	b.idle.Reset(b.opts.IdleTimeout)
}

func (b *Browser) stopIdle() {
	if !b.mu.TryLock() {
		return // a call runs: it resets the timer when done
	}
	defer b.mu.Unlock()
	if b.cur != nil {
		b.log.Info("stopping idle browser", "after", b.opts.IdleTimeout)
		b.stopLocked()
	}
}

// ensureLocked returns the running browser, starting one when there is
// none or the last one died.
func (b *Browser) ensureLocked(ctx context.Context) (*instance, error) {
	if b.cur != nil && !b.cur.dead() {
		return b.cur, nil
	}
	if b.cur != nil {
		// A browser stopped on purpose (its sandbox stopped, say) is
		// started again without a word; one that died is reported.
		if err := b.cur.failure(); err != nil {
			b.died = err
		}
		b.stopLocked()
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	inst, err := b.launch(sctx)
	if err != nil {
		return nil, err
	}
	b.cur = inst
	b.running.Store(inst)
	if b.died != nil {
		reason := b.died
		b.died = nil
		b.log.Warn("browser restarted", "reason", reason)
		b.notes = append(b.notes, "The browser had stopped ("+reason.Error()+") and was started again: tabs open before are gone.")
		if b.opts.OnRestart != nil {
			b.opts.OnRestart(reason)
		}
	}
	return inst, nil
}

// allocator hands chromedp a browser that is already running.
type allocator struct{ conn Conn }

func (a allocator) Allocate(ctx context.Context, opts ...chromedp.BrowserOption) (*chromedp.Browser, error) {
	return chromedp.NewBrowserTransport(ctx, chromedp.NewPipeConn(a.conn, a.conn), opts...)
}

func (allocator) Wait() {}

// launch starts a browser and attaches to its first tab.
func (b *Browser) launch(ctx context.Context) (*instance, error) {
	conn, err := b.start(ctx)
	if err != nil {
		return nil, err
	}
	actx, acancel := chromedp.NewAllocatorContext(context.Background(), allocator{conn})
	inst := &instance{conn: conn, tabs: make(map[target.ID]*tab)}
	first := &tab{}
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(b.listener(inst, first)))
	first.ctx = bctx
	inst.bctx = bctx
	inst.cancel = func() { bcancel(); acancel() }
	// The first Run must get the browser's own context (a deadline on it
	// would stop the browser): bound it from outside.
	stop := context.AfterFunc(ctx, inst.cancel)
	err = chromedp.Do(bctx)
	if err == nil {
		_, err = chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorDeny, EventsEnabled: ptr(true),
		})
	}
	if err == nil {
		err = chromedp.ListenBrowser(bctx, b.browserListener())
	}
	stopped := !stop()
	if err != nil || stopped {
		inst.stop()
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("the browser did not start in time: %w", ctx.Err())
		}
		if cerr := conn.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", err, cerr)
		}
		return nil, fmt.Errorf("start browser: %w", err)
	}
	id := chromedp.FromContext(bctx).Target.TargetID
	inst.tabs[id] = first
	inst.active = id
	return inst, nil
}

// tabCtx is the context of the active tab.
func (inst *instance) tabCtx() context.Context {
	if t := inst.tabs[inst.active]; t != nil {
		return t.ctx
	}
	return inst.bctx
}

// listener handles a tab's events: it accepts dialogs and notes them, and
// notes a renderer crash. It runs on the tab's reading goroutine, so the
// dialog is answered from another one.
func (b *Browser) listener(inst *instance, t *tab) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.note(fmt.Sprintf("A %s dialog said %q; it was accepted.", ev.Type, ev.Message))
			go func() {
				ctx, cancel := context.WithTimeout(t.ctx, 5*time.Second)
				defer cancel()
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		case *inspector.EventTargetCrashed:
			inst.crashMu.Lock()
			inst.crashed = errors.New("the page's renderer crashed (out of memory, or killed)")
			inst.crashMu.Unlock()
		}
	}
}

// browserListener notes refused downloads.
func (b *Browser) browserListener() func(ev any) {
	return func(ev any) {
		if ev, ok := ev.(*browser.EventDownloadWillBegin); ok {
			b.note(fmt.Sprintf("A download of %s (%s) was refused: the browser saves no files.", ev.URL, ev.SuggestedFilename))
		}
	}
}

// note records what happened, for the next State's text.
func (b *Browser) note(s string) {
	// Called from chromedp's goroutines while a call may hold b.mu.
	b.notesMu.Lock()
	b.pending = append(b.pending, s)
	b.notesMu.Unlock()
}

// takeNotes returns and clears what happened since the last State.
func (b *Browser) takeNotes() []string {
	b.notesMu.Lock()
	defer b.notesMu.Unlock()
	out := append(b.notes, b.pending...)
	b.notes, b.pending = nil, nil
	return out
}

func ptr[T any](v T) *T { return &v }

// describe writes a state as the model reads it.
func describe(s State, notes []string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "URL: %s\nTitle: %s\n", s.URL, s.Title)
	if len(s.Tabs) > 1 {
		fmt.Fprintf(&w, "Tabs: %d open\n", len(s.Tabs))
	}
	for _, n := range notes {
		fmt.Fprintf(&w, "Note: %s\n", n)
	}
	if len(s.Elements) == 0 {
		w.WriteString("No interactive elements.\n")
		return w.String()
	}
	w.WriteString("Interactive elements:\n")
	for _, e := range s.Elements {
		fmt.Fprintf(&w, "[%d] <%s", e.Index, e.Tag)
		for _, k := range []string{"type", "role", "name", "placeholder", "href", "value", "aria-label"} {
			v := e.Attrs[k]
			if k == "role" {
				v = e.Role
			}
			if v != "" {
				fmt.Fprintf(&w, " %s=%q", k, v)
			}
		}
		w.WriteString(">")
		if e.Text != "" {
			w.WriteString(" " + e.Text)
		}
		w.WriteString("\n")
	}
	return w.String()
}
