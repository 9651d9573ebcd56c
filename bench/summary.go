package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one benchmark line of `go test -bench` output: the
// benchmark's name and its metrics, in the order printed.
type result struct {
	pkg     string
	name    string
	metrics []metric
}

type metric struct {
	value float64
	unit  string
}

// parseBench reads `go test -bench` output. Lines that are not results
// (package headers, PASS, logs) are skipped; "pkg:" lines name the
// package of the results after them.
func parseBench(r io.Reader) ([]result, error) {
	var out []result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/gohands/gohands/")
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		// name, iterations, then value-unit pairs.
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		res := result{pkg: pkg, name: f[0]}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				res.metrics = nil
				break
			}
			res.metrics = append(res.metrics, metric{value: v, unit: f[i+1]})
		}
		if len(res.metrics) > 0 {
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// isRatio reports whether a metric compares against a baseline measured
// in the same run.
func isRatio(unit string) bool {
	u := strings.ToLower(unit)
	return strings.Contains(u, "ratio") || strings.HasPrefix(u, "x-") || strings.Contains(u, "faster") || strings.HasSuffix(u, "-x")
}

// printSummary writes one table of every figure, ratios to their same-run
// baselines first in each row.
func printSummary(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tbenchmark\tratios to same-run baselines\tfigures")
	for _, r := range results {
		var ratios, figures []string
		for _, m := range r.metrics {
			if m.unit == "ns/op" || m.unit == "B/op" || m.unit == "allocs/op" {
				continue
			}
			s := strconv.FormatFloat(m.value, 'f', -1, 64) + " " + m.unit
			if isRatio(m.unit) {
				ratios = append(ratios, s)
			} else {
				figures = append(figures, s)
			}
		}
		if len(ratios) == 0 {
			ratios = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.pkg, strings.TrimPrefix(r.name, "Benchmark"),
			strings.Join(ratios, ", "), strings.Join(figures, ", "))
	}
	tw.Flush()
}
