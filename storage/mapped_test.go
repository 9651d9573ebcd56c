package storage

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
)

// rssFile reads the file-backed resident memory of this process (kB).
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	t.Skip("no RssFile")
	return 0
}

// TestReleaseMapped: after reads page the store file into the process,
// ReleaseMapped takes those pages out of its resident memory, and the
// store reads on as before.
func TestReleaseMapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	s, _ := openStore(t, Options{})
	mustCreate(t, s, "a")
	big := strings.Repeat("x", 4000)
	for range 8 {
		evs := make([]event.Event, 0, 500)
		for range 500 {
			evs = append(evs, msg(event.SourceUser, big))
		}
		if err := s.Append("a", evs...); err != nil {
			t.Fatal(err)
		}
	}
	read := func() {
		for page := ""; ; {
			evs, next, err := s.Events("a", EventQuery{PageID: page, Limit: 100})
			if err != nil || len(evs) == 0 {
				t.Fatalf("read: %d events, %v", len(evs), err)
			}
			if page = next; page == "" {
				return
			}
		}
	}
	read()
	before := rssFile(t)
	n, err := s.ReleaseMapped()
	if err != nil || n == 0 {
		t.Fatalf("ReleaseMapped: %d bytes, %v", n, err)
	}
	after := rssFile(t)
	// About 16 MB of events were mapped.
	if before-after < 8<<10 {
		t.Errorf("file-backed RSS %d kB before the release, %d kB after: want at least 8 MB less", before, after)
	}
	read()
}
