package storage

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// schema1Fixture copies testdata/schema1.db.gz, a file written by the
// storage code of schema 1 (then compacted), to a temporary folder and
// returns its path. It holds, under the secret key "fixture-key":
//   - "long" (title "seventy events", spec {"model":"m"}), with 70
//     events: ids long-00 to long-69, timestamps t0 + i seconds, a message
//     "message i", an action "echo i" and an observation "output i" in
//     turn; a secret TOKEN=s3cret and a sandbox record;
//   - "short", with 3 agent messages "short i", ids short-0 to short-2;
//   - "empty", with none.
func schema1Fixture(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/schema1.db.gz")
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

// fileSchema returns the schema version stored in the file, and whether a
// migration is marked under way.
func fileSchema(t *testing.T, path string) (version uint64, migrating bool) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		version = readUint(meta.Get(metaSchema))
		migrating = meta.Get(metaMigrating) != nil
		return nil
	})
	return version, migrating
}

func TestMigrateSchema1Fixture(t *testing.T) {
	path := schema1Fixture(t)
	if v, _ := fileSchema(t, path); v != 1 {
		t.Fatalf("fixture has schema %d, want 1", v)
	}
	opts := Options{SecretKey: "fixture-key"}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	c, err := s.Conversation("long")
	if err != nil {
		t.Fatal(err)
	}
	want := Conversation{ID: "long", Title: "seventy events", Status: "idle", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), Spec: json.RawMessage(`{"model":"m"}`), LastSeq: 70}
	if diff := cmp.Diff(c, want, cmpOpts...); diff != "" {
		t.Errorf("Conversation (-got +want):\n%s", diff)
	}
	evs, _, err := s.Events("long", EventQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 70 {
		t.Fatalf("%d events, want 70", len(evs))
	}
	for i, e := range evs {
		m := e.Meta()
		text := []string{"message %d", "echo %d", "output %d"}[i%3]
		raw, _ := event.Marshal(e)
		if m.Seq != int64(i+1) || m.ID != fmt.Sprintf("long-%02d", i) || !m.Timestamp.Equal(t0.Add(time.Duration(i)*time.Second)) ||
			!strings.Contains(string(raw), fmt.Sprintf(text, i)) {
			t.Errorf("event %d: seq %d, id %s, time %v: %s", i, m.Seq, m.ID, m.Timestamp, raw)
		}
	}
	if e, err := s.Event("long", "long-33"); err != nil || e.Meta().Seq != 34 {
		t.Errorf("Event(long-33): %v, %v; want seq 34", e, err)
	}
	if n, err := s.CountEvents("long", EventQuery{Kinds: []event.Kind{event.KindAction}}); err != nil || n != 23 {
		t.Errorf("CountEvents(actions) = %d, %v; want 23", n, err)
	}
	secrets, err := s.Secrets("long")
	if err != nil || secrets["TOKEN"] != "s3cret" {
		t.Errorf("Secrets = %v, %v", secrets, err)
	}
	if sbs, err := s.Sandboxes(); err != nil || len(sbs) != 1 || sbs[0].Token != "tok" {
		t.Errorf("Sandboxes = %+v, %v", sbs, err)
	}
	short, _, err := s.Events("short", EventQuery{Desc: true})
	if err != nil || len(short) != 3 || short[0].Meta().ID != "short-2" {
		t.Errorf("Events(short, desc) = %d events, %v", len(short), err)
	}

	// Appends go on after the migrated events, and know their ids.
	dup := msg(event.SourceUser, "again")
	dup.ID = "long-05"
	if err := s.Append("long", dup); !errors.Is(err, ErrExists) {
		t.Errorf("Append of a migrated id: %v, want ErrExists", err)
	}
	mustAppend(t, s, "long", msg(event.SourceUser, "next"))
	if c, _ := s.Conversation("long"); c.LastSeq != 71 {
		t.Errorf("LastSeq after an append = %d, want 71", c.LastSeq)
	}
	e := msg(event.SourceUser, "first")
	mustAppend(t, s, "empty", e)
	if e.Seq != 1 {
		t.Errorf("first seq of the empty conversation = %d, want 1", e.Seq)
	}
	s.Close()
	if v, migrating := fileSchema(t, path); v != schemaVersion || migrating {
		t.Errorf("file after Open: schema %d, migrating %v; want %d, false", v, migrating, schemaVersion)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketEventsV1) != nil {
			t.Error("schema 1's events bucket is still there")
		}
		return nil
	})
	db.Close()
}

