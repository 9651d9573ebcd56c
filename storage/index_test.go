package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// checkIndex checks the invariants of the log and its chunks (index.go):
// every conversation's seqs run from 1 without a gap, every chunk but the
// last is full and in seqs, the last is in tails or seqs but not both,
// and every log record belongs to exactly one event.
func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	err := s.view(func(tx *bbolt.Tx) error {
		ix := openIndex(tx)
		owner := map[uint64]string{}
		err := tx.Bucket(bucketConversations).ForEach(func(k, _ []byte) error {
			conv := string(k)
			last := ix.lastSeq(conv)
			want := uint64(1)
			err := ix.walk(conv, 1, false, func(seq uint64, e entry) (bool, error) {
				pos := e.pos()
				if seq != want {
					return false, fmt.Errorf("%s: seq %d where %d was due", conv, seq, want)
				}
				want++
				if o, ok := owner[pos]; ok {
					return false, fmt.Errorf("%s seq %d: log position %d also belongs to %s", conv, seq, pos, o)
				}
				owner[pos] = fmt.Sprint(conv, " ", seq)
				v := ix.log.Get(posKey(pos))
				if v == nil {
					return false, fmt.Errorf("%s seq %d: no record at %d", conv, seq, pos)
				}
				// The entry's codes are those of the record's kind and source.
				rec, err := decodeEventRecord(v)
				if err != nil {
					return false, err
				}
				if kc := ix.codes.Get(append([]byte{codeKindTag}, rec.kind...)); len(kc) != 1 || kc[0] != e.kind() {
					return false, fmt.Errorf("%s seq %d: kind code %d, %q has %v", conv, seq, e.kind(), rec.kind, kc)
				}
				if sc := ix.codes.Get(append([]byte{codeSourceTag}, rec.source...)); len(sc) != 1 || sc[0] != e.source() {
					return false, fmt.Errorf("%s seq %d: source code %d, %q has %v", conv, seq, e.source(), rec.source, sc)
				}
				return false, nil
			})
			if err != nil {
				return err
			}
			if want-1 != last {
				return fmt.Errorf("%s: walk ends at %d, lastSeq %d", conv, want-1, last)
			}
			prefix := convKey(conv)
			var chunks []uint64
			c := ix.seqs.Cursor()
			for k, v := c.Seek(prefix); ; k, v = c.Next() {
				no, ok := chunkNo(k, prefix)
				if !ok {
					break
				}
				chunks = append(chunks, no)
				if len(v) != chunkBytes && (no+1)*chunkLen < last {
					return fmt.Errorf("%s: chunk %d of %d entries before the last", conv, no, len(v)/entrySize)
				}
			}
			if tail := ix.tails.Get(k); tail != nil && len(chunks) > 0 && chunks[len(chunks)-1] >= readUint(tail[:8]) {
				return fmt.Errorf("%s: chunk %d in tails and chunks %v in seqs", conv, readUint(tail[:8]), chunks)
			}
			// Every group of full chunks is sealed, with its hashes.
			var hashes []uint64
			ix.walk(conv, 1, false, func(_ uint64, e entry) (bool, error) {
				hashes = append(hashes, e.hash())
				return false, nil
			})
			var groups []uint64
			gc := ix.groups.Cursor()
			for k, v := gc.Seek(prefix); ; k, v = gc.Next() {
				g, ok := chunkNo(k, prefix)
				if !ok {
					break
				}
				groups = append(groups, g)
				if g != uint64(len(groups)-1) || (g+1)*groupLen > last {
					return fmt.Errorf("%s: id group %d of %d events", conv, g, last)
				}
				want := slices.Sorted(slices.Values(hashes[g*groupLen : (g+1)*groupLen]))
				for i, h := range want {
					if readUint(v[i*8:i*8+8]) != h {
						return fmt.Errorf("%s: id group %d differs from its chunks at %d", conv, g, i)
					}
				}
			}
			if uint64(len(groups)) != last/groupLen {
				return fmt.Errorf("%s: %d id groups for %d events", conv, len(groups), last)
			}
			return nil
		})
		if err != nil {
			return err
		}
		n := ix.log.Stats().KeyN
		if n != len(owner) {
			return fmt.Errorf("log holds %d records, events %d", n, len(owner))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func tailsLen(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	s.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketTails).Stats().KeyN
		return nil
	})
	return n
}

