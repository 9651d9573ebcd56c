package session

import "github.com/gohands/gohands/sandbox"

// BrowserAvailable tells the tools, without starting anything, whether
// this server's sandboxes can have a browser beside them: whether the
// browser tool set is offered rather than the text fetcher.
func (w toolWorkspace) BrowserAvailable() bool {
	_, ok := w.a.sb.be.(sandbox.Browsers)
	return ok
}
