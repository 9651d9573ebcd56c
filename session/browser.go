package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/sandbox"
)

// BrowserOptions configure the conversations' browsers (see
// browser.Options); zero fields take the package's defaults.
type BrowserOptions struct {
	// LoadTimeout bounds the wait for a page (BROWSER_LOAD_TIMEOUT).
	LoadTimeout time.Duration
	// IdleTimeout stops a browser unused that long (BROWSER_IDLE_TIMEOUT);
	// negative never.
	IdleTimeout time.Duration
}

// browserSlot holds a conversation's browser, made on first use.
type browserSlot struct {
	mu sync.Mutex
	b  *browser.Browser
}

// WithBrowser runs fn with the conversation's browser: Chromium beside its
// sandbox, in the sandbox's network, started on the first call (and the
// sandbox with it). The sandbox counts as in use while fn runs. A backend
// that runs no browsers gives browser.ErrNoBrowser.
func (w toolWorkspace) WithBrowser(ctx context.Context, fn func(browser.Page) error) error {
	return w.a.WithBrowser(ctx, fn)
}

// WithBrowser: see toolWorkspace.WithBrowser.
func (a *AgentSession) WithBrowser(ctx context.Context, fn func(browser.Page) error) error {
	b, err := a.browser()
	if err != nil {
		return err
	}
	return a.WithSandbox(ctx, func(*agentapi.Client) error { return fn(b) })
}

// browser returns the conversation's Browser, made on first use.
func (a *AgentSession) browser() (*browser.Browser, error) {
	be, ok := a.sb.be.(sandbox.Browsers)
	if !ok || a.sb.be == nil {
		return nil, fmt.Errorf("%w: this server's sandboxes run no browser", browser.ErrNoBrowser)
	}
	a.brw.mu.Lock()
	defer a.brw.mu.Unlock()
	if a.brw.b == nil {
		o := a.m.opts.Browser
		a.brw.b = browser.New(func(ctx context.Context) (browser.Conn, error) {
			return be.StartBrowser(ctx, a.id)
		}, browser.Options{
			LoadTimeout: o.LoadTimeout,
			IdleTimeout: o.IdleTimeout,
			Logger:      a.log,
			OnRestart:   a.browserRestarted,
		})
	}
	return a.brw.b, nil
}

// browserRestarted tells the conversation that its browser died and a
// new one took its place: a SandboxStatus event (the sandbox itself runs).
func (a *AgentSession) browserRestarted(reason error) {
	e := &event.SandboxStatus{
		Status:  event.SandboxRunning,
		Message: "the browser stopped unexpectedly (" + reason.Error() + "); a new one was started, and the pages open before are gone",
	}
	if sb := a.sb.current(); sb != nil {
		h := sb.Handle()
		e.SandboxID, e.Image = h.ID, h.Image
	}
	if err := a.Append(e); err != nil {
		a.log.Warn("browser restart event not stored", "err", err)
	}
}

// BrowserMemory returns the memory the conversation's browser uses now;
// ok is false when it runs none.
func (a *AgentSession) BrowserMemory(ctx context.Context) (n int64, ok bool) {
	a.brw.mu.Lock()
	b := a.brw.b
	a.brw.mu.Unlock()
	if b == nil {
		return 0, false
	}
	n, ok, err := b.Memory(ctx)
	if err != nil {
		a.log.Debug("browser memory", "err", err)
	}
	return n, ok
}

// closeBrowser stops the conversation's browser, if it has one.
func (a *AgentSession) closeBrowser() {
	a.brw.mu.Lock()
	b := a.brw.b
	a.brw.b = nil
	a.brw.mu.Unlock()
	if b != nil {
		b.Close()
	}
}

// BrowserMemory returns the memory of each loaded conversation's running
// browser, by conversation id: for /metrics.
func (m *ConversationManager) BrowserMemory(ctx context.Context) map[string]int64 {
	m.mu.Lock()
	convs := make([]*AgentSession, 0, len(m.convs))
	for _, a := range m.convs {
		convs = append(convs, a)
	}
	m.mu.Unlock()
	out := make(map[string]int64)
	for _, a := range convs {
		if n, ok := a.BrowserMemory(ctx); ok {
			out[a.id] = n
		}
	}
	return out
}
