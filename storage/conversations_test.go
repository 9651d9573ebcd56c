package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
)

func TestConversationRoundTrip(t *testing.T) {
	now := t0.Add(time.Hour)
	s, _ := openStore(t, Options{Now: func() time.Time { return now }})
	tests := []struct {
		name string
		in   Conversation
		want Conversation
	}{
		{
			name: "all fields",
			in:   Conversation{ID: "a", Title: "T", Status: "running", CreatedAt: t0, UpdatedAt: t0.Add(time.Second), Spec: []byte(`{"x": [1, 2]}`), LastSeq: 99},
			want: Conversation{ID: "a", Title: "T", Status: "running", CreatedAt: t0, UpdatedAt: t0.Add(time.Second), Spec: []byte(`{"x":[1,2]}`)},
		},
		{
			name: "zero times filled",
			in:   Conversation{ID: "b"},
			want: Conversation{ID: "b", CreatedAt: now, UpdatedAt: now},
		},
		{
			name: "updated defaults to created",
			in:   Conversation{ID: "c", CreatedAt: t0},
			want: Conversation{ID: "c", CreatedAt: t0, UpdatedAt: t0},
		},
		{
			name: "nanoseconds and zones",
			in:   Conversation{ID: "d", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))},
			want: Conversation{ID: "d", CreatedAt: time.Date(2025, 1, 2, 2, 4, 5, 6, time.UTC), UpdatedAt: time.Date(2025, 1, 2, 2, 4, 5, 6, time.UTC)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateConversation(tt.in); err != nil {
				t.Fatal(err)
			}
			got, err := s.Conversation(tt.in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want, cmpOpts...); diff != "" {
				t.Errorf("Conversation (-got +want):\n%s", diff)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
			}
		})
	}
}

func TestConversationErrors(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "a")
	long := string(make([]byte, maxIDLen+1))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"create existing", s.CreateConversation(Conversation{ID: "a"}), ErrExists},
		{"create empty id", s.CreateConversation(Conversation{}), ErrInvalid},
		{"create long id", s.CreateConversation(Conversation{ID: long}), ErrInvalid},
		{"create bad spec", s.CreateConversation(Conversation{ID: "b", Spec: []byte("{")}), ErrInvalid},
		{"get unknown", get(s, "nope"), ErrNotFound},
		{"delete unknown", s.DeleteConversation("nope"), ErrNotFound},
		{"update unknown", update(s, "nope", func(*Conversation) error { return nil }), ErrNotFound},
		{"update changes id", update(s, "a", func(c *Conversation) error { c.ID = "z"; return nil }), ErrInvalid},
		{"list bad sort", list(s, ConversationQuery{Sort: "TITLE"}), ErrInvalid},
		{"list bad page", list(s, ConversationQuery{PageID: "!!"}), ErrBadPage},
		{"list page of events", list(s, ConversationQuery{PageID: encodeEventPage(3)}), ErrBadPage},
		{"list page of other sort", list(s, ConversationQuery{Sort: ByUpdated, PageID: encodeConversationPage(ByCreated, timeKey(0, "a"))}), ErrBadPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
	if _, err := s.Conversation("z"); !errors.Is(err, ErrNotFound) {
		t.Errorf("update that failed stored %q: %v", "z", err)
	}
}

func get(s *Store, id string) error {
	_, err := s.Conversation(id)
	return err
}

func update(s *Store, id string, fn func(*Conversation) error) error {
	_, err := s.UpdateConversation(id, fn)
	return err
}

func list(s *Store, q ConversationQuery) error {
	_, _, err := s.Conversations(q)
	return err
}

