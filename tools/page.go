package tools

import (
	"context"

	"github.com/gohands/gohands/browser"
)

// The browser tools drive a conversation's browser (package browser)
// through these names.
type (
	// Page is a conversation's browser.
	Page = browser.Page
	// PageState is what the model sees of the page after an action.
	PageState = browser.State
	// PageElement is an interactive element of the page.
	PageElement = browser.Element
	// PageTab is one of the browser's tabs.
	PageTab = browser.Tab
)

// The errors of a Page that the tools turn into observations.
var (
	ErrNoElement = browser.ErrNoElement
	ErrTimeout   = browser.ErrTimeout
	ErrCrashed   = browser.ErrCrashed
	ErrNoBrowser = browser.ErrNoBrowser
)

// BrowserWorkspace is a Workspace whose conversation has a browser. A
// workspace that wraps another passes the browser on by implementing it
// too, or by Unwrap.
type BrowserWorkspace interface {
	// WithBrowser runs fn with the conversation's browser, starting it if
	// need be; ErrNoBrowser where the deployment has none.
	WithBrowser(ctx context.Context, fn func(Page) error) error
}

// browserOf returns the browser of a workspace, looking through the
// workspaces it wraps.
func browserOf(ws Workspace) (BrowserWorkspace, bool) {
	for range 8 {
		if b, ok := ws.(BrowserWorkspace); ok {
			return b, true
		}
		u, ok := ws.(interface{ Unwrap() Workspace })
		if !ok {
			return nil, false
		}
		ws = u.Unwrap()
	}
	return nil, false
}

// HasBrowser reports whether the tools can reach a browser through ws:
// whether the real browser tools are offered rather than the fetcher.
func HasBrowser(ws Workspace) bool {
	if ws == nil {
		return false
	}
	b, ok := browserOf(ws)
	if !ok {
		return false
	}
	// A workspace may know without starting anything that its deployment
	// has no browser.
	if a, ok := b.(interface{ BrowserAvailable() bool }); ok {
		return a.BrowserAvailable()
	}
	return true
}
