// Package webtext turns a fetched web page into text a model can read: HTML
// becomes plain lines with headings, list items and numbered links kept;
// plain text and JSON pass through; anything else (images, PDFs, archives)
// is refused with an error naming its type.
//
// The input is untrusted. Extract reads at most Options.MaxBytes of it,
// streams HTML through a tokenizer rather than building a tree (so memory
// stays near the size of the input however the page is nested), and never
// fails on malformed markup.
package webtext

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
)

// DefaultMaxBytes is how much of a page Extract reads when Options.MaxBytes
// is zero.
const DefaultMaxBytes = 5 << 20

// ErrUnsupportedType is returned, wrapped with the type's name, for content
// that is not HTML, text or JSON.
var ErrUnsupportedType = errors.New("unsupported content type")

// Options tune Extract.
type Options struct {
	// MaxBytes bounds how much input is read (DefaultMaxBytes if zero); the
	// rest is left unread and Page.Truncated is set.
	MaxBytes int64
	// Links marks each link's text with its number ("Go [3]"), appends the
	// numbered list to Text, and fills Page.Links.
	Links bool
}

// Page is the readable form of a document.
type Page struct {
	Title string
	Text  string
	// Links are the page's absolute http and https links, in the order of
	// their numbers: Links[0] is "[1]". Set only with Options.Links.
	Links []string
	// Truncated says the input was longer than MaxBytes and was cut.
	Truncated bool
}

type kind int

const (
	kindUnsupported kind = iota
	kindHTML
	kindText
)

// CheckType reports whether content of a declared Content-Type can be read,
// so that a caller can refuse an image or a PDF before reading its body. An
// empty or unparsable type, or application/octet-stream, passes: Extract
// then looks at the content itself.
func CheckType(contentType string) error {
	mt, ok := mediaType(contentType)
	if !ok {
		return nil
	}
	if classify(mt) == kindUnsupported {
		return unsupported(mt)
	}
	return nil
}

// Extract reads a document of the given Content-Type and returns its text.
// base is the document's address, against which relative links are resolved
// (it may be nil: relative links are then dropped). The charset comes from
// a byte order mark, the Content-Type or a <meta> tag, or is guessed from the
// content; invalid UTF-8 becomes U+FFFD. Content that is not HTML, text or
// JSON is refused with an error wrapping ErrUnsupportedType; malformed HTML
// is never an error.
func Extract(r io.Reader, contentType string, base *url.URL, opts Options) (Page, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	in := &capReader{r: r, n: limit}
	br := bufio.NewReaderSize(in, sniffLen)

	mt, declared := mediaType(contentType)
	if !declared {
		// Sniff, as a browser does for a missing or generic type.
		head, err := br.Peek(512)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return Page{}, fmt.Errorf("webtext: read: %w", err)
		}
		mt, _ = mediaType(http.DetectContentType(head))
	}
	k := classify(mt)
	if k == kindUnsupported {
		return Page{}, unsupported(mt)
	}
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return Page{}, fmt.Errorf("webtext: read: %w", err)
	}
	text := decode(br, head, contentType)

	var page Page
	switch k {
	case kindHTML:
		page, err = extractHTML(text, base, opts)
	default:
		var b strings.Builder
		_, err = io.Copy(&b, text)
		page.Text = b.String()
	}
	if err != nil {
		return Page{}, fmt.Errorf("webtext: read: %w", err)
	}
	// NUL is dropped as a browser drops it; it has no business in text.
	page.Text = strings.ReplaceAll(strings.ToValidUTF8(page.Text, "\uFFFD"), "\x00", "")
	page.Text = strings.TrimPrefix(page.Text, "\uFEFF") // a byte order mark
	page.Title = strings.ToValidUTF8(page.Title, "\uFFFD")
	page.Truncated = in.over()
	return page, nil
}

// sniffLen is how much of the input is looked at to tell its type and
// charset.
const sniffLen = 64 << 10

// decode returns r read as UTF-8. The charset comes from a byte order mark,
// the Content-Type or a <meta> tag in head; failing those, head is taken as
// UTF-8 if it is valid UTF-8 with some non-ASCII in it, and as
// windows-1252 otherwise, as browsers do.
func decode(r io.Reader, head []byte, contentType string) io.Reader {
	e, name, certain := charset.DetermineEncoding(head, contentType)
	// DetermineEncoding looks for UTF-8 in the first 1024 bytes only, and
	// reports a <meta> charset as uncertain: a page of valid UTF-8 labelled
	// windows-1252 (or ISO-8859-1) by nothing better than a <meta> tag is
	// one whose author saved UTF-8 and forgot to say so.
	if name == "utf-8" || !certain && name == "windows-1252" && looksUTF8(head) {
		return r
	}
	return e.NewDecoder().Reader(r)
}

func looksUTF8(p []byte) bool {
	// Drop a sequence that the end of p cuts short.
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				p = p[:i]
			}
			break
		}
	}
	ascii := true
	for _, c := range p {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	return !ascii && utf8.Valid(p)
}

// mediaType returns the lower-cased media type of a Content-Type, and false
// when there is none worth trusting (empty, malformed or octet-stream).
func mediaType(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt == "" || mt == "application/octet-stream" {
		return mt, false
	}
	return mt, true
}

func classify(mt string) kind {
	switch {
	case mt == "text/html", mt == "application/xhtml+xml":
		return kindHTML
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/x-ndjson", mt == "application/javascript",
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/yaml", mt == "application/x-yaml", mt == "application/toml":
		return kindText
	}
	return kindUnsupported
}

func unsupported(mt string) error {
	if mt == "" || mt == "application/octet-stream" {
		mt = "binary content"
	}
	return fmt.Errorf("webtext: %w %s: only HTML, plain text and JSON can be read", ErrUnsupportedType, mt)
}

// capReader reads at most n bytes of r and remembers whether r had more.
type capReader struct {
	r      io.Reader
	n      int64
	probed bool
	more   bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// over reports whether the input went on past the limit; it reads at most
// one byte more to find out.
func (c *capReader) over() bool {
	if c.n > 0 {
		return false
	}
	if !c.probed {
		c.probed = true
		var one [1]byte
		n, _ := io.ReadFull(c.r, one[:])
		c.more = n > 0
	}
	return c.more
}
