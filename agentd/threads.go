package agentd

import (
	"runtime"
	"sync"
)

// ReserveThreads makes the Go runtime start n OS threads now and keep
// them idle, so that it has threads to hand to blocking system calls
// later without creating new ones. Inside a sandbox with a pids limit, a
// fork bomb can take every free process slot; a Go program that then
// needs a new thread dies ("failed to create new OS thread"), and the
// agent is the sandbox's PID 1. The runtime keeps idle threads for
// reuse, so threads made here stay available.
func ReserveThreads(n int) {
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	for range n {
		done.Go(func() {
			// A locked goroutine holds its thread: n of them need n
			// threads at once.
			runtime.LockOSThread()
			started.Done()
			release.Wait()
			runtime.UnlockOSThread()
		})
	}
	started.Wait()
	release.Done()
	done.Wait()
}
