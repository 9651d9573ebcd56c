package main

import (
	"strings"
	"testing"
)

func TestParseBenchAndSummary(t *testing.T) {
	out := `goos: linux
pkg: github.com/gohands/gohands/storage
BenchmarkAppendConcurrent/convs=16/per-call=1-2   20000   540.0 append-p50-µs   24235 events/s   3.516 x-baseline
--- some log line
BenchmarkBroken 12 notanumber unit
pkg: github.com/gohands/gohands/sandbox
BenchmarkColdStart-2   9   512000000 ns/op   1.026 ratio
PASS
`
	results, err := parseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(results), results)
	}
	if results[0].pkg != "storage" || len(results[0].metrics) != 3 || results[0].metrics[2].unit != "x-baseline" {
		t.Errorf("first result %+v", results[0])
	}
	var b strings.Builder
	printSummary(&b, results)
	table := b.String()
	for _, want := range []string{"3.516 x-baseline", "24235 events/s", "1.026 ratio", "sandbox", "ColdStart-2"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "ns/op") {
		t.Errorf("table shows ns/op:\n%s", table)
	}
}
