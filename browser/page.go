// Package browser is a web browser an agent drives: Chromium, one per
// conversation, in a container that shares the network of the
// conversation's sandbox, driven over the DevTools protocol with chromedp.
//
// Page is what the browser tools call. Browser implements it on a Starter,
// which gives a channel to a freshly started Chromium (the Docker backend's
// StartBrowser, see package sandbox/docker). Browser starts one on the
// first call, numbers the page's interactive elements for the model,
// accepts dialogs and reports them, refuses downloads, bounds every wait,
// restarts a browser that died on the next call (telling Options.OnRestart),
// and stops an idle one.
//
// # The channel
//
// Chromium speaks the protocol on its file descriptors 3 and 4
// (--remote-debugging-pipe) and opens no port. In the container, a shell
// gives it the container's stdin as fd 3 and the container's stdout as fd
// 4, and the server attaches to those streams through the engine's API.
// Only the server reaches the engine: a process in the sandbox, which
// shares the browser's network namespace and so its loopback, finds no
// DevTools port to bind first or to connect to, and cannot reach the
// browser's stdio. Unlike a Unix socket in a host folder, this needs no
// mount at all and no relay program in the image, and works the same when
// the server runs in a container or talks to a remote engine.
package browser

import (
	"context"
	"errors"
	"fmt"

	"github.com/gohands/gohands/sandbox"
)

// Element is an interactive element of the page, numbered for the model.
type Element struct {
	Index int               `json:"index"`
	Tag   string            `json:"tag"`
	Role  string            `json:"role,omitempty"`
	Text  string            `json:"text,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Tab is one tab of the browser.
type Tab struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	Active bool   `json:"active"`
}

// State is what the model sees of the page.
type State struct {
	URL, Title string
	Elements   []Element
	Tabs       []Tab
	// Screenshot is a PNG of the viewport, when asked for.
	Screenshot []byte
	// Text is the state as text the model can act on: the URL, the title,
	// what happened meanwhile (dialogs, refused downloads, a restart), and
	// one "[index] <tag> text" line per element.
	Text string
}

// Page is a conversation's browser as tools see it. Its methods are safe
// for concurrent use; they run one at a time.
type Page interface {
	Navigate(ctx context.Context, url string, newTab bool) (State, error)
	Click(ctx context.Context, index int, newTab bool) (State, error)
	Type(ctx context.Context, index int, text string) (State, error)
	Scroll(ctx context.Context, down bool) (State, error)
	Back(ctx context.Context) (State, error)
	State(ctx context.Context, screenshot bool) (State, error)
	// Content returns the page as Markdown, from startFromChar, at most
	// max characters (0: DefaultContentMax).
	Content(ctx context.Context, extractLinks bool, startFromChar, max int) (string, error)
	Tabs(ctx context.Context) ([]Tab, error)
	SwitchTab(ctx context.Context, id string) (State, error)
	CloseTab(ctx context.Context, id string) ([]Tab, error)
}

// Errors the tools turn into clear observations. Errors of this package
// wrap them.
var (
	// ErrNoElement means the index is not on the page (the page changed).
	ErrNoElement = errors.New("no such element")
	// ErrTimeout means the page did not load within the bound.
	ErrTimeout = errors.New("the page did not load in time")
	// ErrCrashed means the browser died; the next call restarts it (and
	// Options.OnRestart reports it).
	ErrCrashed = errors.New("the browser crashed")
	// ErrNoBrowser means this deployment has no browser (no image, or
	// disabled): tools fall back to the text fetcher.
	ErrNoBrowser = sandbox.ErrNoBrowser
)

// noElement is the ErrNoElement of index.
func noElement(index int) error {
	return fmt.Errorf("element %d is not on the page; get the state again: %w", index, ErrNoElement)
}
