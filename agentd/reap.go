package agentd

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gohands/gohands/agentd/terminal"
)

// Reap collects every child that exits, as PID 1 must: processes orphaned
// inside the sandbox are handed to the agent, and unreaped they would stay
// zombies. It returns when ctx ends.
//
// It may collect a terminal's shell before the terminal's own Wait does;
// the status goes to terminal.RecordExit, where that terminal finds it.
func Reap(ctx context.Context) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGCHLD)
	defer signal.Stop(ch)
	for {
		reapAll()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		terminal.RecordExit(pid, ws)
	}
}
