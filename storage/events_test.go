package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
)

func TestAppendFillsAndRoundTrips(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	s, _ := openStore(t, Options{Now: func() time.Time { return now }})
	mustCreate(t, s, "c")

	given := msg(event.SourceUser, "mine")
	given.ID = "my-id"
	given.Timestamp = event.Time{Time: time.Date(2024, 1, 1, 0, 0, 0, 999, time.FixedZone("X", 7200))}
	evs := []event.Event{given, action("ls -la", "let me look"), observation("total 0")}
	mustAppend(t, s, "c", evs...)

	for i, e := range evs {
		m := e.Meta()
		if m.Seq != int64(i+1) {
			t.Errorf("event %d: seq %d, want %d", i, m.Seq, i+1)
		}
		if m.ID == "" {
			t.Errorf("event %d: no id", i)
		}
	}
	if want := time.Date(2023, 12, 31, 22, 0, 0, 0, time.UTC); !given.Timestamp.Equal(want) || given.Timestamp.Location() != time.UTC {
		t.Errorf("given timestamp became %v, want %v (UTC, microseconds)", given.Timestamp, want)
	}
	if want := event.TimeOf(now); !evs[1].Meta().Timestamp.Equal(want.Time) {
		t.Errorf("filled timestamp %v, want %v", evs[1].Meta().Timestamp, want)
	}

	got, next, err := s.Events("c", EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if next != "" {
		t.Errorf("next page %q after all events", next)
	}
	if diff := cmp.Diff(got, evs, cmpOpts...); diff != "" {
		t.Errorf("Events (-got +want):\n%s", diff)
	}

	raw, err := s.RawEvents("c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range raw {
		want, _ := event.Marshal(evs[i])
		if string(r) != string(want) {
			t.Errorf("raw event %d = %s, want %s", i, r, want)
		}
		var probe struct{ Seq int64 }
		if err := json.Unmarshal(r, &probe); err != nil || probe.Seq != int64(i+1) {
			t.Errorf("raw event %d has seq %d (%v)", i, probe.Seq, err)
		}
	}

	c, err := s.Conversation("c")
	if err != nil || c.LastSeq != 3 {
		t.Errorf("LastSeq = %d, %v; want 3", c.LastSeq, err)
	}
	if !c.UpdatedAt.Equal(t0) {
		t.Errorf("Append changed UpdatedAt to %v", c.UpdatedAt)
	}
}

func TestAppendErrors(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	dup := msg(event.SourceUser, "x")
	dup.ID = "dup"
	mustAppend(t, s, "c", dup)

	again := msg(event.SourceUser, "y")
	again.ID = "dup"
	twice1, twice2 := msg(event.SourceUser, "1"), msg(event.SourceUser, "2")
	twice1.ID, twice2.ID = "same", "same"
	ok := msg(event.SourceUser, "ok")
	tests := []struct {
		name string
		conv string
		evs  []event.Event
		want error
	}{
		{"unknown conversation", "nope", []event.Event{msg(event.SourceUser, "x")}, ErrNotFound},
		{"unknown conversation, no events", "nope", nil, ErrNotFound},
		{"id already stored", "c", []event.Event{ok, again}, ErrExists},
		{"id twice in one call", "c", []event.Event{twice1, twice2}, ErrExists},
		{"nil event", "c", []event.Event{nil}, ErrInvalid},
		{"unencodable event", "c", []event.Event{&event.Observation{Base: event.Base{Source: event.SourceAgent}}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Append(tt.conv, tt.evs...)
			if !errors.Is(err, tt.want) {
				t.Errorf("Append: %v, want %v", err, tt.want)
			}
			for _, e := range tt.evs {
				if e != nil && e.Meta().Seq != 0 {
					t.Errorf("failed Append left seq %d", e.Meta().Seq)
				}
			}
		})
	}
	// Nothing of the failed calls was stored: the next event is seq 2.
	e := msg(event.SourceUser, "next")
	mustAppend(t, s, "c", e)
	if e.Seq != 2 {
		t.Errorf("seq after failed appends = %d, want 2", e.Seq)
	}
	if err := s.Append("c"); err != nil {
		t.Errorf("Append of no events: %v", err)
	}
}

// TestConcurrentAppends appends from many goroutines, one per conversation
// and several to one conversation, and checks every conversation's seqs run
// from 1 with no gap, in the order each appender appended.
func TestConcurrentAppends(t *testing.T) {
	s, path := openStore(t, Options{})
	const convs, calls = 12, 40
	for i := range convs {
		mustCreate(t, s, fmt.Sprintf("c%d", i))
	}
	mustCreate(t, s, "shared")
	var wg sync.WaitGroup
	errs := make(chan error, convs+4)
	for i := range convs {
		wg.Go(func() {
			conv := fmt.Sprintf("c%d", i)
			want := int64(1)
			for n := range calls {
				// 1, 2 or 3 events per call.
				var evs []event.Event
				for k := range n%3 + 1 {
					evs = append(evs, msg(event.SourceUser, fmt.Sprintf("%s %d.%d", conv, n, k)))
				}
				if err := s.Append(conv, evs...); err != nil {
					errs <- err
					return
				}
				for _, e := range evs {
					if e.Meta().Seq != want {
						errs <- fmt.Errorf("%s: seq %d, want %d", conv, e.Meta().Seq, want)
						return
					}
					want++
				}
			}
		})
	}
	// Several appenders on one conversation: not what callers do, but safe.
	var sharedMu sync.Mutex
	sharedSeqs := map[int64]string{}
	for g := range 4 {
		wg.Go(func() {
			for n := range calls {
				e := msg(event.SourceAgent, fmt.Sprintf("g%d n%d", g, n))
				if err := s.Append("shared", e); err != nil {
					errs <- err
					return
				}
				sharedMu.Lock()
				sharedSeqs[e.Seq] = e.ID
				sharedMu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	s = reopen(t, s, path, Options{})
	for i := range convs {
		conv := fmt.Sprintf("c%d", i)
		raw, err := s.RawEvents(conv, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for n := range calls {
			want += n%3 + 1
		}
		if len(raw) != want {
			t.Errorf("%s: %d events, want %d", conv, len(raw), want)
		}
		for j, r := range raw {
			e, err := event.Unmarshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if e.Meta().Seq != int64(j+1) {
				t.Errorf("%s: event %d has seq %d", conv, j, e.Meta().Seq)
			}
		}
	}
	evs, _, err := s.Events("shared", EventQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4*calls || len(sharedSeqs) != 4*calls {
		t.Errorf("shared: %d events stored, %d distinct seqs acknowledged; want %d", len(evs), len(sharedSeqs), 4*calls)
	}
	for j, e := range evs {
		if e.Meta().Seq != int64(j+1) || sharedSeqs[e.Meta().Seq] != e.Meta().ID {
			t.Errorf("shared: event %d has seq %d, id %s; acknowledged id for that seq %s", j, e.Meta().Seq, e.Meta().ID, sharedSeqs[e.Meta().Seq])
		}
	}
}

// filterFixture stores a conversation of 30 events of known kinds, sources,
// texts and times, and returns them.
func filterFixture(t *testing.T, s *Store) []event.Event {
	t.Helper()
	mustCreate(t, s, "c")
	var evs []event.Event
	for i := range 30 {
		var e event.Event
		switch i % 5 {
		case 0:
			e = msg(event.SourceUser, fmt.Sprintf("Please FIX bug %d", i))
		case 1:
			e = action(fmt.Sprintf("go test ./pkg%d", i), "Run the Tests")
		case 2:
			e = observation(fmt.Sprintf("ok pkg%d\nPASS", i))
		case 3:
			e = msg(event.SourceAgent, fmt.Sprintf("Done with step %d: <ok> & \"quoted\"", i))
		case 4:
			e = &event.AgentError{Base: event.Base{Source: event.SourceAgent}, Error: fmt.Sprintf("unknown tool Ünïcode%d", i)}
		}
		e.Meta().Timestamp = event.TimeOf(t0.Add(time.Duration(i) * time.Second))
		evs = append(evs, e)
	}
	// Appended in a few calls, as a session does.
	for i := 0; i < len(evs); i += 7 {
		mustAppend(t, s, "c", evs[i:min(i+7, len(evs))]...)
	}
	return evs
}

func TestEventFilters(t *testing.T) {
	s, _ := openStore(t, Options{})
	evs := filterFixture(t, s)
	where := func(keep func(i int, e event.Event) bool) []int64 {
		var seqs []int64
		for i, e := range evs {
			if keep(i, e) {
				seqs = append(seqs, e.Meta().Seq)
			}
		}
		return seqs
	}
	tests := []struct {
		name string
		q    EventQuery
		want []int64
	}{
		{"all", EventQuery{}, where(func(int, event.Event) bool { return true })},
		{"after seq", EventQuery{AfterSeq: 25}, []int64{26, 27, 28, 29, 30}},
		{"after last", EventQuery{AfterSeq: 30}, nil},
		{"kind short", EventQuery{Kinds: []event.Kind{event.KindAction}}, where(func(i int, _ event.Event) bool { return i%5 == 1 })},
		{"kind qualified", EventQuery{Kinds: []event.Kind{"openhands.sdk.event.llm_convertible.message.MessageEvent"}}, where(func(i int, _ event.Event) bool { return i%5 == 0 || i%5 == 3 })},
		{"two kinds", EventQuery{Kinds: []event.Kind{event.KindObservation, event.KindAgentError}}, where(func(i int, _ event.Event) bool { return i%5 == 2 || i%5 == 4 })},
		{"kind with no events", EventQuery{Kinds: []event.Kind{event.KindPause}}, nil},
		{"source", EventQuery{Source: "agent"}, where(func(i int, _ event.Event) bool { return i%5 == 1 || i%5 == 3 || i%5 == 4 })},
		{"source and kind", EventQuery{Source: "agent", Kinds: []event.Kind{event.KindMessage}}, where(func(i int, _ event.Event) bool { return i%5 == 3 })},
		{"body in message, any case", EventQuery{Body: "fix BUG"}, where(func(i int, _ event.Event) bool { return i%5 == 0 })},
		{"body in thought", EventQuery{Body: "the tests"}, where(func(i int, _ event.Event) bool { return i%5 == 1 })},
		{"body in command", EventQuery{Body: "./PKG1"}, []int64{2, 12, 17}},
		{"body in observation", EventQuery{Body: "pass"}, where(func(i int, _ event.Event) bool { return i%5 == 2 })},
		{"body across lines", EventQuery{Body: "pkg12\npass"}, []int64{13}},
		{"body with escaped characters", EventQuery{Body: `<OK> & "QUOTED"`}, where(func(i int, _ event.Event) bool { return i%5 == 3 })},
		{"body non-ascii case", EventQuery{Body: "üNÏcode14"}, []int64{15}},
		{"body not in json keys", EventQuery{Body: "llm_message"}, nil},
		{"body not found", EventQuery{Body: "nowhere"}, nil},
		{"since", EventQuery{Since: t0.Add(27 * time.Second)}, []int64{28, 29, 30}},
		{"until", EventQuery{Until: t0.Add(2 * time.Second)}, []int64{1, 2}},
		{"since and until", EventQuery{Since: t0.Add(10 * time.Second), Until: t0.Add(12*time.Second + time.Nanosecond)}, []int64{11, 12, 13}},
		{"everything", EventQuery{AfterSeq: 5, Kinds: []event.Kind{event.KindObservation}, Source: "environment", Body: "pass", Since: t0.Add(10 * time.Second), Until: t0.Add(25 * time.Second)}, []int64{13, 18, 23}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, desc := range []bool{false, true} {
				want := slices.Clone(tt.want)
				if desc {
					slices.Reverse(want)
				}
				for _, limit := range []int{0, 1, 3, 100} {
					q := tt.q
					q.Desc, q.Limit = desc, limit
					got := walkEvents(t, s, "c", q)
					if diff := cmp.Diff(got, want); diff != "" {
						t.Errorf("desc=%v limit=%d: seqs (-got +want):\n%s", desc, limit, diff)
					}
				}
			}
			n, err := s.CountEvents("c", tt.q)
			if err != nil || n != len(tt.want) {
				t.Errorf("CountEvents = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
}

// walkEvents follows next-page ids to the end and returns the seqs seen.
func walkEvents(t *testing.T, s *Store, conv string, q EventQuery) []int64 {
	t.Helper()
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var seqs []int64
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		evs, next, err := s.Events(conv, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > limit || (next != "" && len(evs) != limit) || (next == "" && len(evs) == 0 && pages > 0) {
			t.Fatalf("page %d: %d events, next %q, limit %d", pages, len(evs), next, limit)
		}
		for _, e := range evs {
			seqs = append(seqs, e.Meta().Seq)
		}
		if next == "" {
			return seqs
		}
		q.PageID = next
	}
}

func TestEventQueryErrors(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	mustAppend(t, s, "c", msg(event.SourceUser, "x"))
	tests := []struct {
		name string
		conv string
		q    EventQuery
		want error
	}{
		{"unknown conversation", "nope", EventQuery{}, ErrNotFound},
		{"unknown kind", "c", EventQuery{Kinds: []event.Kind{"NoSuchEvent"}}, ErrInvalid},
		{"bad page", "c", EventQuery{PageID: "%%%"}, ErrBadPage},
		{"page of conversations", "c", EventQuery{PageID: encodeConversationPage(ByCreated, timeKey(1, "c"))}, ErrBadPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Events(tt.conv, tt.q); !errors.Is(err, tt.want) {
				t.Errorf("Events: %v, want %v", err, tt.want)
			}
			if tt.q.PageID == "" {
				if _, err := s.CountEvents(tt.conv, tt.q); !errors.Is(err, tt.want) {
					t.Errorf("CountEvents: %v, want %v", err, tt.want)
				}
			}
		})
	}
	if _, err := s.RawEvents("nope", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("RawEvents of unknown conversation: %v", err)
	}
}

// TestEventsPagingWhileAppending checks that pages taken while events are
// appended neither repeat nor skip an event.
func TestEventsPagingWhileAppending(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	for i := range 10 {
		mustAppend(t, s, "c", msg(event.SourceUser, fmt.Sprint(i)))
	}
	var seen []int64
	q := EventQuery{Limit: 3}
	for {
		evs, next, err := s.Events("c", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			seen = append(seen, e.Meta().Seq)
		}
		if next == "" {
			break
		}
		if len(seen) < 12 {
			mustAppend(t, s, "c", msg(event.SourceUser, "more"))
		}
		q.PageID = next
	}
	for i, seq := range seen {
		if seq != int64(i+1) {
			t.Fatalf("seqs seen %v, want 1, 2, 3, ... without gaps or repeats", seen)
		}
	}
	if len(seen) < 10 {
		t.Errorf("saw %d events, want at least the 10 stored before", len(seen))
	}
}

func TestEventByID(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "a", "b")
	evs := []event.Event{msg(event.SourceUser, "one"), action("ls", ""), observation("two")}
	mustAppend(t, s, "a", evs...)
	other := msg(event.SourceUser, "b's")
	mustAppend(t, s, "b", other)
	for _, want := range evs {
		got, err := s.Event("a", want.Meta().ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, want, cmpOpts...); diff != "" {
			t.Errorf("Event(%s) (-got +want):\n%s", want.Meta().ID, diff)
		}
	}
	tests := []struct{ conv, id string }{
		{"a", "nope"},
		{"a", other.ID}, // another conversation's event
		{"nope", other.ID},
	}
	for _, tt := range tests {
		if _, err := s.Event(tt.conv, tt.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Event(%s, %s): %v, want ErrNotFound", tt.conv, tt.id, err)
		}
	}
}

func TestRawEvents(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	for i := range 10 {
		mustAppend(t, s, "c", msg(event.SourceUser, fmt.Sprintf("m%d", i)))
	}
	tests := []struct {
		after uint64
		limit int
		want  []int
	}{
		{0, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{0, 3, []int{0, 1, 2}},
		{7, 0, []int{7, 8, 9}},
		{7, 2, []int{7, 8}},
		{10, 0, nil},
		{1 << 63, 0, nil},
	}
	for _, tt := range tests {
		raw, err := s.RawEvents("c", tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, r := range raw {
			var i int
			if _, err := fmt.Sscanf(between(string(r), `"text":"m`, `"`), "%d", &i); err != nil {
				t.Fatalf("raw event %s: %v", r, err)
			}
			got = append(got, i)
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("RawEvents(after %d, limit %d) (-got +want):\n%s", tt.after, tt.limit, diff)
		}
	}
}

func between(s, start, end string) string {
	_, s, _ = strings.Cut(s, start)
	s, _, _ = strings.Cut(s, end)
	return s
}

// TestMarshalAsEvent checks that marshal writes what event.Marshal does,
// for an event of every kind: the golden events of package event, each
// with a seq as stored events have.
func TestMarshalAsEvent(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "event", "testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events of package event: %v", err)
	}
	kinds := map[event.Kind]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e, err := event.Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			kinds[e.Kind()] = true
			e.Meta().Seq = 42
			want, err := event.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(got), string(want)); diff != "" {
				t.Errorf("marshal (-got +want):\n%s", diff)
			}
		})
	}
	for _, k := range event.Kinds() {
		if !kinds[k] {
			t.Errorf("no golden event of kind %s", k)
		}
	}
	// What event.Marshal refuses, marshal refuses.
	for _, e := range []event.Event{(*event.Message)(nil), &event.Observation{}} {
		if _, err := marshal(e); err == nil {
			t.Errorf("marshal(%#v) succeeded", e)
		}
	}
}

// TestAppendJSON checks that AppendJSON returns what is stored, byte for
// byte, also when another append moves the seqs between the caller's look
// and the write, so that the events are encoded again with new seqs.
func TestAppendJSON(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	check := func(evs []event.Event, js [][]byte) {
		t.Helper()
		if len(js) != len(evs) {
			t.Fatalf("AppendJSON gave %d JSON values for %d events", len(js), len(evs))
		}
		for i, e := range evs {
			seq := e.Meta().Seq
			raw, err := s.RawEvents("c", uint64(seq-1), 1)
			if err != nil || len(raw) != 1 {
				t.Fatalf("RawEvents at seq %d: %d events, %v", seq, len(raw), err)
			}
			if string(js[i]) != string(raw[0]) {
				t.Errorf("event %d: AppendJSON gave\n%s\nstored is\n%s", i, js[i], raw[0])
			}
			want, err := event.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if string(js[i]) != string(want) {
				t.Errorf("event %d: AppendJSON gave\n%s\nevent.Marshal gives\n%s", i, js[i], want)
			}
		}
	}

	first := []event.Event{msg(event.SourceUser, "a"), msg(event.SourceAgent, "b")}
	js, err := s.AppendJSON("c", first...)
	if err != nil {
		t.Fatal(err)
	}
	check(first, js)

	s.afterLook = func() {
		s.afterLook = nil
		mustAppend(t, s, "c", msg(event.SourceUser, "between"))
	}
	moved := []event.Event{msg(event.SourceUser, "c"), msg(event.SourceUser, "d")}
	if js, err = s.AppendJSON("c", moved...); err != nil {
		t.Fatal(err)
	}
	if got := moved[0].Meta().Seq; got != 4 {
		t.Fatalf("seq after an append in between = %d, want 4", got)
	}
	check(moved, js)

	if js, err := s.AppendJSON("missing", msg(event.SourceUser, "x")); !errors.Is(err, ErrNotFound) || js != nil {
		t.Errorf("AppendJSON to a missing conversation = %d values, %v; want none and ErrNotFound", len(js), err)
	}
}
