package terminal

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// shell is one running shell process and its pseudo-terminal.
type shell struct {
	path string
	pty  *os.File
	cmd  *exec.Cmd
	scan *scanner
	// files is the shell's private folder: its rc file and the files
	// its commands run from.
	files *scripts
	uid   int
	gid   int
	wmu   sync.Mutex
	done  chan struct{}
	// drained is closed when the pty has nothing more to read: every
	// holder of its other end has exited.
	drained chan struct{}
	state   *os.ProcessState
	started time.Time
	// reapedCode is the exit code when the agent's reaper collected the
	// shell before its Wait did (state is nil then); see RecordExit.
	reapedCode int
}

func spawn(opts Options, name, nonce string) (_ *shell, err error) {
	path := lookShell(opts.Shell)
	if err := os.MkdirAll(opts.OutputDir, 0o755); err != nil {
		return nil, err
	}
	sh := &shell{path: path, uid: -1, gid: -1, scan: newScanner(nonce), done: make(chan struct{}), drained: make(chan struct{})}
	asOther := os.Geteuid() == 0 && opts.UID >= 0 && opts.UID != os.Geteuid()
	if asOther {
		sh.uid, sh.gid = opts.UID, max(opts.GID, 0)
		sh.own(opts.OutputDir) // the shell's user reads and removes cut outputs
	}
	files, err := newScripts(opts.OutputDir, name, nonce)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			files.remove()
		}
	}()
	sh.files = files
	rc := files.rc

	var args []string
	if strings.HasSuffix(path, "bash") {
		args = []string{"--noediting", "--noprofile", "--rcfile", rc, "-i"}
	} else {
		args = []string{"-i"}
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = opts.Dir
	if cmd.Dir != "" {
		if _, err := os.Stat(cmd.Dir); err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
	}
	cmd.Env = shellEnv(opts.Env, rc)

	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 200}); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("size pty: %w", err)
	}
	if err := quietTTY(tty); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("configure pty: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if asOther {
		// Programs that open /dev/tty need the terminal to be theirs.
		os.Chown(tty.Name(), sh.uid, sh.gid)
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(sh.uid), Gid: uint32(sh.gid), Groups: []uint32{}}
	}
	sh.started = time.Now()
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	sh.pty, sh.cmd = ptmx, cmd
	return sh, nil
}

// quietTTY turns off echo (commands are not repeated in their output) and
// output post-processing: no \n -> \r\n mapping, and the kernel takes its
// fast path for every write (about a third more throughput for programs that
// write a line at a time).
func quietTTY(tty *os.File) error {
	fd := int(tty.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Lflag &^= unix.ECHO | unix.ECHONL
	tio.Oflag &^= unix.OPOST
	tio.Iflag |= unix.IUTF8
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}

func shellEnv(env []string, rc string) []string {
	out := make([]string, 0, len(env)+8)
	seen := map[string]bool{}
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		// The agent may itself run in a terminal of a GoHands sandbox:
		// its marker variables are not this shell's.
		if !ok || seen[k] || strings.HasPrefix(k, "__gohands_") || k == "PROMPT_COMMAND" {
			continue
		}
		seen[k] = true
		out = append(out, kv)
	}
	defaults := []string{
		"TERM=xterm-256color",
		"LANG=C.UTF-8",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/",
	}
	for _, kv := range defaults {
		k, _, _ := strings.Cut(kv, "=")
		if !seen[k] {
			out = append(out, kv)
		}
	}
	// sh (dash, busybox) reads $ENV when interactive; bash uses --rcfile.
	return append(out, "ENV="+rc)
}

func (sh *shell) write(p []byte) error {
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	_, err := sh.pty.Write(p)
	if err != nil {
		return fmt.Errorf("write to terminal: %w", err)
	}
	return nil
}

// own gives a file the agent made to the shell's user.
func (sh *shell) own(path string) {
	if sh.uid >= 0 {
		os.Lchown(path, sh.uid, sh.gid)
	}
}

func (sh *shell) pid() int { return sh.cmd.Process.Pid }

func (sh *shell) wait() {
	// As PID 1 the agent's reaper may collect the shell first; then Wait
	// fails with ECHILD, which still means the shell is gone.
	sh.cmd.Wait()
	sh.state = sh.cmd.ProcessState
	if sh.state == nil {
		sh.reapedCode = -1
		if ws, ok := reapedStatus(sh.cmd.Process.Pid, sh.started, reapedWait); ok {
			sh.reapedCode = statusCode(ws)
		}
	}
	close(sh.done)
}

func (sh *shell) exited() bool {
	select {
	case <-sh.done:
		return true
	default:
		return false
	}
}

func (sh *shell) exitCode() int {
	if sh.state == nil {
		return sh.reapedCode
	}
	if ws, ok := sh.state.Sys().(syscall.WaitStatus); ok {
		return statusCode(ws)
	}
	return sh.state.ExitCode()
}

// statusCode is the exit code a shell would show for ws: 128 plus the
// signal for a process a signal ended (kill -9 $$ gives 137), not -1,
// which a Result keeps for a command still running.
func statusCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// kill ends the shell and every process of its session, then closes the pty.
func (sh *shell) kill() {
	// The shell goes first: once it is dead it starts no more jobs, and
	// a fork it was in the middle of fails. Its session outlives it for
	// as long as any member does.
	sh.cmd.Process.Kill()
	killSession(sh.pid())
	<-sh.done
	sh.pty.Close()
	sh.files.remove()
}

// killSession sends SIGKILL to every process whose session is sid: the
// shell's jobs run in process groups of their own, so killing one group is
// not enough. It looks again until a look finds none, since a job may
// have forked while it looked; it gives up after killPasses looks.
func killSession(sid int) {
	for range killPasses {
		pids, err := sessionMembers(sid)
		if err != nil {
			// Without /proc only the shell's own process group is known.
			syscall.Kill(-sid, syscall.SIGKILL)
			return
		}
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Millisecond)
	}
}

// killPasses bounds killSession's looks: a job that forks faster than it
// is killed could otherwise keep it busy for ever.
const killPasses = 100

// sessionMembers lists the processes of session sid that have not exited.
func sessionMembers(sid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session ...; comm may hold anything.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if s, err := strconv.Atoi(f[3]); err == nil && s == sid {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
