package storage

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSandboxes(t *testing.T) {
	for _, key := range []string{"", "k"} {
		t.Run("key="+key, func(t *testing.T) {
			s, path := openStore(t, Options{SecretKey: key})
			mustCreate(t, s, "a", "b", "c")
			puts := []SandboxRecord{
				{ConversationID: "b", ContainerID: "ctr-b", Token: "tb", Image: "img"},
				{ConversationID: "a", ContainerID: "ctr-a0", Token: "ta0", Image: "img"},
				{ConversationID: "a", ContainerID: "ctr-a", Token: "ta", Image: "img2"}, // replaces
				{ConversationID: "c", ContainerID: "ctr-c"},
			}
			for _, r := range puts {
				if err := s.PutSandbox(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutSandbox(SandboxRecord{ConversationID: "nope", ContainerID: "x"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("PutSandbox of unknown conversation: %v", err)
			}
			if err := s.DeleteSandbox("c"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteSandbox("c"); err != nil {
				t.Errorf("second DeleteSandbox: %v", err)
			}
			s = reopen(t, s, path, Options{SecretKey: key})
			got, err := s.Sandboxes()
			if err != nil {
				t.Fatal(err)
			}
			want := []SandboxRecord{puts[2], puts[0]}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("Sandboxes (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSandboxSealedTokenWithoutKey(t *testing.T) {
	s, path := openStore(t, Options{SecretKey: "k"})
	mustCreate(t, s, "a")
	if err := s.PutSandbox(SandboxRecord{ConversationID: "a", ContainerID: "ctr", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path, Options{})
	got, err := s.Sandboxes()
	if err != nil {
		t.Fatal(err)
	}
	want := []SandboxRecord{{ConversationID: "a", ContainerID: "ctr"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Sandboxes without the key (-got +want):\n%s", diff)
	}
}

// TestSandboxOne: Sandbox reads one conversation's record, its sealed
// token opened, and says when there is none.
func TestSandboxOne(t *testing.T) {
	s, _ := openStore(t, Options{SecretKey: "k"})
	mustCreate(t, s, "a", "b")
	want := SandboxRecord{ConversationID: "a", ContainerID: "ctr", Token: "tok", Image: "img"}
	if err := s.PutSandbox(want); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Sandbox("a"); err != nil || !ok || got != want {
		t.Errorf("Sandbox(a) = %+v %v %v, want %+v", got, ok, err, want)
	}
	if got, ok, err := s.Sandbox("b"); err != nil || ok {
		t.Errorf("Sandbox(b) = %+v %v %v, want none", got, ok, err)
	}
}
