package storage

import (
	"errors"
	"testing"
)

// TestDeleteConversationLeaving: the delete records what the conversation
// left (its sandbox's container, taken from its record when not given)
// in the same transaction; the record outlives a reopen until
// DoneRemoval; a delete that fails records nothing.
func TestDeleteConversationLeaving(t *testing.T) {
	s, path := openStore(t, Options{})
	mustCreate(t, s, "a", "b", "c")
	if err := s.PutSandbox(SandboxRecord{ConversationID: "a", ContainerID: "ctr-a", Image: "img"}); err != nil {
		t.Fatal(err)
	}
	ra, err := s.DeleteConversationLeaving("a", Removal{HostDir: "/roots/a.fork-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ra.ContainerID != "ctr-a" || ra.Image != "img" || ra.HostDir != "/roots/a.fork-1" || ra.Key == 0 || ra.At.IsZero() {
		t.Errorf("removal of a: %+v, want its sandbox's container, the folder, a key and a time", ra)
	}
	rb, err := s.DeleteConversationLeaving("b", Removal{ContainerID: "ctr-b"})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing to remove: nothing recorded.
	if rc, err := s.DeleteConversationLeaving("c", Removal{}); err != nil || rc.Key != 0 {
		t.Errorf("removal of c, which left nothing: %+v %v", rc, err)
	}
	if _, err := s.DeleteConversationLeaving("nobody", Removal{ContainerID: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of an unknown conversation: %v, want ErrNotFound", err)
	}

	s = reopen(t, s, path, Options{})
	got, err := s.Removals()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != ra.Key || got[0].ContainerID != "ctr-a" || got[1].ContainerID != "ctr-b" || got[1].ConversationID != "b" {
		t.Fatalf("removals after a reopen: %+v, want those of a and b", got)
	}
	if err := s.DoneRemoval(ra.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.DoneRemoval(ra.Key); err != nil {
		t.Errorf("DoneRemoval twice: %v", err)
	}
	if got, err := s.Removals(); err != nil || len(got) != 1 || got[0].Key != rb.Key {
		t.Errorf("removals after one is done: %+v %v, want that of b", got, err)
	}
}
