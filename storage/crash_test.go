package storage

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohands/gohands/event"
)

// crashEnv names the file a child process appends to until it is killed.
const crashEnv = "GOHANDS_STORAGE_CRASH_FILE"

// TestCrashKeepsAcknowledged kills a process that is appending to a store
// from several goroutines, then checks that the file opens, that every
// append the process acknowledged is there, and that seqs have no gaps.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledged$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill the child a while after its first acknowledgement, or after
		// a long while if it never gets that far.
		safety := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		acked := map[string]int64{}
		lines := bufio.NewScanner(out)
		var kill *time.Timer
		for lines.Scan() {
			var conv string
			var seq int64
			if _, err := fmt.Sscan(lines.Text(), &conv, &seq); err == nil {
				acked[conv] = max(acked[conv], seq)
			}
			if kill == nil {
				kill = time.AfterFunc(time.Duration(50+100*round)*time.Millisecond, func() { cmd.Process.Kill() })
			}
		}
		cmd.Wait()
		safety.Stop()
		if len(acked) == 0 {
			t.Fatalf("round %d: the child acknowledged nothing; its stderr: %s", round, stderr.String())
		}

		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		for conv, seq := range acked {
			raw, err := s.RawEvents(conv, 0, 0)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if int64(len(raw)) < seq {
				t.Errorf("round %d: %s has %d events, %d were acknowledged", round, conv, len(raw), seq)
			}
			for i, r := range raw {
				e, err := event.Unmarshal(r)
				if err != nil || e.Meta().Seq != int64(i+1) {
					t.Fatalf("round %d: %s event %d: seq %d, %v", round, conv, i, e.Meta().Seq, err)
				}
			}
		}
		// The codes of kinds and sources were committed with the
		// events they index, or not at all.
		checkIndex(t, s)
		s.Close()
	}
}

// crashChild appends until killed, printing "conv seq" for each append
// acknowledged.
func crashChild(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range 8 {
		conv := fmt.Sprint("c", c)
		if _, err := s.Conversation(conv); err != nil {
			s.CreateConversation(Conversation{ID: conv})
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				// Several kinds and sources, whose codes the first
				// commits number.
				var e event.Event = observation(fmt.Sprintf("%s %d", conv, i))
				switch i % 3 {
				case 1:
					e = msg(event.SourceUser, fmt.Sprintf("%s %d", conv, i))
				case 2:
					e = action(fmt.Sprintf("%s %d", conv, i), "")
				}
				if err := s.Append(conv, e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println(conv, e.Meta().Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
