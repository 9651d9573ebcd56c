package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// summary is the distribution of a set of latencies.
type summary struct {
	N                   int
	Mean, P50, P99, Max time.Duration
}

// summarize sorts lat in place and reads its percentiles (nearest rank).
func summarize(lat []time.Duration) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	return summary{N: len(lat), Mean: sum / time.Duration(len(lat)), P50: rank(0.50), P99: rank(0.99), Max: lat[len(lat)-1]}
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// ratio formats a/b.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

// verdict says whether a figure meets its target.
func verdict(got, target time.Duration) string {
	if got <= target {
		return "met"
	}
	return "NOT MET"
}

// cpuTime returns the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stall reads the kernel's pressure stall total for resource ("cpu",
// "io"): how long some task has waited for it since boot. Zero when the
// kernel does not report it.
func stall(resource string) time.Duration {
	b, err := os.ReadFile("/proc/pressure/" + resource)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond
			}
		}
	}
	return 0
}

// machineLoad measures how busy the rest of the machine kept the CPUs and
// the disk over a stretch of time: the share of it during which some task
// waited for a CPU, or for I/O.
type machineLoad struct {
	start     time.Time
	cpu0, io0 time.Duration
	CPU, IO   float64 // shares, 0..1
	measured  bool
}

func startLoad() *machineLoad {
	return &machineLoad{start: time.Now(), cpu0: stall("cpu"), io0: stall("io")}
}

func (m *machineLoad) stop() {
	wall := time.Since(m.start)
	if m.cpu0 == 0 || wall <= 0 {
		return
	}
	m.CPU = float64(stall("cpu")-m.cpu0) / float64(wall)
	m.IO = float64(stall("io")-m.io0) / float64(wall)
	m.measured = true
}

func (m *machineLoad) String() string {
	if !m.measured {
		return "pressure stall information not available"
	}
	return fmt.Sprintf("some task waited for a CPU %.0f%% of the time, for I/O %.0f%% (/proc/pressure; 0%% is an idle machine)", 100*m.CPU, 100*m.IO)
}
