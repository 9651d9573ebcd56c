package agentapi

import "time"

const (
	// BrowsePageChars is the most page text one /browse answer carries.
	BrowsePageChars = 30_000
	// DefaultBrowseTimeout bounds a fetch when the request gives no timeout.
	DefaultBrowseTimeout = 30 * time.Second
)

// BrowseRequest fetches a page, or reads on in the last one fetched.
type BrowseRequest struct {
	// URL is the http or https address to fetch. Without one the call reads
	// the last page again, from StartFromChar.
	URL string `json:"url,omitempty"`
	// StartFromChar is where the answer's content begins, in characters
	// (Unicode code points) of the page's text.
	StartFromChar int `json:"start_from_char,omitempty"`
	// ExtractLinks numbers the page's links ("Go [3]") and lists them after
	// the text.
	ExtractLinks bool `json:"extract_links,omitempty"`
	// Timeout bounds the fetch, in seconds (default 30, at most 600).
	Timeout float64 `json:"timeout,omitempty"`
}

// BrowseResult is a part of a page's text. A page that answered with an error
// status (404, 500) is still a result: Status says so and Content holds the
// text of the error page.
type BrowseResult struct {
	URL         string `json:"url"` // after redirects
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Title       string `json:"title,omitempty"`
	// Content is the text from StartFromChar on, at most BrowsePageChars
	// characters, followed by a note of what remains when the page goes on.
	Content       string `json:"content"`
	StartFromChar int    `json:"start_from_char"`
	// NextChar is where the next part begins, or 0 when Content reaches the
	// end of the page.
	NextChar   int      `json:"next_char,omitempty"`
	TotalChars int      `json:"total_chars"`
	Links      []string `json:"links,omitempty"`
	// Truncated says the page was larger than the agent reads (5 MiB) and
	// its text stops short.
	Truncated bool `json:"truncated,omitempty"`
}
