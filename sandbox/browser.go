package sandbox

import (
	"context"
	"errors"
	"io"
)

// DefaultBrowserImage is the image `make browser-image` builds: Debian's
// Chromium on the sandbox image.
const DefaultBrowserImage = "gohands/browser:bookworm"

// ErrNoBrowser means the backend runs no browsers (none configured, or
// its image is missing).
var ErrNoBrowser = errors.New("no browser in this deployment")

// Browsers is implemented by a Backend that can run a web browser beside
// an owner's sandbox, in the sandbox's network: localhost in the browser
// is the sandbox's, and the sandbox's network mode applies to it.
type Browsers interface {
	// StartBrowser starts a browser for owner, whose sandbox must be
	// running, and returns the channel to its DevTools protocol. An owner
	// has at most one browser: a second start replaces the first.
	StartBrowser(ctx context.Context, owner string) (BrowserConn, error)
}

// BrowserConn is a running browser and its DevTools protocol: Read gives
// the browser's messages and Write sends it commands, each message ended
// by one zero byte (Chromium's --remote-debugging-pipe framing). Close
// stops and removes the browser. Its methods are safe for concurrent use,
// one reader and any number of writers.
type BrowserConn interface {
	io.ReadWriteCloser
	// ID names the browser (a container id).
	ID() string
	// Done is closed when the browser has ended, asked to or not.
	Done() <-chan struct{}
	// Err says why the browser ended on its own (killed, out of memory),
	// or nil while it runs or after Close.
	Err() error
	// Memory returns the memory the browser uses now, in bytes.
	Memory(ctx context.Context) (int64, error)
}
