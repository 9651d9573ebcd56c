package files

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGrep(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{
		"a.go":           "package a\n\nfunc Hello() {}\nfunc hello2() {}\n",
		"b.txt":          "hello world\r\nbye\n",
		"sub/c.go":       "// Hello again\n",
		"bin.dat":        "Hello\x00binary",
		".git/HEAD":      "Hello from git\n",
		".env":           "HELLO=1\n",
		".github/ci.yml": "name: Hello\n",
		"big.txt":        strings.Repeat("x", 200) + "\nHello big\n",
		"link.go":        "->a.go",
	})
	f := newFS(t, Config{})
	tests := []struct {
		name          string
		pattern       string
		opts          GrepOptions
		want          []string // Match.String() with dir cut to "$D"
		wantTruncated bool
		wantKind      error
	}{
		{name: "case sensitive", pattern: "Hello", opts: GrepOptions{},
			want: []string{"$D/a.go:3:func Hello() {}", "$D/big.txt:2:Hello big", "$D/sub/c.go:1:// Hello again"}},
		{name: "ignore case", pattern: "hello", opts: GrepOptions{IgnoreCase: true},
			want: []string{"$D/a.go:3:func Hello() {}", "$D/a.go:4:func hello2() {}", "$D/b.txt:1:hello world", "$D/big.txt:2:Hello big", "$D/sub/c.go:1:// Hello again"}},
		{name: "hidden but never .git", pattern: "(?i)hello", opts: GrepOptions{Hidden: true, Include: "*"},
			want: []string{"$D/.env:1:HELLO=1", "$D/.github/ci.yml:1:name: Hello", "$D/a.go:3:func Hello() {}",
				"$D/a.go:4:func hello2() {}", "$D/b.txt:1:hello world", "$D/big.txt:2:Hello big", "$D/sub/c.go:1:// Hello again"}},
		{name: "include by name", pattern: "Hello", opts: GrepOptions{Include: "*.go"},
			want: []string{"$D/a.go:3:func Hello() {}", "$D/sub/c.go:1:// Hello again"}},
		{name: "include by path", pattern: "Hello", opts: GrepOptions{Include: "sub/*.go"},
			want: []string{"$D/sub/c.go:1:// Hello again"}},
		{name: "regexp", pattern: `^func \w+\(\)`, opts: GrepOptions{},
			want: []string{"$D/a.go:3:func Hello() {}", "$D/a.go:4:func hello2() {}"}},
		{name: "max matches", pattern: "(?i)hello", opts: GrepOptions{MaxMatches: 2},
			want: []string{"$D/a.go:3:func Hello() {}", "$D/a.go:4:func hello2() {}"}, wantTruncated: true},
		{name: "max file size skips big files", pattern: "big", opts: GrepOptions{MaxFileBytes: 100}, want: []string{}},
		{name: "big file within bound", pattern: "big", opts: GrepOptions{}, want: []string{"$D/big.txt:2:Hello big"}},
		{name: "one file", pattern: "bye", opts: GrepOptions{Path: "$D/b.txt"}, want: []string{"$D/b.txt:2:bye"}},
		{name: "no match", pattern: "nothing here", want: []string{}},
		{name: "bad regexp", pattern: "(", wantKind: ErrInvalid},
		{name: "missing path", pattern: "x", opts: GrepOptions{Path: "$D/none"}, wantKind: ErrNotFound},
		{name: "relative path", pattern: "x", opts: GrepOptions{Path: "rel"}, wantKind: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Path == "" {
				opts.Path = dir
			}
			opts.Path = strings.ReplaceAll(opts.Path, "$D", dir)
			got, err := f.Grep(context.Background(), tt.pattern, opts)
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind != nil {
				return
			}
			lines := []string{}
			for _, m := range got.Matches {
				lines = append(lines, strings.ReplaceAll(m.String(), dir, "$D"))
			}
			if diff := cmp.Diff(lines, tt.want); diff != "" {
				t.Errorf("matches (-got +want):\n%s", diff)
			}
			if got.Truncated != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.wantTruncated)
			}
		})
	}
}

func TestGrepFilesOnly(t *testing.T) {
	dir := tempDir(t)
	files := map[string]string{}
	for i := range 5 {
		files[fmt.Sprintf("f%d.txt", i)] = "x\nneedle\nneedle again\n"
	}
	writeFiles(t, dir, files)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 { // f4 newest
		m := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(fmt.Sprintf("%s/f%d.txt", dir, i), m, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := newFS(t, Config{}).Grep(context.Background(), "needle", GrepOptions{Path: dir, FilesOnly: true, MaxMatches: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := GrepResult{
		Matches: []Match{
			{Path: dir + "/f4.txt", Line: 2, Text: "needle"},
			{Path: dir + "/f3.txt", Line: 2, Text: "needle"},
			{Path: dir + "/f2.txt", Line: 2, Text: "needle"},
		},
		Truncated: true,
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

func TestGrepLongLine(t *testing.T) {
	dir := tempDir(t)
	long := strings.Repeat("é", 600) + "needle" // 1206 bytes
	writeFiles(t, dir, map[string]string{"min.js": long})
	got, err := newFS(t, Config{}).Grep(context.Background(), "needle", GrepOptions{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Matches) != 1 {
		t.Fatalf("got %d matches, want 1", len(got.Matches))
	}
	text := got.Matches[0].Text
	if want := strings.Repeat("é", 500) + " [... 206 more bytes]"; text != want {
		t.Errorf("text = %q..., want it cut at 1000 bytes on a character boundary", text[:20])
	}
}
