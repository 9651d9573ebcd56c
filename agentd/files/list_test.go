package files

import (
	"context"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// brief is the part of an Entry a test can predict.
type brief struct {
	Path, Type string
	Size       int64
	Perm       fs.FileMode
	Target     string
}

func briefs(es []Entry) []brief {
	out := []brief{}
	for _, e := range es {
		b := brief{Path: e.Path, Type: e.Type, Perm: e.Mode.Perm(), Target: e.Target}
		if e.Type == TypeFile {
			b.Size = e.Size
		}
		out = append(out, b)
	}
	return out
}

func TestList(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{
		"b.txt": "bb", "a/": "", "a/x.go": "package x", "a/deep/y": "y", ".hidden": "", "link": "->b.txt",
	})
	f := newFS(t, Config{})
	tests := []struct {
		name          string
		opts          ListOptions
		want          []brief
		wantTruncated bool
	}{
		{
			name: "one level",
			want: []brief{
				{Path: dir + "/.hidden", Type: TypeFile, Perm: 0o644},
				{Path: dir + "/a", Type: TypeDir, Perm: 0o755},
				{Path: dir + "/b.txt", Type: TypeFile, Size: 2, Perm: 0o644},
				{Path: dir + "/link", Type: TypeSymlink, Perm: 0o777, Target: "b.txt"},
			},
		},
		{
			name: "two levels",
			opts: ListOptions{Depth: 2},
			want: []brief{
				{Path: dir + "/.hidden", Type: TypeFile, Perm: 0o644},
				{Path: dir + "/a", Type: TypeDir, Perm: 0o755},
				{Path: dir + "/a/deep", Type: TypeDir, Perm: 0o755},
				{Path: dir + "/a/x.go", Type: TypeFile, Size: 9, Perm: 0o644},
				{Path: dir + "/b.txt", Type: TypeFile, Size: 2, Perm: 0o644},
				{Path: dir + "/link", Type: TypeSymlink, Perm: 0o777, Target: "b.txt"},
			},
		},
		{
			name: "limit",
			opts: ListOptions{Depth: 5, Limit: 2},
			want: []brief{
				{Path: dir + "/.hidden", Type: TypeFile, Perm: 0o644},
				{Path: dir + "/a", Type: TypeDir, Perm: 0o755},
			},
			wantTruncated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.List(context.Background(), dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(briefs(got.Entries), tt.want); diff != "" {
				t.Errorf("entries (-got +want):\n%s", diff)
			}
			if got.Truncated != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.wantTruncated)
			}
		})
	}
	_, err := f.List(context.Background(), dir+"/b.txt", ListOptions{})
	checkErr(t, err, ErrInvalid, "")
	_, err = f.List(context.Background(), dir+"/none", ListOptions{})
	checkErr(t, err, ErrNotFound, "")
}

func TestStat(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"f": "12345", "l": "->f", "d/": ""})
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(dir+"/f", mtime, mtime); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, Config{})
	got, err := f.Stat(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Name: "f", Path: dir + "/f", Type: TypeFile, Size: 5, Mode: 0o644, ModTime: mtime, Real: dir + "/f"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
	got, err = f.Stat(dir + "/l")
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != TypeSymlink || got.Target != "f" || got.Real != dir+"/f" {
		t.Errorf("symlink stat = %+v, want type symlink, target f, real %s/f", got, dir)
	}
	if got, _ := f.Stat(dir + "/d/"); got.Type != TypeDir || got.Name != "d" {
		t.Errorf("directory stat = %+v", got)
	}
	_, err = f.Stat(dir + "/none")
	checkErr(t, err, ErrNotFound, "")
}
