package files

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testUID, testGID = 12345, 23456

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("checking file owners needs root: chown to another user fails otherwise")
	}
}

func TestOwnerFor(t *testing.T) {
	o := &Owner{UID: 1, GID: 2}
	tests := []struct {
		name   string
		owner  *Owner
		isRoot bool
		want   *Owner
	}{
		{"root with owner", o, true, &Owner{UID: 1, GID: 2}},
		{"not root skips chown", o, false, nil},
		{"no owner", nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(ownerFor(tt.owner, tt.isRoot), tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestOwnerCreated checks that whatever an FS creates belongs to its Owner,
// parents included, and that existing files keep their owner.
func TestOwnerCreated(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		do    func(t *testing.T, f *FS, ed *Editor, dir string) error
		owned []string // relative paths that must belong to the owner
		kept  []string // existing entries (made by root) that must stay root's
	}{
		{
			name:  "write",
			do:    func(t *testing.T, f *FS, ed *Editor, dir string) error { return f.Write(dir+"/a/b/c.txt", []byte("x")) },
			owned: []string{"a", "a/b", "a/b/c.txt"},
		},
		{
			name:  "write existing",
			do:    func(t *testing.T, f *FS, ed *Editor, dir string) error { return f.Write(dir+"/old.txt", []byte("x")) },
			kept:  []string{"old.txt"},
			owned: []string{},
		},
		{
			name: "upload file",
			do: func(t *testing.T, f *FS, ed *Editor, dir string) error {
				_, err := f.UploadFile(ctx, dir+"/up/f.bin", strings.NewReader("x"))
				return err
			},
			owned: []string{"up", "up/f.bin"},
		},
		{
			name: "upload file over an existing one",
			do: func(t *testing.T, f *FS, ed *Editor, dir string) error {
				_, err := f.UploadFile(ctx, dir+"/old.txt", strings.NewReader("x"))
				return err
			},
			kept: []string{"old.txt"},
		},
		{
			name: "editor create",
			do: func(t *testing.T, f *FS, ed *Editor, dir string) error {
				_, err := ed.Create(dir+"/src/new.go", "package x\n")
				return err
			},
			owned: []string{"src", "src/new.go"},
		},
		{
			name: "editor edits keep the owner",
			do: func(t *testing.T, f *FS, ed *Editor, dir string) error {
				if _, err := ed.StrReplace(dir+"/old.txt", "old", "new"); err != nil {
					return err
				}
				if _, err := ed.Insert(dir+"/old.txt", 0, "top"); err != nil {
					return err
				}
				_, err := ed.UndoEdit(dir + "/old.txt")
				return err
			},
			kept: []string{"old.txt"},
		},
		{
			name: "tar upload",
			do: func(t *testing.T, f *FS, ed *Editor, dir string) error {
				_, err := f.Upload(ctx, dir+"/t", bytes.NewReader(makeTar(t, tarEntry{name: "x/y", body: "z"})))
				return err
			},
			owned: []string{"t", "t/x", "t/x/y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			writeFiles(t, dir, map[string]string{"old.txt": "old\n"})
			f := newFS(t, Config{Owner: &Owner{UID: testUID, GID: testGID}})
			if err := tt.do(t, f, NewEditor(f, EditorOptions{}), dir); err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.owned {
				checkOwner(t, dir+"/"+p, testUID, testGID)
			}
			for _, p := range tt.kept {
				checkOwner(t, dir+"/"+p, 0, 0)
			}
			checkOwner(t, dir, 0, 0) // existing parents are left alone
		})
	}
}

func TestOwnerUnset(t *testing.T) {
	requireRoot(t)
	dir := tempDir(t)
	if err := newFS(t, Config{}).Write(dir+"/d/f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	checkOwner(t, dir+"/d", 0, 0)
	checkOwner(t, dir+"/d/f", 0, 0)
}

// TestUploadFileKeepsOwner replaces a file owned by someone else: the new
// file must keep that owner, not take the FS's.
func TestUploadFileKeepsOwner(t *testing.T) {
	requireRoot(t)
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"f": "old"})
	if err := os.Chown(dir+"/f", 777, 888); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, Config{Owner: &Owner{UID: testUID, GID: testGID}})
	if _, err := f.UploadFile(context.Background(), dir+"/f", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	checkOwner(t, dir+"/f", 777, 888)
}
