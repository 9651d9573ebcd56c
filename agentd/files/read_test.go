package files

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRead(t *testing.T) {
	const five = "one\ntwo\nthree\nfour\nfive\n"
	tests := []struct {
		name       string
		content    string
		start, end int
		want       Text // Path is filled in
		wantKind   error
	}{
		{name: "whole file", content: five, start: 0, end: -1,
			want: Text{Content: five, Start: 1, End: 5, TotalLines: 5}},
		{name: "zero end means to the end", content: five, start: 4, end: 0,
			want: Text{Content: "four\nfive\n", Start: 4, End: 5, TotalLines: 5}},
		{name: "middle", content: five, start: 2, end: 3,
			want: Text{Content: "two\nthree\n", Start: 2, End: 3, TotalLines: 5}},
		{name: "one line", content: five, start: 5, end: 5,
			want: Text{Content: "five\n", Start: 5, End: 5, TotalLines: 5}},
		{name: "end past the last line is cut", content: five, start: 4, end: 99,
			want: Text{Content: "four\nfive\n", Start: 4, End: 5, TotalLines: 5}},
		{name: "no final newline", content: "a\nb", start: 2, end: -1,
			want: Text{Content: "b", Start: 2, End: 2, TotalLines: 2}},
		{name: "empty file", content: "", start: 1, end: -1,
			want: Text{Content: "", Start: 1, End: 0, TotalLines: 0}},
		{name: "empty file any end", content: "", start: 1, end: 7,
			want: Text{Content: "", Start: 1, End: 0, TotalLines: 0}},
		{name: "crlf kept", content: "a\r\nb\r\n", start: 2, end: 2,
			want: Text{Content: "b\r\n", Start: 2, End: 2, TotalLines: 2}},
		{name: "start past the end", content: five, start: 6, end: -1, wantKind: ErrInvalid},
		{name: "negative start", content: five, start: -2, end: -1, wantKind: ErrInvalid},
		{name: "end before start", content: five, start: 3, end: 2, wantKind: ErrInvalid},
		{name: "end below -1", content: five, start: 1, end: -3, wantKind: ErrInvalid},
		{name: "NUL is binary", content: "text\x00more", start: 1, end: -1, wantKind: ErrBinary},
		{name: "invalid utf-8 is binary", content: "\xff\xfe\x00h\x00i", start: 1, end: -1, wantKind: ErrBinary},
		{name: "utf-8 cut by the sniff window is text", content: strings.Repeat("a", sniffLen-1) + "é\n", start: 1, end: -1,
			want: Text{Content: strings.Repeat("a", sniffLen-1) + "é\n", Start: 1, End: 1, TotalLines: 1}},
		{name: "binary after the sniff window is read", content: strings.Repeat("a", sniffLen) + "\x00", start: 1, end: -1,
			want: Text{Content: strings.Repeat("a", sniffLen) + "\x00", Start: 1, End: 1, TotalLines: 1}},
		{name: "over the read limit", content: strings.Repeat("x", 1025), start: 1, end: -1, wantKind: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			p := dir + "/f.txt"
			writeFiles(t, dir, map[string]string{"f.txt": tt.content})
			limit := int64(1024)
			if len(tt.content) > 1025 {
				limit = 1 << 20
			}
			got, err := newFS(t, Config{MaxReadBytes: limit}).Read(p, tt.start, tt.end)
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind != nil {
				return
			}
			tt.want.Path = p
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestReadRefuses(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"sub/": "", "f.txt": "x"})
	if err := syscall.Mkfifo(dir+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, Config{})
	tests := []struct {
		name     string
		path     string
		wantKind error
	}{
		{"missing", dir + "/nope", ErrNotFound},
		{"directory", dir + "/sub", ErrConflict},
		{"fifo does not block", dir + "/fifo", ErrInvalid},
		{"relative", "f.txt", ErrInvalid},
		{"empty", "", ErrInvalid},
		{"NUL", dir + "/a\x00b", ErrInvalid},
		{"dot-dot is cleaned", dir + "/sub/../x/y", ErrNotFound},
		{"under a file", dir + "/f.txt/x", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Read(tt.path, 1, -1)
			checkErr(t, err, tt.wantKind, "")
		})
	}
}

// TestReadProcFile reads a file whose stat size (0) is not its length.
func TestReadProcFile(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc here")
	}
	got, err := newFS(t, Config{}).Read("/proc/self/status", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Content, "Name:") {
		t.Errorf("first line %q, want Name:...", got.Content)
	}
}
