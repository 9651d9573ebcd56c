package storage

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
)

// BenchmarkKindSearch measures the first page of searches by kind on one
// conversation of 100,000 events: a rare kind (1 event in 10,000, so 10 in
// all) and a common one (about half the events), each through the codes of
// the index entries and, as the baseline in the same run, reading every
// record (schema 2's way). It reports the p50 and p95 of each and the
// ratios: rare to common through the index (the target is about 1), and
// the baseline to the index for the rare kind.
//
// One call builds the conversation (a few seconds), so that go test runs
// it once: b.N is not the number of searches, which is fixed.
func BenchmarkKindSearch(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "kinds.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const events, rareEvery = 100_000, 10_000
	if err := s.CreateConversation(Conversation{ID: "big"}); err != nil {
		b.Fatal(err)
	}
	build := time.Now()
	for lo := 0; lo < events; lo += 1000 {
		evs := make([]event.Event, 0, 1000)
		for i := lo; i < lo+1000; i++ {
			switch {
			case i%rareEvery == rareEvery/2:
				evs = append(evs, &event.AgentError{Base: event.Base{Source: event.SourceAgent}, Error: fmt.Sprint("rare ", i)})
			case i%2 == 0:
				evs = append(evs, observation(fmt.Sprintf("output of step %d\nok", i)))
			default:
				evs = append(evs, action(fmt.Sprint("make step", i), "next step"))
			}
		}
		if err := s.Append("big", evs...); err != nil {
			b.Fatal(err)
		}
	}
	built := time.Since(build)
	const searches = 200
	measure := func(scanAll bool, kind event.Kind, desc bool) (p50, p95 time.Duration) {
		s.scanRecords = scanAll
		defer func() { s.scanRecords = false }()
		lat := make([]time.Duration, searches)
		for i := range lat {
			t := time.Now()
			evs, _, err := s.Events("big", EventQuery{Kinds: []event.Kind{kind}, Desc: desc, Limit: 100})
			lat[i] = time.Since(t)
			if err != nil || len(evs) == 0 {
				b.Fatalf("%s: %d events, %v", kind, len(evs), err)
			}
		}
		slices.Sort(lat)
		return lat[searches/2], lat[searches*95/100]
	}
	b.ResetTimer()
	_, common95 := measure(false, event.KindObservation, false)
	rare50, rare95 := measure(false, event.KindAgentError, false)
	_, rareDesc95 := measure(false, event.KindAgentError, true)
	scan50, scan95 := measure(true, event.KindAgentError, false)
	_, scanCommon95 := measure(true, event.KindObservation, false)
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(built.Seconds(), "build-s")
	b.ReportMetric(us(common95), "common-p95-µs")
	b.ReportMetric(us(rare50), "rare-p50-µs")
	b.ReportMetric(us(rare95), "rare-p95-µs")
	b.ReportMetric(us(rareDesc95), "rare-desc-p95-µs")
	b.ReportMetric(us(rare95)/us(common95), "x-rare/common")
	b.ReportMetric(us(scan50), "baseline-rare-p50-µs")
	b.ReportMetric(us(scan95), "baseline-rare-p95-µs")
	b.ReportMetric(us(scanCommon95), "baseline-common-p95-µs")
	b.ReportMetric(us(scan95)/us(rare95), "x-baseline/index")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBodySearch measures a body search that matches nothing in a
// conversation of 100,000 events: how long it reads before it answers
// partial (DefaultBodyBudget), and, as the baseline in the same run, how
// long the whole walk would take without a budget (pages followed to the
// end).
func BenchmarkBodySearch(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "body.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateConversation(Conversation{ID: "big"}); err != nil {
		b.Fatal(err)
	}
	const events = 100_000
	for lo := 0; lo < events; lo += 1000 {
		evs := make([]event.Event, 0, 1000)
		for i := lo; i < lo+1000; i++ {
			evs = append(evs, observation(fmt.Sprintf("output of step %d\nok", i)))
		}
		if err := s.Append("big", evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	// A word in every event's JSON but in none of its texts: every
	// record is decoded (the worst case).
	q := EventQuery{Body: "terminal"}
	t := time.Now()
	evs, next, err := s.Events("big", q)
	first := time.Since(t)
	if err != nil || len(evs) != 0 || next == "" {
		b.Fatalf("first page: %d events, next %q, %v; want a partial page", len(evs), next, err)
	}
	pages := 1
	t = time.Now()
	q.BodyBudget = time.Hour
	if _, next, err = s.Events("big", q); err != nil || next != "" {
		b.Fatalf("unbounded: next %q, %v", next, err)
	}
	whole := time.Since(t)
	for q.BodyBudget, q.PageID = 0, ""; ; pages++ {
		_, next, err := s.Events("big", q)
		if err != nil {
			b.Fatal(err)
		}
		if next == "" {
			break
		}
		q.PageID = next
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Milliseconds()), "partial-page-ms")
	b.ReportMetric(float64(whole.Milliseconds()), "baseline-whole-ms")
	b.ReportMetric(float64(pages), "pages-to-end")
	b.ReportMetric(float64(events)/whole.Seconds(), "events-read/s")
	b.ReportMetric(0, "ns/op")
}
