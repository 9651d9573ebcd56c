package files

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGlobPattern(t *testing.T) {
	tests := []struct {
		pattern  string
		anchored bool
		path     string
		want     bool
	}{
		{"*.go", false, "a.go", true},
		{"*.go", false, "x/y/a.go", true},
		{"*.go", false, "a.go/b", false},
		{"*.go", false, ".hidden.go", false},
		{".*.go", false, "x/.hidden.go", true},
		{"*.go", false, ".git/a.go", false},
		{"**/*.go", false, "a.go", true},
		{"**/*.go", false, "a/b/c.go", true},
		{"src/*.go", false, "src/a.go", true},
		{"src/*.go", false, "x/src/a.go", false},
		{"src/*.go", false, "src/x/a.go", false},
		{"src/**/*.go", false, "src/a.go", true},
		{"src/**/*.go", false, "src/x/y/a.go", true},
		{"src/**", false, "src/x/y/a.go", true},
		{"src/**", false, "src", false},
		{"**/test/**/*_test.go", false, "a/test/b/c/x_test.go", true},
		{"**/test/**/*_test.go", false, "test/x_test.go", true},
		{"a?c/[xy].txt", false, "abc/x.txt", true},
		{"a?c/[xy].txt", false, "abc/z.txt", false},
		{"a.go", true, "a.go", true},
		{"a.go", true, "x/a.go", false},
		{"**/**/*.md", false, "a/b.md", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s~%s", tt.pattern, tt.path), func(t *testing.T) {
			g, err := compileGlob(tt.pattern, tt.anchored)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.match(tt.path); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "[", "a/../b", "x\x00"} {
		if _, err := compileGlob(bad, false); err == nil {
			t.Errorf("compileGlob(%q) succeeded", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{
		"main.go": "", "util.go": "", "README.md": "",
		"pkg/a/a.go": "", "pkg/a/a_test.go": "", "pkg/b/b.go": "",
		".git/x.go": "", ".hidden/h.go": "", "vendor/v.txt": "",
		"gone.go": "->nowhere", "alias.go": "->main.go", "dirlink": "->pkg",
	})
	// mtimes: the later in this list, the newer.
	order := []string{"pkg/b/b.go", "pkg/a/a_test.go", "pkg/a/a.go", "util.go", "main.go"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range order {
		m := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(dir+"/"+name, m, m); err != nil {
			t.Fatal(err)
		}
	}
	f := newFS(t, Config{})
	tests := []struct {
		name          string
		pattern       string
		opts          GlobOptions
		want          []string // relative to dir
		wantTruncated bool
		wantKind      error
	}{
		{name: "recursive by name", pattern: "*.go", opts: GlobOptions{Dir: dir},
			// alias.go points at main.go and so shares its mtime; ties go by path.
			want: []string{"alias.go", "main.go", "util.go", "pkg/a/a.go", "pkg/a/a_test.go", "pkg/b/b.go"}},
		{name: "double star", pattern: "pkg/**/*_test.go", opts: GlobOptions{Dir: dir}, want: []string{"pkg/a/a_test.go"}},
		{name: "absolute pattern", pattern: dir + "/pkg/*/*.go",
			want: []string{"pkg/a/a.go", "pkg/a/a_test.go", "pkg/b/b.go"}},
		{name: "absolute pattern without slash matches deep", pattern: dir + "/pkg/*.go",
			want: []string{"pkg/a/a.go", "pkg/a/a_test.go", "pkg/b/b.go"}},
		{name: "absolute file", pattern: dir + "/util.go", want: []string{"util.go"}},
		{name: "hidden when asked", pattern: ".hidden/*.go", opts: GlobOptions{Dir: dir}, want: []string{".hidden/h.go"}},
		{name: "limit", pattern: "**/*.go", opts: GlobOptions{Dir: dir, Limit: 2},
			want: []string{"alias.go", "main.go"}, wantTruncated: true},
		{name: "no match", pattern: "*.rs", opts: GlobOptions{Dir: dir}, want: []string{}},
		{name: "relative without dir", pattern: "*.go", wantKind: ErrInvalid},
		{name: "bad pattern", pattern: "[", opts: GlobOptions{Dir: dir}, wantKind: ErrInvalid},
		{name: "dir is a file", pattern: "*", opts: GlobOptions{Dir: dir + "/main.go"}, wantKind: ErrInvalid},
		{name: "dir is missing", pattern: "*", opts: GlobOptions{Dir: dir + "/none"}, wantKind: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Glob(context.Background(), tt.pattern, tt.opts)
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind != nil {
				return
			}
			want := []string{}
			for _, w := range tt.want {
				want = append(want, dir+"/"+w)
			}
			if diff := cmp.Diff(got.Files, want); diff != "" {
				t.Errorf("files (-got +want):\n%s", diff)
			}
			if got.Truncated != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.wantTruncated)
			}
		})
	}
}

func TestGlobDefaultLimit(t *testing.T) {
	dir := tempDir(t)
	files := map[string]string{}
	for i := range 150 {
		files[fmt.Sprintf("d%d/f%03d.txt", i%7, i)] = ""
	}
	writeFiles(t, dir, files)
	got, err := newFS(t, Config{}).Glob(context.Background(), "**/*.txt", GlobOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != DefaultGlobLimit || !got.Truncated {
		t.Errorf("got %d files, truncated %v; want %d, true", len(got.Files), got.Truncated, DefaultGlobLimit)
	}
}
