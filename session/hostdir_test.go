package session

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestHostRootsResolve(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	roots, err := CleanHostRoots([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	root = roots[0]
	os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "out"))
	os.Symlink(filepath.Join(root, "file"), filepath.Join(root, "in"))
	locked := filepath.Join(root, "locked")
	os.Mkdir(locked, 0o500)

	for _, tc := range []struct {
		name, path string
		want       string // "" when refused
		kind       Kind
	}{
		{"new folder", root + "/proj/a", root + "/proj/a", 0},
		{"the root", root, root, 0},
		{"dot dot out", root + "/../x", "", KindRejected},
		{"symlink out", root + "/out/x", "", KindRejected},
		{"a file in the way", root + "/file", "", KindRejected},
		{"under a file", root + "/file/x", "", KindRejected},
		{"link to a file", root + "/in", "", KindRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := roots.Resolve(tc.path, true)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("Resolve(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
				}
				if st, err := os.Stat(got); err != nil || !st.IsDir() {
					t.Errorf("folder %s not made: %v", got, err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Kind != tc.kind {
				t.Fatalf("Resolve(%s) = %q, %v; want an error of kind %v", tc.path, got, err, tc.kind)
			}
		})
	}
	if os.Getuid() != 0 {
		_, err := roots.Resolve(locked+"/x", true)
		var se *Error
		if !errors.As(err, &se) || se.Kind != KindRefused {
			t.Errorf("a folder in a read-only folder: err = %v, want KindRefused", err)
		}
		if _, err := roots.Resolve(locked, true); err == nil {
			t.Errorf("a read-only folder: no error")
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Errorf("a folder was made outside the roots")
	}
	if roots.Has("/etc") || !roots.Has(root+"/x") || roots.Has("relative") {
		t.Errorf("Has gives the wrong answers")
	}
}
