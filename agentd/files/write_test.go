package files

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		modes    map[string]fs.FileMode
		path     string // relative to the test directory
		data     string
		wantKind error
		wantMode fs.FileMode
	}{
		{name: "new file", path: "a.txt", data: "hi", wantMode: 0o644},
		{name: "new file in new directories", path: "x/y/z.txt", data: "hi", wantMode: 0o644},
		{name: "overwrite keeps the mode", files: map[string]string{"run.sh": "old"}, modes: map[string]fs.FileMode{"run.sh": 0o755},
			path: "run.sh", data: "new", wantMode: 0o755},
		{name: "overwrite shorter", files: map[string]string{"a.txt": "a long old text"}, path: "a.txt", data: "short", wantMode: 0o644},
		{name: "through a symlink", files: map[string]string{"real.txt": "old", "link": "->real.txt"}, path: "link", data: "new", wantMode: 0o644},
		{name: "empty content", path: "empty", data: "", wantMode: 0o644},
		{name: "exactly the limit", path: "max", data: strings.Repeat("x", 1024), wantMode: 0o644},
		{name: "over the limit", path: "big", data: strings.Repeat("x", 1025), wantKind: ErrTooLarge},
		{name: "a directory is in the way", files: map[string]string{"d/": ""}, path: "d", data: "x", wantKind: ErrConflict},
		{name: "a file is in the way", files: map[string]string{"f": ""}, path: "f/g", data: "x", wantKind: ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			writeFiles(t, dir, tt.files)
			for name, m := range tt.modes {
				if err := os.Chmod(dir+"/"+name, m); err != nil {
					t.Fatal(err)
				}
			}
			p := dir + "/" + tt.path
			err := newFS(t, Config{MaxWriteBytes: 1024}).Write(p, []byte(tt.data))
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind != nil {
				if _, serr := os.Lstat(p); tt.wantKind == ErrTooLarge && !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("refused write left a file behind")
				}
				return
			}
			if diff := cmp.Diff(readFile(t, p), tt.data); diff != "" {
				t.Errorf("content (-got +want):\n%s", diff)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.wantMode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.wantMode)
			}
		})
	}
}

func TestWriteKeepsInode(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"a": "old"})
	if err := os.Link(dir+"/a", dir+"/b"); err != nil {
		t.Fatal(err)
	}
	if err := newFS(t, Config{}).Write(dir+"/a", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir+"/b"); got != "new" {
		t.Errorf("hard link reads %q: the write replaced the inode", got)
	}
}

func TestUploadFile(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		path     string
		data     string
		wantKind error
		want     string // content of path afterwards
	}{
		{name: "new", path: "d/new.bin", data: "\x00\x01binary ok", want: "\x00\x01binary ok"},
		{name: "replace", files: map[string]string{"f": "old"}, path: "f", data: "new", want: "new"},
		{name: "too large keeps the old file", files: map[string]string{"f": "old"}, path: "f", data: strings.Repeat("x", 1025), wantKind: ErrTooLarge, want: "old"},
		{name: "through a symlink replaces the target", files: map[string]string{"t": "old", "l": "->t"}, path: "l", data: "new", want: "new"},
		{name: "directory in the way", files: map[string]string{"d/": ""}, path: "d", data: "x", wantKind: ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			writeFiles(t, dir, tt.files)
			p := dir + "/" + tt.path
			n, err := newFS(t, Config{MaxWriteBytes: 1024}).UploadFile(context.Background(), p, strings.NewReader(tt.data))
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind == nil && n != int64(len(tt.data)) {
				t.Errorf("wrote %d bytes, want %d", n, len(tt.data))
			}
			if tt.want != "" {
				if diff := cmp.Diff(readFile(t, p), tt.want); diff != "" {
					t.Errorf("content (-got +want):\n%s", diff)
				}
			}
			if tt.name == "through a symlink replaces the target" {
				if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("the symlink itself was replaced")
				}
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".upload-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestUploadFileKeepsMode(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"run.sh": "old"})
	if err := os.Chmod(dir+"/run.sh", 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := newFS(t, Config{}).UploadFile(context.Background(), dir+"/run.sh", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir + "/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("mode %v, want 0750", fi.Mode().Perm())
	}
}

func TestUploadFileCancelled(t *testing.T) {
	dir := tempDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newFS(t, Config{}).UploadFile(ctx, dir+"/f", io.MultiReader(strings.NewReader("x")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(dir + "/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled upload left a file")
	}
}