// writeSchema1 writes a file in the layout of schema 1: the conversations
// (created at t0) and their events, seqs from 1, as that code stored them.
func writeSchema1(t *testing.T, path string, convs map[string][]event.Event) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := migrations[0](tx, 0); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		for id, evs := range convs {
			rec, _ := json.Marshal(conversationRecord{ID: id, CreatedAt: t0.UnixNano(), UpdatedAt: t0.UnixNano()})
			if err := tx.Bucket(bucketConversations).Put([]byte(id), rec); err != nil {
				return err
			}
			tx.Bucket(bucketByCreated).Put(timeKey(t0.UnixNano(), id), nil)
			tx.Bucket(bucketByUpdated).Put(timeKey(t0.UnixNano(), id), nil)
			b, err := tx.Bucket(bucketEventsV1).CreateBucket([]byte(id))
			if err != nil {
				return err
			}
			for i, e := range evs {
				m := e.Meta()
				seq := uint64(i + 1)
				m.Seq = int64(seq)
				if m.ID == "" {
					m.ID = event.NewID()
				}
				if m.Timestamp.IsZero() {
					m.Timestamp = event.TimeOf(t0)
				}
				js, err := event.Marshal(e)
				if err != nil {
					return err
				}
				b.Put(binary.BigEndian.AppendUint64([]byte{prefixEventV1}, seq), encodeEventRecord(e.Kind(), m.Source, m.Timestamp, js))
				b.Put(append([]byte{prefixIDV1}, m.ID...), seqKey(seq))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrationInSteps migrates a file a few events per transaction, cut
// short after the first, and checks that a read-only open refuses the file
// half migrated and that the next open finishes the work.
func TestMigrationInSteps(t *testing.T) {
	convs := map[string][]event.Event{}
	sizes := map[string]int{"a": 100, "b": 3, "c": 0, "d": chunkLen, "e": chunkLen + 1, "f": groupLen + 10}
	for id, n := range sizes {
		for i := range n {
			convs[id] = append(convs[id], msg(event.SourceUser, fmt.Sprintf("%s %d", id, i)))
		}
	}
	path := filepath.Join(t.TempDir(), "gohands.db")
	writeSchema1(t, path, convs)

	// One step of 7 events, then the process "dies".
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Store{db: db, log: slog.New(slog.DiscardHandler)}).migrate(7); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v, migrating := fileSchema(t, path); v != 2 || !migrating {
		t.Fatalf("after one step: schema %d, migrating %v; want 2, true", v, migrating)
	}
	if s, err := Open(path, Options{ReadOnly: true}); err == nil {
		s.Close()
		t.Error("read-only Open of a half-migrated file succeeded")
	}

	s, err := Open(path, Options{migrateBudget: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	checkIndex(t, s)
	for id, want := range convs {
		raw, err := s.RawEvents(id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != len(want) {
			t.Errorf("%s: %d events, want %d", id, len(raw), len(want))
			continue
		}
		for i, r := range raw {
			if w, _ := event.Marshal(want[i]); string(r) != string(w) {
				t.Errorf("%s event %d = %s, want %s", id, i+1, r, w)
			}
		}
		for _, e := range want {
			if _, err := s.Event(id, e.Meta().ID); err != nil {
				t.Errorf("%s: Event(%s): %v", id, e.Meta().ID, err)
			}
		}
		e := msg(event.SourceUser, "after")
		mustAppend(t, s, id, e)
		if e.Seq != int64(len(want)+1) {
			t.Errorf("%s: seq after migration = %d, want %d", id, e.Seq, len(want)+1)
		}
	}
	s.Close()
	if v, migrating := fileSchema(t, path); v != schemaVersion || migrating {
		t.Errorf("file after Open: schema %d, migrating %v; want %d, false", v, migrating, schemaVersion)
	}
}
