package storage

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Values that must never appear in the file in the clear.
const (
	secretValue  = "sk-live-NEVER-ON-DISK-0123456789"
	sandboxToken = "agent-token-NEVER-ON-DISK-9876543210"
)

func fileHolds(t *testing.T, path, s string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

func TestSecretsWithKey(t *testing.T) {
	opts := Options{SecretKey: "correct horse battery staple"}
	s, path := openStore(t, opts)
	if !s.SecretsPersistent() {
		t.Error("SecretsPersistent() = false with a key")
	}
	mustCreate(t, s, "c", "d")
	if err := s.PutSecrets("c", map[string]string{"API_KEY": secretValue, "OTHER": "o1", "GONE": "g"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets("c", map[string]string{"OTHER": "o2", "GONE": ""}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets("d", map[string]string{"API_KEY": "d's"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSandbox(SandboxRecord{ConversationID: "c", ContainerID: "ctr", Token: sandboxToken, Image: "img"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"API_KEY": secretValue, "OTHER": "o2"}
	got, err := s.Secrets("c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Secrets (-got +want):\n%s", diff)
	}

	s = reopen(t, s, path, opts)
	got, err = s.Secrets("c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Secrets after reopen (-got +want):\n%s", diff)
	}
	sbs, err := s.Sandboxes()
	if err != nil || len(sbs) != 1 || sbs[0].Token != sandboxToken {
		t.Errorf("Sandboxes after reopen = %+v, %v; want the token back", sbs, err)
	}
	s.Close()
	for _, clear := range []string{secretValue, sandboxToken, opts.SecretKey} {
		if fileHolds(t, path, clear) {
			t.Errorf("file holds %q in the clear", clear)
		}
	}
}

func TestSecretsWrongKey(t *testing.T) {
	s, path := openStore(t, Options{SecretKey: "right"})
	mustCreate(t, s, "c")
	if err := s.PutSecrets("c", map[string]string{"K": secretValue}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, readOnly := range []bool{false, true} {
		s2, err := Open(path, Options{SecretKey: "wrong", ReadOnly: readOnly})
		if err == nil {
			s2.Close()
			t.Fatalf("Open with the wrong key (read-only %v) succeeded", readOnly)
		}
		if !errors.Is(err, ErrSecretKey) {
			t.Errorf("Open with the wrong key (read-only %v): %v, want ErrSecretKey", readOnly, err)
		}
	}
	// Without a key the store opens; sealed secrets stay sealed and unseen.
	s = reopen(t, s, path, Options{})
	if got, err := s.Secrets("c"); err != nil || len(got) != 0 {
		t.Errorf("Secrets without the key = %v, %v; want none", got, err)
	}
	// With the right key again they are back.
	s = reopen(t, s, path, Options{SecretKey: "right"})
	if got, err := s.Secrets("c"); err != nil || got["K"] != secretValue {
		t.Errorf("Secrets with the key again = %v, %v", got, err)
	}
}

func TestSecretsWithoutKey(t *testing.T) {
	s, path := openStore(t, Options{})
	if s.SecretsPersistent() {
		t.Error("SecretsPersistent() = true without a key")
	}
	mustCreate(t, s, "c")
	if err := s.PutSecrets("c", map[string]string{"API_KEY": secretValue, "X": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets("c", map[string]string{"X": ""}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Secrets("c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, map[string]string{"API_KEY": secretValue}); diff != "" {
		t.Errorf("Secrets (-got +want):\n%s", diff)
	}
	got["API_KEY"] = "changed by caller"
	if again, _ := s.Secrets("c"); again["API_KEY"] != secretValue {
		t.Error("Secrets returned the store's own map")
	}
	// The token is kept in the clear without a key, by design.
	if err := s.PutSandbox(SandboxRecord{ConversationID: "c", ContainerID: "ctr", Token: sandboxToken}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path, Options{})
	if got, err := s.Secrets("c"); err != nil || len(got) != 0 {
		t.Errorf("Secrets after reopen = %v, %v; want none (memory only)", got, err)
	}
	if sbs, err := s.Sandboxes(); err != nil || len(sbs) != 1 || sbs[0].Token != sandboxToken {
		t.Errorf("Sandboxes after reopen = %+v, %v", sbs, err)
	}
	s.Close()
	if fileHolds(t, path, secretValue) {
		t.Error("file holds the secret without a key")
	}
}

func TestSecretsErrors(t *testing.T) {
	for _, key := range []string{"", "k"} {
		s, _ := openStore(t, Options{SecretKey: key})
		mustCreate(t, s, "c")
		if err := s.PutSecrets("nope", map[string]string{"A": "b"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("key %q: PutSecrets of unknown conversation: %v", key, err)
		}
		if _, err := s.Secrets("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("key %q: Secrets of unknown conversation: %v", key, err)
		}
		if err := s.PutSecrets("c", map[string]string{"": "b"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("key %q: PutSecrets with an empty name: %v", key, err)
		}
		if got, err := s.Secrets("c"); err != nil || got == nil || len(got) != 0 {
			t.Errorf("key %q: Secrets with none = %#v, %v; want an empty map", key, got, err)
		}
	}
}

// TestSealedValuesStayInPlace checks that a sealed value copied to another
// conversation or name does not decrypt there.
func TestSealedValuesStayInPlace(t *testing.T) {
	s, _ := openStore(t, Options{SecretKey: "k"})
	sealed := s.seal([]byte("v"), secretAD("c", "A"))
	if _, err := s.open(sealed, secretAD("c", "A")); err != nil {
		t.Fatalf("open in place: %v", err)
	}
	for _, ad := range []string{secretAD("d", "A"), secretAD("c", "B"), sandboxAD("c")} {
		if _, err := s.open(sealed, ad); err == nil {
			t.Errorf("sealed value opened as %q", ad)
		}
	}
	if _, err := s.open(sealed[:5], secretAD("c", "A")); err == nil {
		t.Error("truncated value opened")
	}
}
