package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMaterialize writes the part of a checkpoint under a root as a new
// folder: contents, modes, owners and times as recorded; nothing outside
// the root; nothing through a symlink of the checkpoint; never into a
// folder that exists.
func TestMaterialize(t *testing.T) {
	s := open(t, t.TempDir(), Options{NoSync: true})
	escape := filepath.Join(t.TempDir(), "escape")
	if err := os.Mkdir(escape, 0o755); err != nil {
		t.Fatal(err)
	}
	ck := mustRecord(t, s, "conv", 1, "", snap(t, SnapshotTrailer{Full: true},
		"/w/", "/w/a=hello", "/w/d/", "/w/d/b=inner", "/w/e=",
		node("/w/l->"+escape), node("/w/l/evil=written through the symlink"),
		"/w/f=file", "/w/f/under=under a file", "/other=outside"))
	dir := filepath.Join(t.TempDir(), "tree")
	files, bytes, err := s.Materialize("conv", ck.ID, "/w", dir)
	if err != nil {
		t.Fatal(err)
	}
	if files != 7 || bytes != int64(len("hello")+len("inner")+len("file")) {
		t.Errorf("materialized %d entries, %d bytes", files, bytes)
	}
	for name, text := range map[string]string{"a": "hello", "d/b": "inner", "e": "", "f": "file"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != text {
			t.Errorf("%s: %q %v, want %q", name, b, err, text)
		}
	}
	st, err := os.Lstat(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 || !st.ModTime().Equal(time.Unix(1_700_000_000, 123456789)) {
		t.Errorf("a: mode %v, time %v", st.Mode(), st.ModTime())
	}
	if sys := st.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (sys.Uid != 1000 || sys.Gid != 1000) {
		t.Errorf("a: owners %d:%d, want 1000:1000", sys.Uid, sys.Gid)
	}
	if st, err := os.Lstat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("the folder takes the root's mode 0755: %v %v", st.Mode(), err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "l")); err != nil || target != escape {
		t.Errorf("l: %q %v, want a symlink to %s", target, err, escape)
	}
	if names := files2(t, escape); len(names) != 0 {
		t.Errorf("written through the symlink: %v", names)
	}
	if _, err := os.Lstat(filepath.Join(dir, "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a path outside the root was written: %v", err)
	}
	// Never into a folder that exists, nor for a checkpoint unknown.
	if _, _, err := s.Materialize("conv", ck.ID, "/w", dir); err == nil {
		t.Error("materialized into a folder that exists")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(b) != "hello" {
		t.Errorf("the folder that existed was changed: %q %v", b, err)
	}
	other := filepath.Join(t.TempDir(), "none")
	if _, _, err := s.Materialize("conv", "nope", "/w", other); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown checkpoint: %v, want ErrNotFound", err)
	}
	if _, err := os.Lstat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a folder was made for an unknown checkpoint: %v", err)
	}
}

// files2 lists a folder's names.
func files2(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
