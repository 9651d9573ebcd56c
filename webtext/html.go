package webtext

import (
	"bytes"
	"io"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxDepth bounds the stack of open elements. Deeper elements are treated as
// inline text so that a page of a million unclosed <div>s costs no more than
// a flat one.
const maxDepth = 256

// impliedReach bounds how far down the stack a start tag looks for an element
// it closes without an end tag (the <p> a <div> ends). A browser looks all the
// way; real pages never need more, and the bound keeps the work per tag
// constant.
const impliedReach = 64

// elem is an open element and what must be undone when it closes.
type elem struct {
	a      atom.Atom
	name   string // the tag name: a.String(), or the name of a custom element
	wall   bool   // implied end tags do not reach past it (svg, template, select, ...)
	brk    int    // line breaks to ask for when it closes
	pre    bool   // whitespace is kept inside it
	list   bool
	prefix bool // it set the writer's line prefix (heading, list item)
	link   bool
	cells  int // a table row's cells so far
}

// extractor walks the tokens of one document.
type extractor struct {
	z       *html.Tokenizer
	w       writer
	opts    Options
	base    *url.URL
	baseSet bool

	stack  []elem
	counts map[string]int // open elements by name, to skip hopeless searches
	hideAt int            // index in stack of the element hiding its content, or -1
	pre    int            // open elements that keep whitespace
	lists  int            // open lists, for indenting list items

	// rawNext says what to do with the text of a raw-text element
	// (<script>, <title>, <textarea>) whose start tag was just read.
	rawNext rawAction
	preLead bool // drop one newline that starts a <pre>'s text

	title    string
	hasTitle bool

	linkOpen  bool
	linkURL   string // the open link's target, if it is numbered
	linkMark  int    // the writer's count when the link opened
	linkNums  map[string]int
	linkOrder []string
}

type rawAction int

const (
	rawNone rawAction = iota
	rawDrop
	rawTitle
	rawVerbatim
)

func extractHTML(r io.Reader, base *url.URL, opts Options) (Page, error) {
	e := &extractor{
		z:      html.NewTokenizer(r),
		opts:   opts,
		base:   base,
		hideAt: -1,
		counts: map[string]int{},
		w:      writer{lineStart: true},
	}
	if opts.Links {
		e.linkNums = map[string]int{}
	}
	for {
		tt := e.z.Next()
		raw := e.rawNext
		e.rawNext = rawNone
		preLead := e.preLead
		e.preLead = false
		switch tt {
		case html.ErrorToken:
			if err := e.z.Err(); err != io.EOF {
				return Page{}, err
			}
			return e.finish(), nil
		case html.TextToken:
			e.text(e.z.Text(), raw, preLead)
		case html.StartTagToken, html.SelfClosingTagToken:
			e.start(tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			e.end()
		}
	}
}

func (e *extractor) hiding() bool { return e.hideAt >= 0 }

func (e *extractor) text(t []byte, raw rawAction, preLead bool) {
	if bytes.IndexByte(t, 0) >= 0 {
		t = bytes.ReplaceAll(t, []byte{0}, nil)
	}
	switch raw {
	case rawDrop:
		return
	case rawTitle:
		if !e.hasTitle && !e.hiding() {
			e.title = strings.Join(strings.Fields(string(t)), " ")
			e.hasTitle = e.title != ""
		}
		return
	case rawVerbatim:
		if !e.hiding() {
			e.w.brk(2)
			e.w.verbatim(bytes.TrimPrefix(t, []byte("\n")))
			e.w.brk(2)
		}
		return
	}
	if e.hiding() {
		return
	}
	if e.pre > 0 {
		if preLead {
			t = bytes.TrimPrefix(t, []byte("\n"))
		}
		e.w.verbatim(t)
		return
	}
	e.w.text(t)
}

func (e *extractor) start(selfClosing bool) {
	nameb, hasAttr := e.z.TagName()
	a := atom.Lookup(nameb)
	var attrs attributes
	if hasAttr {
		attrs = e.readAttrs()
	}

	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Iframe, atom.Noembed, atom.Noframes:
		// Raw text the tokenizer hands over whole; never shown.
		e.rawNext = rawDrop
		return
	case atom.Title:
		e.rawNext = rawTitle
		return
	case atom.Textarea, atom.Xmp, atom.Plaintext:
		e.rawNext = rawVerbatim
		return
	case atom.Base:
		if !e.baseSet && attrs.href != "" {
			e.baseSet = true
			if u, err := e.resolve(attrs.href); err == nil {
				e.base = u
			}
		}
		return
	}

	e.closeImplied(a)
	if void(a) {
		if !e.hiding() {
			e.voidElement(a, attrs)
		}
		return
	}
	if selfClosing || len(e.stack) >= maxDepth {
		// "<div/>" opens and closes at once, and an element past maxDepth
		// is not tracked: both only break the line.
		if !e.hiding() && !hides(a) && !attrs.hidden {
			e.w.brk(blockBreak(a, e.lists))
		}
		return
	}

	el := elem{a: a, name: a.String(), wall: hides(a)}
	if a == 0 {
		el.name = string(nameb)
	}
	if e.hiding() {
		e.push(el)
		return
	}
	if hides(a) || attrs.hidden {
		e.push(el)
		e.hideAt = len(e.stack) - 1
		return
	}

	el.brk = blockBreak(a, e.lists)
	e.w.brk(el.brk)
	switch a {
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		el.list = true
		e.lists++
	case atom.Li:
		el.prefix = true
		e.w.prefix = strings.Repeat("  ", max(e.lists-1, 0)) + "- "
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		el.prefix = true
		e.w.prefix = strings.Repeat("#", headingLevel(a)) + " "
	case atom.Pre, atom.Listing:
		el.pre = true
		e.pre++
		e.preLead = true
	case atom.Code:
		el.pre = true
		e.pre++
	case atom.Td, atom.Th:
		if tr := e.open(atom.Tr, atom.Table); tr != nil {
			if tr.cells > 0 {
				e.w.separator("|")
			}
			tr.cells++
		}
	case atom.A:
		if attrs.href != "" {
			el.link = true
			e.linkOpen = true
			e.linkMark = e.w.count
			e.linkURL = ""
			if e.opts.Links {
				e.linkURL, _ = e.linkTarget(attrs.href)
			}
		}
	}
	e.push(el)
}

func (e *extractor) push(el elem) {
	e.stack = append(e.stack, el)
	e.counts[el.name]++
}

func (e *extractor) voidElement(a atom.Atom, attrs attributes) {
	switch a {
	case atom.Br:
		e.w.lineBreak()
	case atom.Hr:
		e.w.brk(2)
	case atom.Img:
		// An image's alt text is shown only where it names a link.
		if e.linkOpen && e.w.count == e.linkMark && attrs.alt != "" {
			e.w.text([]byte(attrs.alt))
		}
	}
}

func (e *extractor) end() {
	nameb, _ := e.z.TagName()
	a := atom.Lookup(nameb)
	name := a.String()
	if a == 0 {
		name = string(nameb)
	}
	if e.counts[name] > 0 || isHeading(a) && e.headings() > 0 {
		for i := len(e.stack) - 1; i >= 0; i-- {
			el := &e.stack[i]
			if el.name == name || (isHeading(a) && isHeading(el.a)) {
				e.pop(i)
				return
			}
		}
	}
	if e.hiding() {
		return
	}
	// Stray end tags that browsers turn into elements.
	switch a {
	case atom.Br:
		e.w.lineBreak()
	case atom.P:
		e.w.brk(2)
	}
}

// pop closes stack[i] and everything above it.
func (e *extractor) pop(i int) {
	for j := len(e.stack) - 1; j >= i; j-- {
		el := e.stack[j]
		e.stack = e.stack[:j]
		if e.counts[el.name]--; e.counts[el.name] == 0 {
			delete(e.counts, el.name)
		}
		if e.hideAt >= 0 {
			if j == e.hideAt {
				e.hideAt = -1
			}
			continue
		}
		if el.pre {
			e.pre--
		}
		if el.list {
			e.lists--
		}
		if el.prefix {
			e.w.prefix = ""
		}
		if el.link {
			e.closeLink()
		}
		e.w.brk(el.brk)
	}
}

// open returns the innermost open element a, looking no further out than
// the innermost stop or wall.
func (e *extractor) open(a, stop atom.Atom) *elem {
	if e.counts[a.String()] == 0 {
		return nil
	}
	for i := len(e.stack) - 1; i >= max(len(e.stack)-impliedReach, 0); i-- {
		el := &e.stack[i]
		switch {
		case el.a == a:
			return el
		case el.a == stop || el.wall:
			return nil
		}
	}
	return nil
}

// closeImplied closes what the start tag a ends without an end tag: "<li>"
// ends the open list item, "<div>" the open paragraph, "<td>" the open cell.
func (e *extractor) closeImplied(a atom.Atom) {
	if closesP(a) && e.counts["p"] > 0 {
		e.closeOpen(is(atom.P), pScope)
	}
	switch a {
	case atom.Li:
		e.closeOpen(is(atom.Li), is(atom.Ul, atom.Ol, atom.Menu, atom.Dir, atom.Table))
	case atom.Dt, atom.Dd:
		e.closeOpen(is(atom.Dt, atom.Dd), is(atom.Dl, atom.Table))
	case atom.Tr:
		e.closeOpen(is(atom.Tr), is(atom.Table))
	case atom.Td, atom.Th:
		e.closeOpen(is(atom.Td, atom.Th), is(atom.Tr, atom.Table))
	case atom.Thead, atom.Tbody, atom.Tfoot:
		e.closeOpen(is(atom.Thead, atom.Tbody, atom.Tfoot), is(atom.Table))
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		if n := len(e.stack); n > 0 && isHeading(e.stack[n-1].a) {
			e.pop(n - 1)
		}
	case atom.A:
		if e.linkOpen {
			e.closeOpen(is(atom.A), func(atom.Atom) bool { return false })
		}
	}
}

func (e *extractor) closeOpen(match, stop func(atom.Atom) bool) {
	for i := len(e.stack) - 1; i >= max(len(e.stack)-impliedReach, 0); i-- {
		el := e.stack[i]
		switch {
		case match(el.a):
			e.pop(i)
			return
		case stop(el.a) || el.wall:
			return
		}
	}
}

func (e *extractor) closeLink() {
	if !e.linkOpen {
		return
	}
	e.linkOpen = false
	if e.linkURL == "" || e.w.count == e.linkMark {
		return // not numbered, or no text to mark (an icon, say)
	}
	n, ok := e.linkNums[e.linkURL]
	if !ok {
		e.linkOrder = append(e.linkOrder, e.linkURL)
		n = len(e.linkOrder)
		e.linkNums[e.linkURL] = n
	}
	e.w.marker("[" + strconv.Itoa(n) + "]")
}

// linkTarget resolves href to an absolute http or https URL without its
// fragment; links within the page and to other schemes are not kept.
func (e *extractor) linkTarget(href string) (string, bool) {
	href = strings.TrimSpace(href)
	if strings.HasPrefix(href, "#") {
		return "", false
	}
	u, err := e.resolve(href)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), true
}

