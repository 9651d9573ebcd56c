package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopsOnTermNotOnChild: a SIGCHLD is not a stop; SIGTERM and SIGINT are.
func TestStopsOnTermNotOnChild(t *testing.T) {
	for _, stop := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		signals := make(chan os.Signal, 3)
		signals <- syscall.SIGCHLD
		signals <- stop
		signals <- syscall.SIGCHLD
		waitForStop(signals)
		if len(signals) != 1 {
			t.Fatalf("%v: returned with %d signals left, want 1 (it should stop at %v, not before)", stop, len(signals), stop)
		}
	}
}

// TestReapsExitedChildren: a child that has exited is a zombie until reap collects it.
func TestReapsExitedChildren(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	deadline := time.Now().Add(time.Minute)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatalf("child %d gone before reap: %v", pid, err)
		}
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never exited", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	reap()
	if _, err := os.Stat(stat); !os.IsNotExist(err) {
		t.Fatalf("child %d still there after reap (%v)", pid, err)
	}
}