// TestEventsAcrossChunks pages through a conversation of several chunks,
// both ways, from every seq, and looks every event up by id.
func TestEventsAcrossChunks(t *testing.T) {
	s, path := openStore(t, Options{})
	mustCreate(t, s, "c", "other")
	var evs []event.Event
	for n := 0; len(evs) < 3*chunkLen+5; n++ {
		// 1 to 5 events per call, so that calls cross chunk boundaries.
		var call []event.Event
		for i := range n%5 + 1 {
			call = append(call, msg(event.SourceUser, fmt.Sprint(len(evs)+i)))
		}
		mustAppend(t, s, "c", call...)
		mustAppend(t, s, "other", msg(event.SourceAgent, "interleaved"))
		evs = append(evs, call...)
	}
	for reopened := range 2 {
		if reopened == 1 {
			s = reopen(t, s, path, Options{})
		}
		checkIndex(t, s)
		if c, err := s.Conversation("c"); err != nil || c.LastSeq != uint64(len(evs)) {
			t.Errorf("LastSeq = %d, %v; want %d", c.LastSeq, err, len(evs))
		}
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 7, chunkLen, 1000} {
				for after := 0; after <= len(evs); after += 13 {
					var got []int64
					q := EventQuery{AfterSeq: uint64(after), Limit: limit, Desc: desc}
					for {
						page, next, err := s.Events("c", q)
						if err != nil {
							t.Fatal(err)
						}
						for _, e := range page {
							got = append(got, e.Meta().Seq)
						}
						if next == "" {
							break
						}
						q.PageID = next
					}
					var want []int64
					for seq := int64(after + 1); seq <= int64(len(evs)); seq++ {
						want = append(want, seq)
					}
					if desc {
						slices.Reverse(want)
					}
					if !slices.Equal(got, want) {
						t.Errorf("desc %v, limit %d, after %d: seqs %v, want %v", desc, limit, after, got, want)
					}
				}
			}
		}
		for _, want := range evs {
			got, err := s.Event("c", want.Meta().ID)
			if err != nil || got.Meta().Seq != want.Meta().Seq {
				t.Errorf("Event(%s) = %v, %v; want seq %d", want.Meta().ID, got, err, want.Meta().Seq)
			}
		}
	}
}

// TestTailsSettle appends to more conversations than tails holds, in turn,
// and checks that tails stays bounded, that conversations whose last chunk
// was settled go on appending, and that every event stays where it was.
func TestTailsSettle(t *testing.T) {
	s, path := openStore(t, Options{})
	const convs = maxTails + 20
	var ids []string
	for i := range convs {
		ids = append(ids, fmt.Sprint("conv-", i))
	}
	mustCreate(t, s, ids...)
	want := map[string][]string{}
	for round := range 5 {
		for i, id := range ids {
			if round > 0 && i%3 == 0 {
				continue // a third append less, so that some go idle for a while
			}
			e := msg(event.SourceUser, fmt.Sprint(id, " ", round))
			if round == 4 && i%2 == 0 {
				e.ID = fmt.Sprint(id, "-given")
			}
			mustAppend(t, s, id, e)
			want[id] = append(want[id], e.ID)
		}
		if n := tailsLen(t, s); n > maxTails {
			t.Errorf("round %d: %d conversations in tails, over %d", round, n, maxTails)
		}
	}
	for reopened := range 2 {
		if reopened == 1 {
			s = reopen(t, s, path, Options{})
		}
		checkIndex(t, s)
		for _, id := range ids {
			evs, _, err := s.Events(id, EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Meta().ID)
			}
			if !slices.Equal(got, want[id]) {
				t.Errorf("%s: ids %v, want %v", id, got, want[id])
			}
		}
		// A given id is refused wherever its chunk is.
		for i, id := range ids {
			if i%2 != 0 || i%3 == 0 {
				continue
			}
			e := msg(event.SourceUser, "again")
			e.ID = fmt.Sprint(id, "-given")
			if err := s.Append(id, e); !errors.Is(err, ErrExists) {
				t.Errorf("%s: Append of a stored id: %v, want ErrExists", id, err)
			}
		}
	}
}

// TestDeleteConversationEvents deletes a conversation whose events are
// interleaved with another's in the log, and makes it again.
func TestDeleteConversationEvents(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "gone", "kept")
	for i := range 2*chunkLen + 3 {
		mustAppend(t, s, "gone", msg(event.SourceUser, fmt.Sprint("gone ", i)))
		mustAppend(t, s, "kept", msg(event.SourceUser, fmt.Sprint("kept ", i)))
	}
	if err := s.DeleteConversation("gone"); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s)
	mustCreate(t, s, "gone")
	if c, err := s.Conversation("gone"); err != nil || c.LastSeq != 0 {
		t.Errorf("made again: LastSeq %d, %v; want 0", c.LastSeq, err)
	}
	e := msg(event.SourceUser, "new")
	mustAppend(t, s, "gone", e)
	if e.Seq != 1 {
		t.Errorf("first seq after delete = %d, want 1", e.Seq)
	}
	if n, err := s.CountEvents("gone", EventQuery{}); err != nil || n != 1 {
		t.Errorf("CountEvents(gone) = %d, %v; want 1", n, err)
	}
	if n, err := s.CountEvents("kept", EventQuery{}); err != nil || n != 2*chunkLen+3 {
		t.Errorf("CountEvents(kept) = %d, %v; want %d", n, err, 2*chunkLen+3)
	}
	checkIndex(t, s)
}

