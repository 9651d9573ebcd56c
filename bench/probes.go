package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// diskProbe times a 4 KiB write and fdatasync to a file beside the state
// file at a fixed interval, to show what the disk alone does while GoHands
// commits: a stalled Append is a stalled disk when the probe stalls too.
type diskProbe struct {
	t0   time.Time
	f    *os.File
	stop chan struct{}
	done chan struct{}

	samples []sample // written by the probe's goroutine until done
}

// sample is one timed operation: when it started (from t0) and how long it
// took.
type sample struct {
	at, took time.Duration
}

func startDiskProbe(dir string, every time.Duration, t0 time.Time) (*diskProbe, error) {
	f, err := os.Create(filepath.Join(dir, "disk-probe"))
	if err != nil {
		return nil, fmt.Errorf("disk probe: %w", err)
	}
	p := &diskProbe{t0: t0, f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(every)
	return p, nil
}

func (p *diskProbe) run(every time.Duration) {
	defer close(p.done)
	buf := make([]byte, 4096)
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		start := time.Now()
		if _, err := p.f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return
		}
		if err := syscall.Fdatasync(int(p.f.Fd())); err != nil {
			return
		}
		p.samples = append(p.samples, sample{at: start.Sub(p.t0), took: time.Since(start)})
	}
}

// finish stops the probe and returns its samples.
func (p *diskProbe) finish() []sample {
	close(p.stop)
	<-p.done
	p.f.Close()
	os.Remove(p.f.Name())
	return p.samples
}

// timerProbe sleeps 10 ms in a loop and records how late it wakes: a
// process that stops running (CPU starvation, a paused machine) shows here,
// where a stalled disk does not.
type timerProbe struct {
	t0      time.Time
	stop    chan struct{}
	done    chan struct{}
	samples []sample // lateness of each wake-up
}

func startTimerProbe(t0 time.Time) *timerProbe {
	p := &timerProbe{t0: t0, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		const nap = 10 * time.Millisecond
		for {
			start := time.Now()
			select {
			case <-p.stop:
				return
			case <-time.After(nap):
			}
			p.samples = append(p.samples, sample{at: start.Sub(p.t0), took: time.Since(start) - nap})
		}
	}()
	return p
}

func (p *timerProbe) finish() []sample {
	close(p.stop)
	<-p.done
	return p.samples
}

// took returns the durations of samples.
func took(samples []sample) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = s.took
	}
	return out
}

// slowest formats the n slowest samples with when they started.
func slowest(samples []sample, n int) string {
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b sample) int { return int(b.took - a.took) })
	var parts []string
	for _, x := range s[:min(n, len(s))] {
		parts = append(parts, fmt.Sprintf("%s at %.1f s", ms(x.took), x.at.Seconds()))
	}
	return strings.Join(parts, ", ")
}
