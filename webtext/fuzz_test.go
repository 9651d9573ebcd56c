package webtext

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"",
		"<p>hello <a href=/x>world</a></p>",
		"<ul><li>a<li>b<ol><li>c</ol></ul><pre>\n x  y\n</pre>",
		"<table><tr><td>a<td>b<tr><th>c</table>",
		"<svg><title>t</title><p>x</svg><title>real</title>",
		"<p hidden>a<div>b</div><template><li>c</template>",
		"<script>if (a < b) {}</script><style>x{}</style><textarea>&lt;</textarea>",
		"<base href='http://h/a/'><a href=b><img alt=i></a><a href='#f'>f</a>",
		"<h1><h2>x</h1></h2></br></p><code>\n\n</code>",
		"<plaintext><p>raw",
		"\xff\xfe<\x00p>",
	} {
		f.Add([]byte(s), true)
	}
	base, _ := url.Parse("https://example.com/dir/page")
	f.Fuzz(func(t *testing.T, data []byte, links bool) {
		// Without a type the content is sniffed: it may be refused, but only
		// as unsupported.
		if _, err := Extract(bytes.NewReader(data), "", base, Options{Links: links, MaxBytes: 1 << 16}); err != nil && !errors.Is(err, ErrUnsupportedType) {
			t.Fatalf("sniffed: %v", err)
		}
		page, err := Extract(bytes.NewReader(data), "text/html", base, Options{Links: links, MaxBytes: 1 << 16})
		if err != nil {
			t.Fatalf("HTML never fails: %v", err)
		}
		if !utf8.ValidString(page.Text) || !utf8.ValidString(page.Title) {
			t.Fatal("invalid UTF-8 in the output")
		}
		if strings.TrimRight(page.Text, " \t\n") != page.Text {
			t.Fatalf("trailing whitespace: %q", page.Text)
		}
		if strings.ContainsRune(page.Text, 0) {
			t.Fatal("NUL in the text")
		}
		if !links && page.Links != nil {
			t.Fatal("links without Options.Links")
		}
		body, list := page.Text, ""
		if i := strings.LastIndex(page.Text, "\n\nLinks:\n"); i >= 0 {
			body, list = page.Text[:i], page.Text[i:]
		}
		for i, l := range page.Links {
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("link %q is not http(s)", l)
			}
			n := "[" + strconv.Itoa(i+1) + "]"
			if !strings.Contains(body, n) || !strings.Contains(list, n+" "+l) {
				t.Fatalf("link %s %s is not both marked in the text and listed:\n%s", n, l, page.Text)
			}
		}
	})
}
