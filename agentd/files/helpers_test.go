package files

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newFS returns an FS for cfg or fails the test.
func newFS(t *testing.T, cfg Config) *FS {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return f
}

// tempDir is t.TempDir with its symlinks resolved, so that paths in
// messages are predictable under Root too.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writeFiles creates files under dir from a map of relative path to
// content; a path ending in "/" is a directory, content "->x" a symlink to x.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkErr fails the test unless err matches wantKind (nil: no error) and,
// when wantMsg is set, the *Error's Msg is wantMsg.
func checkErr(t *testing.T, err, wantKind error, wantMsg string) {
	t.Helper()
	if wantKind == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", wantKind)
	}
	if !errors.Is(err, wantKind) {
		t.Fatalf("error %v is not %v", err, wantKind)
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if wantMsg != "" && fe.Msg != wantMsg {
		t.Fatalf("message\n got: %q\nwant: %q", fe.Msg, wantMsg)
	}
}

func sp(s string) *string { return &s }
func ip(i int) *int       { return &i }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
