package storage

import (
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// randomEvent is one of several kinds and sources, at a time within a
// minute of t0 (not in seq order).
func randomEvent(r *rand.Rand, i int) event.Event {
	var e event.Event
	switch n := r.IntN(100); {
	case n < 30:
		e = observation(fmt.Sprint("out ", i))
	case n < 60:
		e = action(fmt.Sprint("cmd ", i), "")
	case n < 75:
		e = msg(event.SourceAgent, fmt.Sprint("reply ", i))
	case n < 90:
		e = msg(event.SourceUser, fmt.Sprint("ask ", i))
	case n < 95:
		e = &event.Pause{Base: event.Base{Source: event.SourceUser}}
	case n < 99:
		e = &event.SandboxStatus{Base: event.Base{Source: event.SourceEnvironment}, Message: fmt.Sprint("status ", i)}
	default:
		e = &event.AgentError{Base: event.Base{Source: event.SourceAgent}, Error: fmt.Sprint("rare ", i)}
	}
	e.Meta().Timestamp = event.TimeOf(t0.Add(time.Duration(r.IntN(60_000)) * time.Millisecond))
	return e
}

// pages follows the next-page ids of q to the end and returns every page's
// seqs and next id, as one string per page.
func pages(t *testing.T, s *Store, conv string, q EventQuery) []string {
	t.Helper()
	var out []string
	for range 10_000 {
		evs, next, err := s.Events(conv, q)
		if err != nil {
			t.Fatal(err)
		}
		seqs := make([]int64, len(evs))
		for i, e := range evs {
			seqs[i] = e.Meta().Seq
		}
		out = append(out, fmt.Sprint(seqs, " next ", next))
		if next == "" {
			return out
		}
		q.PageID = next
	}
	t.Fatal("over 10,000 pages")
	return nil
}

// TestIndexedSearchMatchesScan compares, on random conversations, every page
// of random searches by kind and source (with times, AfterSeq, limits and
// both orders) with what the same searches give when every record is read.
func TestIndexedSearchMatchesScan(t *testing.T) {
	s, _ := openStore(t, Options{})
	r := rand.New(rand.NewPCG(19, 5))
	// More conversations than maxTails, so that some last chunks are in
	// tails and some in chunks.
	convs := map[string]int{}
	for c := range 60 {
		id := fmt.Sprint("c", c)
		mustCreate(t, s, id)
		convs[id] = 0
	}
	for round := range 40 {
		for c := range 60 {
			if r.IntN(3) == 0 && round > 0 {
				continue
			}
			id := fmt.Sprint("c", c)
			n := 1 + r.IntN(20)
			if c == 0 {
				n = 100 // one long conversation, with sealed groups
			}
			evs := make([]event.Event, n)
			for i := range evs {
				evs[i] = randomEvent(r, convs[id]+i)
			}
			mustAppend(t, s, id, evs...)
			convs[id] += n
		}
	}
	checkIndex(t, s)
	kinds := []event.Kind{event.KindObservation, event.KindAction, event.KindMessage, event.KindPause,
		event.KindSandboxStatus, event.KindAgentError, event.KindCondensation}
	sources := []string{"", "", string(event.SourceAgent), string(event.SourceUser), string(event.SourceEnvironment)}
	for i := range 400 {
		conv := fmt.Sprint("c", r.IntN(8))
		if i%4 == 0 {
			conv = "c0"
		}
		q := EventQuery{Source: sources[r.IntN(len(sources))], Desc: r.IntN(2) == 0, Limit: 1 + r.IntN(40)}
		for range r.IntN(3) {
			q.Kinds = append(q.Kinds, kinds[r.IntN(len(kinds))])
		}
		if len(q.Kinds) == 0 && q.Source == "" {
			q.Kinds = []event.Kind{kinds[r.IntN(len(kinds))]}
		}
		if r.IntN(3) == 0 {
			q.Since = t0.Add(time.Duration(r.IntN(60)) * time.Second)
		}
		if r.IntN(3) == 0 {
			q.Until = t0.Add(time.Duration(r.IntN(60)) * time.Second)
		}
		if r.IntN(4) == 0 {
			q.AfterSeq = uint64(r.IntN(convs[conv] + 1))
		}
		s.scanRecords = false
		got := pages(t, s, conv, q)
		gotN, err := s.CountEvents(conv, q)
		if err != nil {
			t.Fatal(err)
		}
		s.scanRecords = true
		want := pages(t, s, conv, q)
		wantN, err := s.CountEvents(conv, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || gotN != wantN {
			t.Fatalf("%s %+v:\nindexed %d: %v\nscan    %d: %v", conv, q, gotN, got, wantN, want)
		}
	}
}

// TestRareKindReadsFewRecords checks that a search for a kind the codes rule
// out reads no record: it finds the rare events among many in as few reads
// of the log as there are rare events.
func TestRareKindReadsFewRecords(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	var evs []event.Event
	for i := range 3000 {
		if i%1000 == 999 {
			evs = append(evs, &event.AgentError{Base: event.Base{Source: event.SourceAgent}, Error: fmt.Sprint("rare ", i)})
		} else {
			evs = append(evs, observation(fmt.Sprint("out ", i)))
		}
	}
	mustAppend(t, s, "c", evs...)
	for _, scanAll := range []bool{false, true} {
		s.scanRecords = scanAll
		reads := 0
		err := s.view(func(tx *bbolt.Tx) error {
			m, err := newMatcher(EventQuery{Kinds: []event.Kind{event.KindAgentError}}, stringFields)
			if err != nil {
				return err
			}
			ix := openIndex(tx)
			return scan(ix, "c", 0, 0, false, s.entryFilter(ix, m), func(uint64, eventRecord) (bool, error) {
				reads++
				return false, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 3, true: 3000}[scanAll]; reads != want {
			t.Errorf("scanRecords %v: %d records read, want %d", scanAll, reads, want)
		}
	}
	got, _, err := s.Events("c", EventQuery{Kinds: []event.Kind{event.KindAgentError}, Desc: true})
	if err != nil || len(got) != 3 || got[0].Meta().Seq != 3000 {
		t.Fatalf("rare kind: %d events, %v", len(got), err)
	}
}

func TestCodeOverflow(t *testing.T) {
	s, _ := openStore(t, Options{})
	err := s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		for i := range 300 {
			c, err := assignCode(b, codeKindTag, fmt.Appendf(nil, "Kind%03d", i))
			if err != nil {
				return err
			}
			want := byte(i + 1)
			if i >= 254 {
				want = codeOverflow
			}
			if c != want {
				t.Errorf("kind %d: code %d, want %d", i, c, want)
			}
		}
		// The same name keeps its code; sources are numbered apart.
		if c, _ := assignCode(b, codeKindTag, []byte("Kind007")); c != 8 {
			t.Errorf("Kind007 again: code %d, want 8", c)
		}
		if c, _ := assignCode(b, codeSourceTag, []byte("agent")); c != 1 {
			t.Errorf("first source: code %d, want 1", c)
		}
		set := codesOf(b, codeKindTag, []string{"Kind010", "Kind290", "Nothing"})
		for c := range 256 {
			if want := c == 11 || c == codeOverflow; set[c] != want {
				t.Errorf("codesOf: code %d in set %v, want %v", c, set[c], want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteDropsCodedEntries deletes a conversation and makes another of
// the same id: a search by kind finds only the new one's events, and the
// deleted one's entries are gone from chunks and tails.
func TestDeleteDropsCodedEntries(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c", "other")
	var evs []event.Event
	for i := range 2 * groupLen {
		evs = append(evs, msg(event.SourceUser, fmt.Sprint("old ", i)))
	}
	mustAppend(t, s, "c", evs...)
	mustAppend(t, s, "other", msg(event.SourceUser, "keep"))
	if err := s.DeleteConversation("c"); err != nil {
		t.Fatal(err)
	}
	err := s.view(func(tx *bbolt.Tx) error {
		prefix := convKey("c")
		for _, name := range [][]byte{bucketSeqs, bucketIDGroups} {
			if k, _ := tx.Bucket(name).Cursor().Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix) {
				t.Errorf("%s still has key %x", name, k)
			}
		}
		if tx.Bucket(bucketTails).Get([]byte("c")) != nil {
			t.Error("tails still has c")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "c")
	mustAppend(t, s, "c", msg(event.SourceUser, "new"), observation("x"))
	got, _, err := s.Events("c", EventQuery{Kinds: []event.Kind{event.KindMessage}, Source: "user"})
	if err != nil || len(got) != 1 || got[0].Meta().Seq != 1 {
		t.Fatalf("after delete and create: %d events, %v", len(got), err)
	}
	checkIndex(t, s)
}

// gunzipFixture copies testdata/name, gzipped, to a temporary folder and
// returns its path.
func gunzipFixture(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gohands.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// schema2Kind is the kind and source of event i of the conversations of
// testdata/schema2.db.gz, a file written by the storage code of schema 2
// under the secret key "fixture-key". It holds "long" (1,100 events),
// "mixed" (300) and c00 to c57 (3 + n events), made in rounds of 10 events
// per conversation so that some last chunks were left in tails and some in
// seqs. Event i of conversation conv has id conv-%04d, timestamp
// 2026-01-02T03:04:05Z + i seconds and the kind and source below.
func schema2Kind(i int) (event.Kind, event.Source) {
	switch i % 7 {
	case 0:
		return event.KindMessage, event.SourceUser
	case 1, 4:
		return event.KindAction, event.SourceAgent
	case 3:
		return event.KindMessage, event.SourceAgent
	case 6:
		if i%49 == 6 {
			return event.KindAgentError, event.SourceAgent
		}
	}
	return event.KindObservation, event.SourceEnvironment
}

func TestMigrateSchema2Fixture(t *testing.T) {
	sizes := map[string]int{"long": 1100, "mixed": 300}
	for i := range 58 {
		sizes[fmt.Sprintf("c%02d", i)] = 3 + i
	}
	for _, budget := range []int{0, 50} {
		t.Run(fmt.Sprint("budget=", budget), func(t *testing.T) {
			path := gunzipFixture(t, "schema2.db.gz")
			if v, _ := fileSchema(t, path); v != 2 {
				t.Fatalf("fixture has schema %d, want 2", v)
			}
			if budget > 0 {
				// One step, then the process "dies".
				db, err := bbolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := (&Store{db: db, log: slog.New(slog.DiscardHandler)}).migrate(budget); err != nil {
					t.Fatal(err)
				}
				db.Close()
				if v, migrating := fileSchema(t, path); v != 3 || !migrating {
					t.Fatalf("after one step: schema %d, migrating %v; want 3, true", v, migrating)
				}
			}
			s, err := Open(path, Options{SecretKey: "fixture-key", migrateBudget: budget})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			checkIndex(t, s)
			for conv, n := range sizes {
				byKind := map[string][]int64{}
				for i := range n {
					k, src := schema2Kind(i)
					byKind[string(k)] = append(byKind[string(k)], int64(i+1))
					byKind[string(src)] = append(byKind[string(src)], int64(i+1))
				}
				for _, k := range []event.Kind{event.KindMessage, event.KindAction, event.KindObservation, event.KindAgentError} {
					if got := walkEvents(t, s, conv, EventQuery{Kinds: []event.Kind{k}, Limit: 500}); !slices.Equal(got, byKind[string(k)]) {
						t.Errorf("%s %s: seqs %v, want %v", conv, k, got, byKind[string(k)])
					}
				}
				for _, src := range []string{"agent", "user", "environment"} {
					if got := walkEvents(t, s, conv, EventQuery{Source: src, Limit: 500}); !slices.Equal(got, byKind[src]) {
						t.Errorf("%s %s: seqs %v, want %v", conv, src, got, byKind[src])
					}
				}
				if e, err := s.Event(conv, fmt.Sprintf("%s-%04d", conv, n-1)); err != nil || e.Meta().Seq != int64(n) {
					t.Errorf("%s: last event by id: %v", conv, err)
				}
				// Appends go on after the migrated events, and know their ids.
				dup := msg(event.SourceUser, "again")
				dup.ID = fmt.Sprintf("%s-%04d", conv, 0)
				if err := s.Append(conv, dup); err == nil {
					t.Errorf("%s: append of a migrated id succeeded", conv)
				}
				e := &event.Pause{Base: event.Base{Source: event.SourceUser}}
				mustAppend(t, s, conv, e)
				if got, _, err := s.Events(conv, EventQuery{Kinds: []event.Kind{event.KindPause}}); err != nil || len(got) != 1 || got[0].Meta().Seq != int64(n+1) {
					t.Errorf("%s: pause after migration: %d events, %v", conv, len(got), err)
				}
			}
			checkIndex(t, s)
			s.Close()
			if v, migrating := fileSchema(t, path); v != schemaVersion || migrating {
				t.Errorf("file after Open: schema %d, migrating %v; want %d, false", v, migrating, schemaVersion)
			}
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.View(func(tx *bbolt.Tx) error {
				if tx.Bucket(bucketSeqsV2) != nil {
					t.Error("schema 2's seqs bucket is still there")
				}
				return nil
			})
		})
	}
}

// TestBodyBudgetPartialPages checks that a body search past its budget
// answers partial pages (fewer events than the limit, and a next page id)
// that, followed to the end, give the events of the search without budget.
func TestBodyBudgetPartialPages(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	var evs []event.Event
	for i := range 2000 {
		text := fmt.Sprint("line ", i)
		if i%97 == 0 {
			text = fmt.Sprint("Needle ", i)
		}
		evs = append(evs, observation(text))
	}
	mustAppend(t, s, "c", evs...)
	for _, desc := range []bool{false, true} {
		full := walkEvents(t, s, "c", EventQuery{Body: "needle", Desc: desc, Limit: 5, BodyBudget: time.Hour})
		if len(full) != 21 {
			t.Fatalf("desc %v: %d events without budget, want 21", desc, len(full))
		}
		var got []int64
		partial := 0
		q := EventQuery{Body: "needle", Desc: desc, Limit: 5, BodyBudget: time.Nanosecond}
		for range 1000 {
			page, next, err := s.Events("c", q)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" && len(page) < q.Limit {
				partial++
			}
			for _, e := range page {
				got = append(got, e.Meta().Seq)
			}
			if next == "" {
				break
			}
			q.PageID = next
		}
		if !slices.Equal(got, full) || partial == 0 {
			t.Errorf("desc %v: %d partial pages gave %v, want %v", desc, partial, got, full)
		}
	}
}

// syncedFreelist reports whether the file's current meta page points at a
// free list written to the file (bbolt's layout: each of the two meta pages
// has a 16-byte page header, then magic, version, page size, flags (4 bytes
// each), the root bucket (16), the free list's page, the high water mark
// and the txid (8 each); the current one has the higher txid).
func syncedFreelist(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := func(b []byte) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	pageSize := int(le(append(slices.Clone(b[24:28]), 0, 0, 0, 0)))
	m0, m1 := b[16:], b[pageSize+16:]
	m := m0
	if le(m1[48:]) > le(m0[48:]) {
		m = m1
	}
	return le(m[32:]) != ^uint64(0)
}

// TestCloseWritesFreelist: commits leave the free list out, and Close
// writes it, so that the next Open need not walk the file; an Open after a
// crash (a file closed without it) still works and rebuilds it.
func TestCloseWritesFreelist(t *testing.T) {
	s, path := openStore(t, Options{})
	mustCreate(t, s, "c")
	mustAppend(t, s, "c", msg(event.SourceUser, "one"))
	if syncedFreelist(t, path) {
		t.Fatal("free list written by an append")
	}
	s.Close()
	if !syncedFreelist(t, path) {
		t.Fatal("free list not written at Close")
	}
	s = reopen(t, s, path, Options{})
	mustAppend(t, s, "c", msg(event.SourceUser, "two"))
	if syncedFreelist(t, path) {
		t.Fatal("free list still in use after an append")
	}
	// A crash: the file as it is, with no free list; the writer stopped
	// without the last commit.
	s.w.close()
	s.db.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if evs, _, err := s.Events("c", EventQuery{}); err != nil || len(evs) != 2 {
		t.Fatalf("after a crash: %d events, %v", len(evs), err)
	}
	checkIndex(t, s)
}

// TestMigrationFromSchema1LeftBySchema2 opens a file whose migration from
// schema 1 a server of schema 2 began and did not finish: some events in
// the log with chunks of schema 2 (16-byte entries, in seqs), the rest
// still in schema 1's buckets. The file is made by one step of this code's
// migration with its chunks then turned into schema 2's.
func TestMigrationFromSchema1LeftBySchema2(t *testing.T) {
	convs := map[string][]event.Event{}
	sizes := map[string]int{"a": 100, "b": 3, "d": chunkLen + 1, "f": groupLen + 10}
	for id, n := range sizes {
		for i := range n {
			var e event.Event = msg(event.SourceUser, fmt.Sprintf("%s %d", id, i))
			if i%3 == 1 {
				e = observation(fmt.Sprintf("%s %d", id, i))
			}
			convs[id] = append(convs[id], e)
		}
	}
	path := filepath.Join(t.TempDir(), "gohands.db")
	writeSchema1(t, path, convs)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Store{db: db, log: slog.New(slog.DiscardHandler)}).migrate(150); err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		old, err := tx.CreateBucket(bucketSeqsV2)
		if err != nil {
			return err
		}
		moved := 0
		if err := tx.Bucket(bucketSeqs).ForEach(func(k, v []byte) error {
			var ents []byte
			for i := 0; i < len(v); i += entrySize {
				ents = append(ents, v[i:i+entrySizeV2]...)
			}
			moved += len(v) / entrySize
			return old.Put(k, ents)
		}); err != nil {
			return err
		}
		if moved == 0 || tx.Bucket(bucketEventsV1) == nil {
			t.Fatalf("one step moved %d events and left events bucket %v", moved, tx.Bucket(bucketEventsV1) != nil)
		}
		if err := tx.DeleteBucket(bucketSeqs); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketCodes)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v, migrating := fileSchema(t, path); v != 2 || !migrating {
		t.Fatalf("made file: schema %d, migrating %v; want 2, true", v, migrating)
	}

	s, err := Open(path, Options{migrateBudget: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	checkIndex(t, s)
	for id, want := range convs {
		raw, err := s.RawEvents(id, 0, 0)
		if err != nil || len(raw) != len(want) {
			t.Fatalf("%s: %d events, %v; want %d", id, len(raw), err, len(want))
		}
		var obs []int64
		for i := range want {
			if i%3 == 1 {
				obs = append(obs, int64(i+1))
			}
		}
		if got := walkEvents(t, s, id, EventQuery{Kinds: []event.Kind{event.KindObservation}, Limit: 1000}); !slices.Equal(got, obs) {
			t.Errorf("%s observations: %v, want %v", id, got, obs)
		}
	}
	s.Close()
	if v, migrating := fileSchema(t, path); v != schemaVersion || migrating {
		t.Errorf("after Open: schema %d, migrating %v", v, migrating)
	}
}
