package files

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// rootSandbox makes dir/root, the confinement root, with symlinks of every
// kind, next to dir/outside.
func rootSandbox(tb testing.TB, dir string) (root string) {
	tb.Helper()
	root = dir + "/root"
	for _, d := range []string{root + "/sub", dir + "/outside"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	links := map[string]string{
		"in":        "sub",            // inside, relative
		"in-abs":    root + "/sub",    // inside, absolute
		"out":       "../outside",     // outside
		"out-abs":   dir + "/outside", // outside, absolute
		"dangling":  "../outside/new", // missing target outside: a write would create it
		"loop":      "loop",
		"sub/up":    "..",    // back to root: fine
		"sub/upup":  "../..", // out
		"sub/chain": "../out/x",
	}
	for name, target := range links {
		if err := os.Symlink(target, root+"/"+name); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(dir+"/outside/secret", []byte("s"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return root
}

func TestPathRoot(t *testing.T) {
	dir := tempDir(t)
	root := rootSandbox(t, dir)
	f := newFS(t, Config{Root: root})
	tests := []struct {
		path     string
		wantReal string // "" when refused
		wantKind error
	}{
		{path: root, wantReal: root},
		{path: root + "/", wantReal: root},
		{path: root + "/sub/new/file", wantReal: root + "/sub/new/file"},
		{path: root + "/in/x", wantReal: root + "/sub/x"},
		{path: root + "/in-abs/x", wantReal: root + "/sub/x"},
		{path: root + "/sub/up/sub", wantReal: root + "/sub"},
		{path: root + "/sub/../sub", wantReal: root + "/sub"},
		{path: root + "/../outside/secret", wantKind: ErrInvalid},
		{path: root + "/out/secret", wantKind: ErrInvalid},
		{path: root + "/out-abs", wantKind: ErrInvalid},
		{path: root + "/dangling", wantKind: ErrInvalid},
		{path: root + "/sub/upup", wantKind: ErrInvalid},
		{path: root + "/sub/chain", wantKind: ErrInvalid},
		{path: root + "/loop/x", wantKind: ErrInvalid},
		{path: "/etc/passwd", wantKind: ErrInvalid},
		{path: "/", wantKind: ErrInvalid},
		{path: "relative", wantKind: ErrInvalid},
		{path: root + "/a\x00b", wantKind: ErrInvalid},
		{path: "", wantKind: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, dir), func(t *testing.T) {
			got, err := f.path("test", tt.path, true)
			checkErr(t, err, tt.wantKind, "")
			if tt.wantKind == nil && got.real != tt.wantReal {
				t.Errorf("real = %s, want %s", got.real, tt.wantReal)
			}
			if tt.wantKind == ErrInvalid && strings.HasPrefix(tt.path, "/") && !strings.Contains(tt.path, "\x00") &&
				tt.path != root+"/loop/x" && !strings.Contains(err.Error(), "escapes") {
				t.Errorf("error %q does not mention the escape", err)
			}
		})
	}
}

func TestRootRefusesWritesOut(t *testing.T) {
	dir := tempDir(t)
	root := rootSandbox(t, dir)
	f := newFS(t, Config{Root: root})
	for _, p := range []string{root + "/dangling", root + "/out/new", root + "/sub/upup/x"} {
		checkErr(t, f.Write(p, []byte("x")), ErrInvalid, "")
	}
	if _, err := os.Lstat(dir + "/outside/new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a write through a dangling symlink created a file outside the root")
	}
	// Stat describes a symlink without following it, so an outward one can
	// be seen but not read.
	e, err := f.Stat(root + "/out")
	if err != nil || e.Type != TypeSymlink {
		t.Errorf("Stat(out) = %+v, %v; want the symlink", e, err)
	}
	_, err = f.Read(root+"/out/secret", 1, -1)
	checkErr(t, err, ErrInvalid, "")
}

func TestNewRoot(t *testing.T) {
	dir := tempDir(t)
	writeFiles(t, dir, map[string]string{"file": ""})
	for _, bad := range []string{"relative", dir + "/none", dir + "/file"} {
		if _, err := New(Config{Root: bad}); err == nil {
			t.Errorf("New with root %q succeeded", bad)
		}
	}
}

// FuzzPath checks the path rules on arbitrary input: no panic, NUL and
// relative paths refused, and under a Root every accepted path resolves
// inside it.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/", "/root/sub/x", "/root/../outside", "/root/out/secret", "/root/in/../../x",
		"/root/sub/up/up/up", "/root/loop", "/root/dangling", "rel/x", "/root/a\x00", "//root//sub/./x/", "/root/sub/chain/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		dir := tempDir(t)
		root := rootSandbox(t, dir)
		fsys, err := New(Config{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		// Seeds name /root/...: put them in this sandbox.
		if strings.HasPrefix(p, "/root") {
			p = dir + p
		}
		got, err := fsys.path("fuzz", p, true)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if strings.IndexByte(p, 0) >= 0 || !strings.HasPrefix(p, "/") {
			t.Fatalf("path %q accepted", p)
		}
		if !within(root, got.real) {
			t.Fatalf("path %q accepted as %s, outside %s", p, got.real, root)
		}
		r, err := resolveExisting(got.real)
		if err == nil && !within(root, r) {
			t.Fatalf("path %q accepted as %s, which resolves to %s", p, got.real, r)
		}
		// Unconfined, the same rules on the path itself still hold.
		if _, err := newFSNoRoot().path("fuzz", p, false); err != nil {
			t.Fatalf("path %q accepted under a root but not without one: %v", p, err)
		}
	})
}

func newFSNoRoot() *FS {
	f, _ := New(Config{})
	return f
}
