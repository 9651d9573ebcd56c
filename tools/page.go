package tools

import (
	"context"
	"errors"
)

// The browser tools drive a conversation's browser through Page. These
// declarations follow the seam of package browser (the runtime that runs
// Chromium beside the sandbox); once it is in the module they become
// aliases of its names.

// PageElement is an interactive element of the page, numbered for the
// model.
type PageElement struct {
	Index int               `json:"index"`
	Tag   string            `json:"tag"`
	Role  string            `json:"role,omitempty"`
	Text  string            `json:"text,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// PageTab is one of the browser's tabs.
type PageTab struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	Active bool   `json:"active"`
}

// PageState is what the model sees of the page after an action.
type PageState struct {
	URL, Title string
	Elements   []PageElement
	Tabs       []PageTab
	// Screenshot is a PNG of the page, when one was asked for.
	Screenshot []byte
	// Text is the state as text the model can act on: the URL, the
	// title and a "[index] <tag> text" line for each element.
	Text string
}

// Page is a conversation's browser.
type Page interface {
	Navigate(ctx context.Context, url string, newTab bool) (PageState, error)
	Click(ctx context.Context, index int, newTab bool) (PageState, error)
	Type(ctx context.Context, index int, text string) (PageState, error)
	Scroll(ctx context.Context, down bool) (PageState, error)
	Back(ctx context.Context) (PageState, error)
	State(ctx context.Context, screenshot bool) (PageState, error)
	// Content returns the page as Markdown, at most max characters from
	// startFromChar on.
	Content(ctx context.Context, extractLinks bool, startFromChar, max int) (string, error)
	Tabs(ctx context.Context) ([]PageTab, error)
	SwitchTab(ctx context.Context, id string) (PageState, error)
	CloseTab(ctx context.Context, id string) ([]PageTab, error)
}

// The errors of a Page that the tools turn into observations.
var (
	// ErrNoElement: the index is not on the page (the page changed).
	ErrNoElement = errors.New("no such element on the page")
	// ErrTimeout: the page did not load within the bound.
	ErrTimeout = errors.New("the page did not load in time")
	// ErrCrashed: the browser died; the next action restarts it.
	ErrCrashed = errors.New("the browser crashed")
	// ErrNoBrowser: the deployment has no browser; the tools fall back
	// to the text fetcher.
	ErrNoBrowser = errors.New("this deployment has no browser")
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
