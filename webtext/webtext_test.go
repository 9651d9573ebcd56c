package webtext

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExtractHTML(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://example.com/docs/page.html")
	tests := []struct {
		name  string
		html  string
		links bool
		want  Page
	}{
		{
			name: "title, head and scripts dropped",
			html: `<!doctype html><html><head><title> The
				Title </title><style>p{color:red}</style><script>var x = "<p>no</p>";</script>
				<meta charset=utf-8></head><body><p>Hello</p><noscript>enable JS</noscript></body></html>`,
			want: Page{Title: "The Title", Text: "Hello"},
		},
		{
			name: "blocks, headings and whitespace",
			html: "<h1>Main  title</h1>\n<p>One\n  two\tthree</p><div>four</div><div>five</div><h3>Sub</h3>six<br>seven<br><br>eight",
			want: Page{Text: "# Main title\n\nOne two three\n\nfour\nfive\n\n### Sub\n\nsix\nseven\n\neight"},
		},
		{
			name: "lists nest",
			html: "<ul><li>one<li>two<ul><li>two.a</li></ul></li><li><p>three</p></ul>after",
			want: Page{Text: "- one\n- two\n  - two.a\n\n- three\n\nafter"},
		},
		{
			name: "links numbered, deduplicated and listed",
			html: `<base href="/root/"><p>See <a href="guide">the guide</a>, <a href="#top">top</a>,
				<a href="javascript:void(0)">js</a>, <a href="https://go.dev/#x">Go</a> and
				<a href="guide">the guide again</a>. <a href="/icon"><img src=i.png></a><a href="/logo"><img alt="Logo"></a></p>`,
			links: true,
			want: Page{
				Text: "See the guide [1], top, js, Go [2] and the guide again [1]. Logo [3]\n\n" +
					"Links:\n[1] https://example.com/root/guide\n[2] https://go.dev/\n[3] https://example.com/logo",
				Links: []string{"https://example.com/root/guide", "https://go.dev/", "https://example.com/logo"},
			},
		},
		{
			name: "links without Options.Links are plain text",
			html: `<p>See <a href="guide">the guide</a>. <a href="/"><img alt="Logo"></a></p>`,
			want: Page{Text: "See the guide. Logo"},
		},
		{
			name: "pre and code kept verbatim",
			html: "<p>Run <code>go  test</code> now.</p><pre>\nfunc f() {\n\treturn  1\n}\n</pre><p>done</p>",
			want: Page{Text: "Run go  test now.\n\nfunc f() {\n\treturn  1\n}\n\ndone"},
		},
		{
			name: "entities decoded",
			html: "<p>a &lt;b&gt; &amp; &quot;c&quot; &eacute;&nbsp;&#x263A; &copy</p>",
			want: Page{Text: "a <b> & \"c\" é ☺ ©"},
		},
		{
			name: "hidden content and svg dropped",
			html: `<p>shown</p><div hidden>hidden</div><span style="display: none">gone</span><div aria-hidden="true">icon</div>` +
				`<svg><title>svg title</title><text>svg text</text></svg><template><p>tmpl</p></template><p>end</p>`,
			want: Page{Text: "shown\n\nend"},
		},
		{
			name: "a hidden paragraph ends where the next block begins",
			html: `<p hidden>secret<div>visible</div>`,
			want: Page{Text: "visible"},
		},
		{
			name: "tables",
			html: "<table><tr><th>Name<th>Value</tr><tr><td>a</td><td>1</td></tr><tr><td>b<td>2</table>",
			want: Page{Text: "Name | Value\na | 1\nb | 2"},
		},
		{
			name: "textarea kept, unclosed tags survive",
			html: "<p>x<textarea>\n  keep  this</textarea><b><i>bold italic</b> plain<div>last",
			want: Page{Text: "x\n\n  keep  this\n\nbold italic plain\n\nlast"},
		},
		{
			name: "empty headings and list items leave nothing",
			html: "<h2></h2><ul><li></li></ul><p>text</p>",
			want: Page{Text: "text"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Extract(strings.NewReader(tt.html), "text/html; charset=utf-8", base, Options{Links: tt.links})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Extract (-got +want):\n%s", diff)
			}
		})
	}
}

func TestExtractTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType, body string
		want                    Page
		wantErr                 string // substring; "" for success
	}{
		{name: "plain text passes through", contentType: "text/plain", body: "a  <b>\n\n\nc", want: Page{Text: "a  <b>\n\n\nc"}},
		{name: "JSON passes through", contentType: "application/json", body: `{"a": [1, 2]}`, want: Page{Text: `{"a": [1, 2]}`}},
		{name: "problem JSON", contentType: "application/problem+json", body: `{}`, want: Page{Text: `{}`}},
		{name: "markdown is text", contentType: "text/markdown; charset=utf-8", body: "# x", want: Page{Text: "# x"}},
		{name: "xhtml is HTML", contentType: "application/xhtml+xml", body: "<p>x</p>", want: Page{Text: "x"}},
		{name: "no type: sniffed HTML", contentType: "", body: "<!DOCTYPE html><title>t</title><p>x", want: Page{Title: "t", Text: "x"}},
		{name: "octet-stream text: sniffed", contentType: "application/octet-stream", body: "just text", want: Page{Text: "just text"}},
		{name: "latin-1 decoded", contentType: "text/plain; charset=iso-8859-1", body: "caf\xe9", want: Page{Text: "café"}},
		{name: "meta charset", contentType: "text/html", body: `<meta charset="windows-1252"><p>caf` + "\xe9 \x93q\x94", want: Page{Text: "café “q”"}},
		{name: "UTF-8 past the first KiB, undeclared", contentType: "text/html", body: "<p>" + strings.Repeat("a", 2000) + " caf\xc3\xa9", want: Page{Text: strings.Repeat("a", 2000) + " café"}},
		{name: "UTF-8 mislabelled by meta", contentType: "text/html", body: `<meta charset="iso-8859-1"><p>caf` + "\xc3\xa9", want: Page{Text: "café"}},
		{name: "header charset wins", contentType: "text/plain; charset=iso-8859-1", body: "caf\xc3\xa9", want: Page{Text: "cafÃ©"}},
		{name: "UTF-8 BOM dropped", contentType: "text/html", body: "\xEF\xBB\xBF<p>x", want: Page{Text: "x"}},
		{name: "UTF-16 with BOM", contentType: "text/plain", body: "\xff\xfeh\x00i\x00", want: Page{Text: "hi"}},
		{name: "invalid UTF-8 replaced", contentType: "text/plain; charset=utf-8", body: "a\xffb", want: Page{Text: "a\uFFFDb"}},
		{name: "PDF refused", contentType: "application/pdf", body: "%PDF-1.4", wantErr: "unsupported content type application/pdf"},
		{name: "image refused", contentType: "image/png", body: "\x89PNG", wantErr: "image/png"},
		{name: "sniffed PDF refused", contentType: "", body: "%PDF-1.4 ...", wantErr: "application/pdf"},
		{name: "binary refused", contentType: "application/octet-stream", body: "\x00\x01\x02\x03", wantErr: "binary content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Extract(strings.NewReader(tt.body), tt.contentType, nil, Options{})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrUnsupportedType naming %q", err, tt.wantErr)
				}
				if CheckType(tt.contentType) == nil && tt.contentType != "" && tt.contentType != "application/octet-stream" {
					t.Errorf("CheckType(%q) passed a type Extract refuses", tt.contentType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("Extract (-got +want):\n%s", diff)
			}
			if err := CheckType(tt.contentType); err != nil {
				t.Errorf("CheckType(%q) = %v for a type Extract reads", tt.contentType, err)
			}
		})
	}
}

func TestExtractBounded(t *testing.T) {
	t.Parallel()
	body := "<p>" + strings.Repeat("word ", 1000) + "</p><p>tail</p>"
	got, err := Extract(strings.NewReader(body), "text/html", nil, Options{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || strings.Contains(got.Text, "tail") || len(got.Text) > 100 {
		t.Errorf("MaxBytes 100: truncated=%v, %d bytes of text; want the input cut at 100 bytes", got.Truncated, len(got.Text))
	}
	got, err = Extract(strings.NewReader(body), "text/html", nil, Options{MaxBytes: int64(len(body))})
	if err != nil || got.Truncated || !strings.HasSuffix(got.Text, "tail") {
		t.Errorf("input exactly MaxBytes long: truncated=%v, err=%v; want it whole", got.Truncated, err)
	}

	// Deep nesting costs no more than flat markup and does not lose text.
	deep := strings.Repeat("<div><span>", 100000) + "bottom" + strings.Repeat("</span></div>", 100000)
	got, err = Extract(strings.NewReader(deep), "text/html", nil, Options{})
	if err != nil || got.Text != "bottom" {
		t.Errorf("deep nesting: %q, %v", got.Text, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestExtractReadError(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader(strings.Repeat("<p>x</p>", 1000)), failingReader{})
	if _, err := Extract(r, "text/html", nil, Options{}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v, want the read error", err)
	}
}