func (e *extractor) resolve(href string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return nil, err
	}
	if e.base != nil {
		u = e.base.ResolveReference(u)
	}
	return u, nil
}

func (e *extractor) finish() Page {
	// Close what is still open, so that a last link gets its number.
	if len(e.stack) > 0 {
		e.pop(0)
	}
	e.closeLink()
	p := Page{Title: e.title, Text: e.w.String(), Links: e.linkOrder}
	if len(e.linkOrder) > 0 {
		var b strings.Builder
		b.WriteString(p.Text)
		b.WriteString("\n\nLinks:")
		for i, u := range e.linkOrder {
			b.WriteString("\n[")
			b.WriteString(strconv.Itoa(i + 1))
			b.WriteString("] ")
			b.WriteString(u)
		}
		p.Text = strings.TrimLeft(b.String(), "\n")
	}
	return p
}

// attributes are the few attributes the extractor looks at.
type attributes struct {
	href, alt string
	hidden    bool
}

func (e *extractor) readAttrs() attributes {
	var at attributes
	for more := true; more; {
		var k, v []byte
		k, v, more = e.z.TagAttr()
		switch string(k) {
		case "href":
			at.href = string(v)
		case "alt":
			at.alt = string(v)
		case "hidden":
			at.hidden = true
		case "aria-hidden":
			at.hidden = at.hidden || strings.EqualFold(strings.TrimSpace(string(v)), "true")
		case "style":
			s := strings.ToLower(strings.Join(strings.Fields(string(v)), ""))
			at.hidden = at.hidden || strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden")
		}
	}
	return at
}

// headings counts the open headings.
func (e *extractor) headings() int {
	return e.counts["h1"] + e.counts["h2"] + e.counts["h3"] + e.counts["h4"] + e.counts["h5"] + e.counts["h6"]
}
