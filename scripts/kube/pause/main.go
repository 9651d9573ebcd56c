// Command pause is the pause program of the test cluster's Pod sandboxes: it holds a Pod's
// namespaces open, reaps the children it inherits (it is PID 1 when the Pod shares its process
// namespace), and exits when it is told to stop. It is static, so that scripts/kube/cluster.sh can
// put it alone in an image without a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	waitForStop(signals)
}

// waitForStop reaps exited children on every SIGCHLD and returns at the first other signal.
func waitForStop(signals <-chan os.Signal) {
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every child that has exited, so that none is left a zombie.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
