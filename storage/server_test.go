package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestServerState checks the server-wide values and secrets: values kept
// as given, secrets sealed in the file and readable after a reopen with
// the key, and kept in memory only without one.
func TestServerState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{SecretKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.ServerValue("settings"); err != nil || v != nil {
		t.Fatalf("a value never set: %q, %v", v, err)
	}
	if err := s.PutServerValues(map[string][]byte{"settings": []byte(`{"a":1}`), "profile/x": []byte(`{}`), "profile/y": []byte(`{}`), "other": []byte("o")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutServerValues(map[string][]byte{"profile/y": nil}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutServerSecret("TOKEN", "s3cret-value-in-the-file"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutServerSecret("GONE", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutServerSecret("GONE", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("s3cret-value-in-the-file")) {
		t.Error("the secret is in the file in the clear")
	}

	s, err = Open(path, Options{SecretKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.ServerValue("settings"); err != nil || string(v) != `{"a":1}` {
		t.Errorf("settings after reopen: %q, %v", v, err)
	}
	profiles, err := s.ServerValues("profile/")
	if err != nil || len(profiles) != 1 || profiles["profile/x"] == nil {
		t.Errorf("profiles: %v, %v", profiles, err)
	}
	if v, err := s.ServerSecret("TOKEN"); err != nil || v != "s3cret-value-in-the-file" {
		t.Errorf("secret after reopen: %q, %v", v, err)
	}
	if _, err := s.ServerSecret("GONE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted secret: %v, want ErrNotFound", err)
	}
	if names, err := s.ServerSecretNames(); err != nil || !slices.Equal(names, []string{"TOKEN"}) {
		t.Errorf("names: %v, %v", names, err)
	}
	s.Close()

	// Without the key: nothing sealed can be read, and new secrets live
	// in memory only.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ServerSecret("TOKEN"); !errors.Is(err, ErrNotFound) {
		t.Errorf("without the key: %v, want ErrNotFound", err)
	}
	if err := s.PutServerSecret("MEM", "m"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.ServerSecret("MEM"); err != nil || v != "m" {
		t.Errorf("a memory secret: %q, %v", v, err)
	}
	if names, _ := s.ServerSecretNames(); !slices.Equal(names, []string{"MEM"}) {
		t.Errorf("names without the key: %v", names)
	}
	if err := s.PutServerValues(map[string][]byte{"": []byte("x")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty key: %v, want ErrInvalid", err)
	}
}
