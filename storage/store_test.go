package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// cmpOpts compare events and conversations: times by instant.
var cmpOpts = []cmp.Option{
	cmp.Comparer(func(a, b event.Time) bool { return a.Equal(b.Time) }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

// openStore opens a store in a fresh folder and closes it when the test
// ends. It returns the file's path for reopening.
func openStore(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "gohands.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func reopen(t *testing.T, s *Store, path string, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

// t0 is the time test conversations and events start at.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCreate(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateConversation(Conversation{ID: id, CreatedAt: t0}); err != nil {
			t.Fatalf("CreateConversation(%s): %v", id, err)
		}
	}
}

func mustAppend(t *testing.T, s *Store, conv string, evs ...event.Event) {
	t.Helper()
	if err := s.Append(conv, evs...); err != nil {
		t.Fatalf("Append(%s): %v", conv, err)
	}
}

// Event constructors for tests.

func msg(src event.Source, text string) *event.Message {
	role := "user"
	if src == event.SourceAgent {
		role = "assistant"
	}
	return &event.Message{
		Base:       event.Base{Source: src},
		LLMMessage: event.LLMMessage{Role: role, Content: event.Text(text)},
	}
}

func action(command, thought string) *event.Action {
	return &event.Action{
		Base:         event.Base{Source: event.SourceAgent},
		Thought:      event.Text(thought),
		Action:       &event.TerminalAction{Command: command},
		ToolName:     "terminal",
		ToolCallID:   "call-" + command,
		SecurityRisk: event.RiskLow,
	}
}

