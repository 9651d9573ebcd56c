//go:build !unix

package security

import "os/exec"

// setProcessGroup does nothing where there are no process groups; the
// program alone is killed on cancellation.
func setProcessGroup(*exec.Cmd) {}