func TestPutAndUpdateConversation(t *testing.T) {
	s, _ := openStore(t, Options{})
	c := Conversation{ID: "a", Title: "one", Status: "idle", CreatedAt: t0}
	if err := s.PutConversation(c); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "a", msg(event.SourceUser, "hi"))
	c.Title, c.UpdatedAt = "two", t0.Add(time.Hour)
	if err := s.PutConversation(c); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateConversation("a", func(c *Conversation) error {
		if c.Title != "two" {
			return fmt.Errorf("title %q before update", c.Title)
		}
		c.Status = "running"
		c.UpdatedAt = t0.Add(2 * time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Conversation{ID: "a", Title: "two", Status: "running", CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Hour), LastSeq: 1}
	if diff := cmp.Diff(got, want, cmpOpts...); diff != "" {
		t.Errorf("UpdateConversation (-got +want):\n%s", diff)
	}
	if got, _ = s.Conversation("a"); !cmp.Equal(got, want, cmpOpts...) {
		t.Errorf("Conversation after update = %+v, want %+v", got, want)
	}
	// An error of fn stores nothing and comes back.
	boom := errors.New("boom")
	if _, err := s.UpdateConversation("a", func(c *Conversation) error { c.Title = "lost"; return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateConversation with failing fn: %v, want boom", err)
	}
	if got, _ = s.Conversation("a"); got.Title != "two" {
		t.Errorf("title %q after failed update, want two", got.Title)
	}
	// The old index keys are gone: one conversation in each listing.
	for _, sort := range []ConversationSort{ByCreated, ByUpdated} {
		items, _, err := s.Conversations(ConversationQuery{Sort: sort})
		if err != nil || len(items) != 1 {
			t.Errorf("Conversations(%s) = %d items, %v; want 1", sort, len(items), err)
		}
	}
}

// TestConversationsListing walks every order, filter and page size and
// checks each walk sees exactly the conversations it should, in order.
func TestConversationsListing(t *testing.T) {
	s, _ := openStore(t, Options{})
	statuses := []string{"idle", "running", "paused"}
	var all []Conversation
	for i := range 23 {
		c := Conversation{
			ID:     fmt.Sprintf("c%02d", i),
			Status: statuses[i%3],
			// Created in id order; updated in the reverse order, with
			// ties (same time, ordered by id) every few.
			CreatedAt: t0.Add(time.Duration(i) * time.Minute),
			UpdatedAt: t0.Add(time.Hour - time.Duration(i/2)*time.Minute),
		}
		if err := s.CreateConversation(c); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	byCreated := func(a, b Conversation) int { return cmpTime(a.CreatedAt, b.CreatedAt, a.ID, b.ID) }
	byUpdated := func(a, b Conversation) int { return cmpTime(a.UpdatedAt, b.UpdatedAt, a.ID, b.ID) }
	reverse := func(f func(a, b Conversation) int) func(a, b Conversation) int {
		return func(a, b Conversation) int { return f(b, a) }
	}
	orders := map[ConversationSort]func(a, b Conversation) int{
		"":            reverse(byCreated),
		ByCreated:     byCreated,
		ByCreatedDesc: reverse(byCreated),
		ByUpdated:     byUpdated,
		ByUpdatedDesc: reverse(byUpdated),
	}
	for sort, order := range orders {
		for _, status := range []string{"", "idle", "running", "stuck"} {
			var want []string
			for _, c := range slices.SortedFunc(slices.Values(all), order) {
				if status == "" || c.Status == status {
					want = append(want, c.ID)
				}
			}
			n, err := s.CountConversations(status)
			if err != nil || n != len(want) {
				t.Errorf("CountConversations(%q) = %d, %v; want %d", status, n, err, len(want))
			}
			for _, limit := range []int{0, 1, 2, 5, 7, 23, 100} {
				t.Run(fmt.Sprintf("sort=%s/status=%s/limit=%d", sort, status, limit), func(t *testing.T) {
					got := walkConversations(t, s, ConversationQuery{Sort: sort, Status: status, Limit: limit})
					if diff := cmp.Diff(got, want); diff != "" {
						t.Errorf("walk (-got +want):\n%s", diff)
					}
				})
			}
		}
	}
}

func cmpTime(a, b time.Time, ida, idb string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	if ida < idb {
		return -1
	}
	if ida > idb {
		return 1
	}
	return 0
}

// walkConversations follows next-page ids to the end and returns the ids
// seen, checking each page's size.
func walkConversations(t *testing.T, s *Store, q ConversationQuery) []string {
	t.Helper()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		items, next, err := s.Conversations(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > limit || (next != "" && len(items) != limit) || (next == "" && len(items) == 0 && pages > 0) {
			t.Fatalf("page %d: %d items, next %q, limit %d", pages, len(items), next, limit)
		}
		for _, c := range items {
			ids = append(ids, c.ID)
		}
		if next == "" {
			return ids
		}
		q.PageID = next
	}
}

func TestDeleteConversation(t *testing.T) {
	for _, key := range []string{"", "k"} {
		t.Run("key="+key, func(t *testing.T) {
			s, path := openStore(t, Options{SecretKey: key})
			mustCreate(t, s, "a", "b")
			e := msg(event.SourceUser, "hello")
			mustAppend(t, s, "a", e)
			mustAppend(t, s, "b", msg(event.SourceUser, "other"))
			if err := s.PutSecrets("a", map[string]string{"X": "1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutSandbox(SandboxRecord{ConversationID: "a", ContainerID: "ctr"}); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteConversation("a"); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, s, path, Options{SecretKey: key})
			if _, err := s.Conversation("a"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Conversation after delete: %v", err)
			}
			if _, _, err := s.Events("a", EventQuery{}); !errors.Is(err, ErrNotFound) {
				t.Errorf("Events after delete: %v", err)
			}
			if _, err := s.Event("a", e.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Event after delete: %v", err)
			}
			if _, err := s.Secrets("a"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Secrets after delete: %v", err)
			}
			if sbs, err := s.Sandboxes(); err != nil || len(sbs) != 0 {
				t.Errorf("Sandboxes after delete = %v, %v", sbs, err)
			}
			if n, _ := s.CountConversations(""); n != 1 {
				t.Errorf("%d conversations after delete, want 1", n)
			}
			// The same id again starts from nothing.
			mustCreate(t, s, "a")
			if sec, err := s.Secrets("a"); err != nil || len(sec) != 0 {
				t.Errorf("Secrets of recreated conversation = %v, %v", sec, err)
			}
			e2 := msg(event.SourceUser, "new")
			mustAppend(t, s, "a", e2)
			if e2.Seq != 1 {
				t.Errorf("first seq of recreated conversation = %d", e2.Seq)
			}
			if c, _ := s.Conversation("b"); c.LastSeq != 1 {
				t.Errorf("other conversation lost its events: LastSeq %d", c.LastSeq)
			}
		})
	}
}

func TestDeleteDropsMemorySecrets(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "a")
	if err := s.PutSecrets("a", map[string]string{"X": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConversation("a"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a")
	if sec, err := s.Secrets("a"); err != nil || len(sec) != 0 {
		t.Errorf("Secrets of recreated conversation = %v, %v; want none", sec, err)
	}
}