// TestEventIDHashCollision stores an event under another's id hash, as a
// collision of FNV-1a would, and checks that lookups by id look past it.
func TestEventIDHashCollision(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	first := msg(event.SourceUser, "first")
	mustAppend(t, s, "c", first)
	impostor := msg(event.SourceUser, "impostor")
	impostor.ID, impostor.Seq = "impostor", 1
	js, _ := event.Marshal(impostor)
	err := s.update(func(tx *bbolt.Tx) error {
		ix := openIndex(tx)
		c, err := ix.lastChunk("c")
		if err != nil {
			return err
		}
		rec := encodeEventRecord(impostor.Kind(), impostor.Source, event.TimeOf(t0), js)
		_, err = ix.append("c", &c, [][]byte{rec}, []uint64{idHash(first.ID)}, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Event("c", "impostor"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Event(impostor) = %v, want ErrNotFound (its entry has another id's hash)", err)
	}
	if e, err := s.Event("c", first.ID); err != nil || e.Meta().Seq != 1 {
		t.Errorf("Event(first) = %v, %v", e, err)
	}
	again := msg(event.SourceUser, "again")
	again.ID = "impostor"
	if err := s.Append("c", again); err != nil {
		t.Errorf("Append of an id only a hash matches: %v", err)
	}
}

// TestConcurrentGivenIDs appends the same given ids to one conversation
// from two goroutines: each id is stored once, and the other call fails
// with ErrExists, whichever of them the writer sees first.
func TestConcurrentGivenIDs(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	const ids = 60
	var wg sync.WaitGroup
	results := make([][]error, 2)
	for g := range 2 {
		wg.Go(func() {
			for i := range ids {
				e := msg(event.SourceUser, fmt.Sprint(g))
				e.ID = fmt.Sprint("id-", i)
				results[g] = append(results[g], s.Append("c", e))
			}
		})
	}
	wg.Wait()
	for i := range ids {
		a, b := results[0][i], results[1][i]
		if (a == nil) == (b == nil) || !errors.Is(cmpNil(a, b), ErrExists) {
			t.Errorf("id-%d: %v and %v, want one nil and one ErrExists", i, a, b)
		}
	}
	if n, _ := s.CountEvents("c", EventQuery{}); n != ids {
		t.Errorf("%d events stored, want %d", n, ids)
	}
	checkIndex(t, s)
}

// cmpNil returns whichever of a and b is not nil.
func cmpNil(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestGivenIDAfterDeleteAndCreate deletes a conversation and makes it
// again, with as many events and one of them with the id being appended,
// between an append's look for its ids and its write: the writer must
// look again, in the new conversation.
func TestGivenIDAfterDeleteAndCreate(t *testing.T) {
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "c")
	mustAppend(t, s, "c", msg(event.SourceUser, "old"))
	s.afterLook = func() {
		s.afterLook = nil
		if err := s.DeleteConversation("c"); err != nil {
			t.Error(err)
		}
		mustCreate(t, s, "c")
		taken := msg(event.SourceUser, "new")
		taken.ID = "taken"
		mustAppend(t, s, "c", taken)
	}
	e := msg(event.SourceUser, "mine")
	e.ID = "taken"
	if err := s.Append("c", e); !errors.Is(err, ErrExists) {
		t.Errorf("Append of an id the made-again conversation has: %v, want ErrExists", err)
	}
}

// TestIDGroups looks up, and appends again, ids at the edges of sealed id
// groups and after the last, in a conversation of a few groups.
func TestIDGroups(t *testing.T) {
	s, path := openStore(t, Options{})
	mustCreate(t, s, "c", "other")
	const n = 2*groupLen + 50
	ids := make([]string, n)
	for i := 0; i < n; i += 100 {
		var evs []event.Event
		for j := i; j < min(i+100, n); j++ {
			e := msg(event.SourceUser, fmt.Sprint(j))
			if j%7 == 0 {
				e.ID = fmt.Sprint("given-", j) // given: looked up on the way in
			}
			evs = append(evs, e)
		}
		mustAppend(t, s, "c", evs...)
		mustAppend(t, s, "other", msg(event.SourceUser, "other"))
		for j, e := range evs {
			ids[i+j] = e.Meta().ID
		}
	}
	s = reopen(t, s, path, Options{})
	checkIndex(t, s)
	for _, seq := range []int{1, 2, groupLen - 1, groupLen, groupLen + 1, 2 * groupLen, 2*groupLen + 1, n} {
		id := ids[seq-1]
		e, err := s.Event("c", id)
		if err != nil || e.Meta().Seq != int64(seq) {
			t.Errorf("Event(seq %d) = %v, %v", seq, e, err)
		}
		again := msg(event.SourceUser, "again")
		again.ID = id
		if err := s.Append("c", again); !errors.Is(err, ErrExists) {
			t.Errorf("Append of the id of seq %d: %v, want ErrExists", seq, err)
		}
		if _, err := s.Event("other", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Event(other, id of c's seq %d): %v, want ErrNotFound", seq, err)
		}
	}
	if err := s.DeleteConversation("c"); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s)
	n2 := 0
	s.view(func(tx *bbolt.Tx) error {
		n2 = tx.Bucket(bucketIDGroups).Stats().KeyN
		return nil
	})
	if n2 != 0 {
		t.Errorf("%d id groups left after the delete", n2)
	}
}
