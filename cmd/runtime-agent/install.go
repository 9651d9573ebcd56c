package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// install copies the running binary to dest (mode 0755), through a
// temporary file renamed into place, and returns: whoever waits for dest
// sees it complete or not at all. It is how the agent gets into a
// Kubernetes sandbox: the Pod's agent-install container, from an image
// that holds nothing but this binary (no shell, no cp), runs
// `runtime-agent --install /dev/shm/.gohands/runtime-agent --stay`, and
// the sandbox container, which shares the Pod's /dev/shm, waits for the
// file, copies it into its own filesystem and runs it (see sandbox/kube).
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: find own binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".runtime-agent-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("install to %s: %w", dest, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install to %s: %w", dest, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install to %s: %w", dest, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("install to %s: %w", dest, err)
	}
	return nil
}

// waitForStop blocks until SIGTERM or SIGINT. The agent-install container
// stays asleep this way after its copy so that every container of the Pod
// runs (the Pod is Ready), and ends at once, with 0, when the Pod is
// deleted.
func waitForStop() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
