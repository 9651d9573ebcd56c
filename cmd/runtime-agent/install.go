package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// install copies the running binary to dest (mode 0755), through a
// temporary file renamed into place, and returns. It is how the agent gets
// into a Kubernetes sandbox: the Pod's init container, from an image that
// holds nothing but this binary (no shell, no cp), runs
// `runtime-agent --install /opt/gohands/runtime-agent` into a volume the
// sandbox container then runs it from.
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
