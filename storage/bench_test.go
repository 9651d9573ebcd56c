package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/gohands/gohands/event"
)

// benchEvent is a typical observation: a command's output of about 1 KiB,
// with its id set, as the session sets it before it appends (so that
// Append looks for it among the conversation's events).
func benchEvent(i int) event.Event {
	e := observation(fmt.Sprintf("run %d\n%s", i, strings.Repeat("output line of a command\n", 40)))
	e.ID = event.NewID()
	return e
}

// BenchmarkAppendConcurrent measures durable appends from conversations
// appending at once, each with one append outstanding (the next call when
// the last returns, as a session does), perCall events per call. b.N is the
// total number of events.
//
// In the same run it measures the baseline, raw bbolt with one db.Update
// (one commit, fsynced) per event from one goroutine, and reports the ratio
// to it; the ceiling of this disk, what appends of whole batches to a plain
// file allow; and the cost of one fdatasync.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, c := range []struct{ convs, perCall int }{{16, 1}, {16, 4}, {1, 1}} {
		b.Run(fmt.Sprintf("convs=%d/per-call=%d", c.convs, c.perCall), func(b *testing.B) {
			benchAppend(b, c.convs, c.perCall)
		})
	}
}

func benchAppend(b *testing.B, convs, perCall int) {
	dir := b.TempDir()
	s, err := Open(filepath.Join(dir, "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for c := range convs {
		if err := s.CreateConversation(Conversation{ID: fmt.Sprint("c", c)}); err != nil {
			b.Fatal(err)
		}
	}
	// Build the events before the clock starts.
	evs := make([][]event.Event, convs)
	for i := range b.N {
		evs[i%convs] = append(evs[i%convs], benchEvent(i))
	}
	lat := make([][]time.Duration, convs)
	stats0 := s.db.Stats().TxStats

	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			id := fmt.Sprint("c", c)
			for mine := evs[c]; len(mine) > 0; {
				n := min(perCall, len(mine))
				t := time.Now()
				if err := s.Append(id, mine[:n]...); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t))
				mine = mine[n:]
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()

	rate := float64(b.N) / elapsed.Seconds()
	all := slices.Sorted(slices.Values(slices.Concat(lat...)))
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "append-p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "append-p99-µs")
	b.ReportMetric(0, "ns/op")
	st := s.WriteStats()
	b.ReportMetric(float64(st.Writes)/float64(st.Commits), "calls/commit")
	b.ReportMetric(float64(st.CommitTime.Microseconds())/float64(st.Commits), "commit-µs")
	// Pages written (4 KiB each), per event: what each fsync must carry.
	stats1 := s.db.Stats().TxStats
	b.ReportMetric(float64(stats1.GetPageCount()-stats0.GetPageCount())/float64(b.N), "pages/event")
	// CPU of the whole process (callers and writer), which the disk's
	// noise does not blur.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")

	base := baselineRate(b, dir, min(b.N, 1000))
	b.ReportMetric(base, "baseline-events/s")
	b.ReportMetric(rate/base, "x-baseline")
	b.ReportMetric(ceilingRate(b, dir, convs*perCall), "ceiling-events/s")
	b.ReportMetric(float64(fsyncCost(b, dir, 1).Microseconds()), "fdatasync-1-page-µs")
	b.ReportMetric(float64(fsyncCost(b, dir, 32).Microseconds()), "fdatasync-32-pages-µs")
}

// baselineRate returns the events per second of raw bbolt committing one
// event per transaction from one goroutine, n events.
func baselineRate(b *testing.B, dir string, n int) float64 {
	db, err := bbolt.Open(filepath.Join(dir, "baseline.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("events"))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	start := time.Now()
	for i, e := range evs {
		e.Meta().Seq = int64(i + 1)
		v, err := event.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("events")).Put(seqKey(uint64(i+1)), v)
		}); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// fsyncCost returns the median time, on the disk under dir, of writing
// pages 4 KiB pages at scattered places in a 64 MiB file, as a commit does,
// and calling fdatasync.
func fsyncCost(b *testing.B, dir string, pages int) time.Duration {
	f, err := os.OpenFile(filepath.Join(dir, "fsync"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const filePages = 16384
	if err := f.Truncate(filePages * 4096); err != nil {
		b.Fatal(err)
	}
	page := make([]byte, 4096)
	var d []time.Duration
	for i := range 200 {
		t := time.Now()
		for p := range pages {
			if _, err := f.WriteAt(page, int64((i*977+p*131)%filePages)*4096); err != nil {
				b.Fatal(err)
			}
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// ceilingRate returns the events per second of the fastest durable append
// there can be on the disk under dir: the events of a batch (batch events,
// the most that can share a commit) written at the end of a plain
// preallocated file and made durable with one fdatasync, one batch after
// the other, with nothing to encode or index. A store that commits as
// bbolt does, data then meta page, each synced, pays at least one more
// fdatasync per batch.
func ceilingRate(b *testing.B, dir string, batch int) float64 {
	f, err := os.OpenFile(filepath.Join(dir, "ceiling"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var buf []byte
	for i := range batch {
		e := benchEvent(i)
		e.Meta().Seq = int64(i + 1)
		v, err := event.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		buf = append(buf, v...)
	}
	const batches = 500
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(len(buf))*batches); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range batches {
		if _, err := f.WriteAt(buf, int64(i*len(buf))); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	return float64(batch*batches) / time.Since(start).Seconds()
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
