package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/gohands/gohands/agentapi"
	"golang.org/x/sys/unix"
)

// takeToken returns the agent's token and leaves no copy of it that a
// process of the sandbox could read.
//
// The engine can only hand the token over in the environment, and the
// environment a process was started with stays readable in
// /proc/PID/environ whatever the process does to its copy. So an agent
// given GOHANDS_AGENT_TOKEN re-executes itself (still PID 1) with the
// token removed from the environment and written to a pipe it inherits
// instead; that second run, given --token-fd, reads the pipe and closes
// it. (A Kubernetes sandbox's launcher does the same in its shell and
// starts the agent with --token-fd at once.) Before it reads, the agent makes itself non-dumpable: processes
// without CAP_SYS_PTRACE (which no sandbox has) can then neither read its
// memory nor its environ, even as root.
//
// On success with an environment token it does not return.
func takeToken(env string, fd int) (string, error) {
	switch {
	case fd >= 0 && env != "":
		return "", fmt.Errorf("give the token in one of %s and --token-fd, not both", agentapi.TokenEnv)
	case fd >= 0:
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			return "", fmt.Errorf("make the agent non-dumpable: %w", err)
		}
		return readToken(fd)
	case env == "":
		return "", fmt.Errorf("no token: set %s", agentapi.TokenEnv)
	}
	return "", reexec(env)
}

// reexec runs the agent's own binary again in this process, with the token
// on an inherited pipe rather than in the environment. It returns only on
// failure.
func reexec(token string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("re-execute without the token in the environment: %w", err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("re-execute without the token in the environment: %w", err)
	}
	// The token is far smaller than a pipe's buffer: the write cannot block.
	_, err = unix.Write(p[1], []byte(token))
	unix.Close(p[1])
	if err == nil {
		_, err = unix.FcntlInt(uintptr(p[0]), unix.F_SETFD, 0) // inherited by the exec
	}
	if err != nil {
		unix.Close(p[0])
		return fmt.Errorf("re-execute without the token in the environment: %w", err)
	}
	args := append([]string{os.Args[0], "--token-fd", strconv.Itoa(p[0])}, os.Args[1:]...)
	err = syscall.Exec(exe, args, withoutKey(os.Environ(), agentapi.TokenEnv))
	unix.Close(p[0])
	return fmt.Errorf("re-execute %s without the token in the environment: %w", exe, err)
}

// readToken reads the token from fd to its end and closes fd.
func readToken(fd int) (string, error) {
	f := os.NewFile(uintptr(fd), "token")
	if f == nil {
		return "", fmt.Errorf("--token-fd %d: not a file descriptor", fd)
	}
	defer f.Close()
	unix.CloseOnExec(fd) // should the read fail, no command inherits it
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("read the token from --token-fd %d: %w", fd, err)
	}
	// A shell's here-document (the Kubernetes launcher's way) ends in a
	// newline, which no token has.
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return "", errors.New("--token-fd: empty token")
	}
	return string(data), nil
}