func observation(output string) *event.Observation {
	exit := 0
	return &event.Observation{
		Base: event.Base{Source: event.SourceEnvironment},
		Observation: &event.TerminalObservation{
			ToolOutput: event.ToolOutput{Content: event.Text(output)},
			Command:    "ls",
			ExitCode:   &exit,
			Metadata:   event.TerminalMetadata{ExitCode: 0, PID: 42},
		},
		ToolName:   "terminal",
		ToolCallID: "call-ls",
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, path := openStore(t, Options{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode %v, want no access for group and others", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("folder mode %v, want 0700", perm)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	opts := Options{SecretKey: "k1"}
	s, path := openStore(t, opts)
	id := s.ServerID()
	if len(id) != 32 {
		t.Errorf("ServerID %q, want 32 hex digits", id)
	}
	c := Conversation{ID: "c1", Title: "first", Status: "idle", CreatedAt: t0, UpdatedAt: t0.Add(time.Minute), Spec: []byte(`{"model":"m"}`)}
	if err := s.CreateConversation(c); err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{msg(event.SourceUser, "hello"), action("ls", "look"), observation("a b")}
	mustAppend(t, s, "c1", evs...)
	if err := s.PutSecrets("c1", map[string]string{"TOKEN": "s3cret"}); err != nil {
		t.Fatal(err)
	}
	sb := SandboxRecord{ConversationID: "c1", ContainerID: "ctr", Token: "tok", Image: "img"}
	if err := s.PutSandbox(sb); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s, path, opts)
	if got := s.ServerID(); got != id {
		t.Errorf("ServerID after reopen = %q, want %q", got, id)
	}
	got, err := s.Conversation("c1")
	if err != nil {
		t.Fatal(err)
	}
	c.LastSeq = 3
	if diff := cmp.Diff(got, c, cmpOpts...); diff != "" {
		t.Errorf("Conversation (-got +want):\n%s", diff)
	}
	gotEvs, _, err := s.Events("c1", EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gotEvs, evs, cmpOpts...); diff != "" {
		t.Errorf("Events (-got +want):\n%s", diff)
	}
	secrets, err := s.Secrets("c1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(secrets, map[string]string{"TOKEN": "s3cret"}); diff != "" {
		t.Errorf("Secrets (-got +want):\n%s", diff)
	}
	sbs, err := s.Sandboxes()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sbs, []SandboxRecord{sb}); diff != "" {
		t.Errorf("Sandboxes (-got +want):\n%s", diff)
	}
	// Appends go on from the last seq.
	e := msg(event.SourceUser, "again")
	mustAppend(t, s, "c1", e)
	if e.Seq != 4 {
		t.Errorf("seq after reopen = %d, want 4", e.Seq)
	}
}

func TestOpenLocked(t *testing.T) {
	_, path := openStore(t, Options{})
	start := time.Now()
	s2, err := Open(path, Options{})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	s, path := openStore(t, Options{})
	s.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchema, seqKey(schemaVersion+1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a file with a newer schema succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v, want an error about the newer schema", err)
	}
}

func TestOpenNotAStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(path, []byte(strings.Repeat("not bbolt ", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open of a file that is not a store succeeded")
	}
}

// TestWriteFailures checks that a store that cannot write says so with
// ErrUnavailable, and that what was stored before stays intact.
func TestWriteFailures(t *testing.T) {
	tests := []struct {
		name string
		// broken turns a store holding conversation c1 (with one event)
		// into one that cannot write; it returns the store to use.
		broken func(t *testing.T, s *Store, path string) *Store
	}{
		{"closed", func(t *testing.T, s *Store, path string) *Store {
			s.Close()
			return s
		}},
		{"read-only", func(t *testing.T, s *Store, path string) *Store {
			return reopen(t, s, path, Options{ReadOnly: true})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openStore(t, Options{})
			mustCreate(t, s, "c1")
			mustAppend(t, s, "c1", msg(event.SourceUser, "kept"))
			s = tt.broken(t, s, path)

			e := msg(event.SourceUser, "lost")
			writes := map[string]error{
				"Append":             s.Append("c1", e),
				"CreateConversation": s.CreateConversation(Conversation{ID: "c2"}),
				"PutConversation":    s.PutConversation(Conversation{ID: "c1", Title: "x"}),
				"DeleteConversation": s.DeleteConversation("c1"),
				"PutSandbox":         s.PutSandbox(SandboxRecord{ConversationID: "c1"}),
				"DeleteSandbox":      s.DeleteSandbox("c1"),
			}
			_, err := s.UpdateConversation("c1", func(c *Conversation) error { c.Title = "x"; return nil })
			writes["UpdateConversation"] = err
			for name, err := range writes {
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", name, err)
				}
			}
			if e.Seq != 0 {
				t.Errorf("failed Append left seq %d, want 0", e.Seq)
			}
			s.Close()

			s, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			raw, err := s.RawEvents("c1", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != 1 || !strings.Contains(string(raw[0]), "kept") {
				t.Errorf("events after failed writes: %s", raw)
			}
			if _, err := s.Conversation("c2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("conversation created by a failed write: %v", err)
			}
		})
	}
}

func TestReadOnlyReads(t *testing.T) {
	s, path := openStore(t, Options{})
	mustCreate(t, s, "c1")
	mustAppend(t, s, "c1", msg(event.SourceUser, "hi"))
	id := s.ServerID()
	s = reopen(t, s, path, Options{ReadOnly: true})
	if s.ServerID() != id {
		t.Errorf("ServerID read-only = %q, want %q", s.ServerID(), id)
	}
	c, err := s.Conversation("c1")
	if err != nil || c.LastSeq != 1 {
		t.Errorf("Conversation read-only = %+v, %v; want LastSeq 1", c, err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only Open of a missing file succeeded")
	}
}

// TestDiskFull fills a store capped in size, as a full disk would, and
// checks that every acknowledged event survives and no seq is skipped.
func TestDiskFull(t *testing.T) {
	s, path := openStore(t, Options{maxSize: 2 << 20})
	mustCreate(t, s, "c1")
	big := strings.Repeat("x", 64<<10)
	acked := 0
	var err error
	for i := range 1000 {
		if err = s.Append("c1", observation(fmt.Sprintf("%d %s", i, big))); err != nil {
			break
		}
		acked++
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append to a full store: %v, want ErrUnavailable", err)
	}
	if acked == 0 {
		t.Fatal("no append succeeded")
	}
	s = reopen(t, s, path, Options{})
	raw, err := s.RawEvents("c1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != acked {
		t.Errorf("%d events after reopen, want the %d acknowledged", len(raw), acked)
	}
	e := msg(event.SourceUser, "after")
	mustAppend(t, s, "c1", e)
	if e.Seq != int64(acked+1) {
		t.Errorf("seq after reopen = %d, want %d", e.Seq, acked+1)
	}
}
