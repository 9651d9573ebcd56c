package terminal

import (
	"sync"
	"syscall"
	"time"
)

// As PID 1 the runtime-agent reaps every child that exits (agentd.Reap),
// and it may collect a terminal's shell before the shell's own Wait does:
// that Wait then fails with ECHILD and learns no exit status. The reaper
// hands every status it collects to RecordExit, and the shell's waiter
// takes its own from there.

// reapedKeep bounds how many collected statuses are kept for a waiter that
// has not come for them yet (most are orphans' statuses no one asks for).
const reapedKeep = 256

// reapedWait is how long a waiter whose Wait found nothing waits for the
// reaper to record the status it collected.
const reapedWait = 2 * time.Second

type exitRecord struct {
	pid  int
	ws   syscall.WaitStatus
	when time.Time
}

var reaped struct {
	sync.Mutex
	cond    *sync.Cond
	records []exitRecord // the last reapedKeep, oldest first
}

func init() { reaped.cond = sync.NewCond(&reaped.Mutex) }

// RecordExit keeps the status of a child the reaper collected, for a
// terminal whose shell it was.
func RecordExit(pid int, ws syscall.WaitStatus) {
	reaped.Lock()
	defer reaped.Unlock()
	if len(reaped.records) == reapedKeep {
		copy(reaped.records, reaped.records[1:])
		reaped.records = reaped.records[:reapedKeep-1]
	}
	reaped.records = append(reaped.records, exitRecord{pid: pid, ws: ws, when: time.Now()})
	reaped.cond.Broadcast()
}

// reapedStatus takes the status the reaper recorded for pid after since
// (the process's start, so that a pid used again is not mistaken for an
// earlier process), waiting up to wait for it.
func reapedStatus(pid int, since time.Time, wait time.Duration) (syscall.WaitStatus, bool) {
	deadline := time.Now().Add(wait)
	timer := time.AfterFunc(wait, func() {
		reaped.Lock()
		reaped.cond.Broadcast()
		reaped.Unlock()
	})
	defer timer.Stop()
	reaped.Lock()
	defer reaped.Unlock()
	for {
		for i := len(reaped.records) - 1; i >= 0; i-- {
			r := reaped.records[i]
			if r.pid == pid && !r.when.Before(since) {
				reaped.records = append(reaped.records[:i], reaped.records[i+1:]...)
				return r.ws, true
			}
		}
		if !time.Now().Before(deadline) {
			return 0, false
		}
		reaped.cond.Wait()
	}
}

// ReapedStatus is the status the reaper collected for a child started at
// since whose own Wait failed with ECHILD, waiting a moment for the
// reaper to record it; ok is false when it did not.
func ReapedStatus(pid int, since time.Time) (ws syscall.WaitStatus, ok bool) {
	return reapedStatus(pid, since, reapedWait)
}
