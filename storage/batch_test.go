package storage

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
)

// openWriter opens a bare bbolt file with a "t" bucket and a writer on it.
func openWriter(t *testing.T) (*writer, *bbolt.DB) {
	t.Helper()
	db, err := bbolt.Open(t.TempDir()+"/w.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("t"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w := newWriter(db)
	t.Cleanup(func() {
		w.close()
		db.Close()
	})
	return w, db
}

func put(key string) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		return abort(tx.Bucket([]byte("t")).Put([]byte(key), []byte("v")))
	}
}

func keys(t *testing.T, db *bbolt.DB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("t")).ForEach(func(k, _ []byte) error {
			out[string(k)] = true
			return nil
		})
	})
	return out
}

// TestWriterIsolatesFailures runs, in shared transactions, writes that
// succeed, writes that fail before writing, writes that abort after writing
// and writes that panic, and checks each gets its own outcome.
func TestWriterIsolatesFailures(t *testing.T) {
	w, db := openWriter(t)
	refused := errors.New("refused")
	type outcome struct {
		err      error
		panicked any
	}
	kinds := []struct {
		name string
		fn   func(i int) func(tx *bbolt.Tx) error
		// check the outcome; stored says whether the write's key is in
		// the file.
		check func(o outcome, stored bool) error
	}{
		{"ok", func(i int) func(tx *bbolt.Tx) error { return put(fmt.Sprint("ok", i)) },
			func(o outcome, stored bool) error {
				if o.err != nil || o.panicked != nil || !stored {
					return fmt.Errorf("err %v, panic %v, stored %v", o.err, o.panicked, stored)
				}
				return nil
			}},
		{"refused", func(i int) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error { return refused }
		}, func(o outcome, stored bool) error {
			if !errors.Is(o.err, refused) || errors.Is(o.err, ErrUnavailable) {
				return fmt.Errorf("err %v, want refused", o.err)
			}
			return nil
		}},
		{"aborted", func(i int) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error {
				if err := put(fmt.Sprint("aborted", i))(tx); err != nil {
					return err
				}
				// A Put that bbolt refuses, after a write.
				return put("")(tx)
			}
		}, func(o outcome, stored bool) error {
			if !errors.Is(o.err, ErrUnavailable) || stored {
				return fmt.Errorf("err %v, stored %v; want ErrUnavailable and nothing stored", o.err, stored)
			}
			return nil
		}},
		{"panicked", func(i int) func(tx *bbolt.Tx) error {
			return func(tx *bbolt.Tx) error {
				put(fmt.Sprint("panicked", i))(tx)
				panic("boom")
			}
		}, func(o outcome, stored bool) error {
			if o.panicked != "boom" || stored {
				return fmt.Errorf("panic %v, stored %v; want the panic and nothing stored", o.panicked, stored)
			}
			return nil
		}},
	}
	const rounds = 20
	outcomes := make([][]outcome, len(kinds))
	var wg sync.WaitGroup
	for k, kind := range kinds {
		outcomes[k] = make([]outcome, rounds)
		for i := range rounds {
			wg.Go(func() {
				defer func() { outcomes[k][i].panicked = recover() }()
				outcomes[k][i].err = w.do(kind.fn(i))
			})
		}
	}
	wg.Wait()
	stored := keys(t, db)
	for k, kind := range kinds {
		for i, o := range outcomes[k] {
			if err := kind.check(o, stored[fmt.Sprint(kind.name, i)]); err != nil {
				t.Errorf("%s %d: %v", kind.name, i, err)
			}
		}
	}
}

func TestWriterClose(t *testing.T) {
	w, db := openWriter(t)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() { errs[i] = w.do(put(fmt.Sprint(i))) })
	}
	w.close()
	wg.Wait()
	// Each write either committed before close or was refused.
	stored := keys(t, db)
	for i, err := range errs {
		switch {
		case err == nil && !stored[fmt.Sprint(i)]:
			t.Errorf("write %d acknowledged but not stored", i)
		case err != nil && !errors.Is(err, ErrUnavailable):
			t.Errorf("write %d: %v, want ErrUnavailable", i, err)
		}
	}
	if err := w.do(put("late")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("write after close: %v, want ErrUnavailable", err)
	}
}
