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
				{ConversationID: "b", Token: "tb", Image: "img", Volume: "vol-b"}, // container removed, volume kept
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
			one, err := s.Sandbox("b")
			if diff := cmp.Diff(one, puts[0]); err != nil || diff != "" {
				t.Errorf("Sandbox(b): %v (-got +want):\n%s", err, diff)
			}
			if _, err := s.Sandbox("c"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Sandbox of a deleted record: %v, want ErrNotFound", err)
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
