package agentd

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func threads(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// TestReserveThreads checks that the threads are made and stay: the
// process has at least as many after the call returns.
func TestReserveThreads(t *testing.T) {
	ReserveThreads(40)
	if n := threads(t); n < 40 {
		t.Fatalf("%d threads after reserving 40", n)
	}
}
