package terminal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	dir  string // the terminal's private folder (rc file, command files)
	// after is the file the typed line sources after a command: it keeps
	// the command's status and puts the marker back. afterText is what
	// it holds.
	after     string
	afterText string
	uid       int
	gid       int
	wmu       sync.Mutex
	done      chan struct{}
	// drained is closed when the pty has nothing more to read: every
	// holder of its other end has exited.
	drained chan struct{}
	state   *os.ProcessState
	started time.Time
	// reapedCode is the exit code when the agent's reaper collected the
	// shell before its Wait did (state is nil then); see RecordExit.
	reapedCode int
}

// How a command's end is found. Every command is written to a file, and
// the terminal types one fixed line that sources it, then after.sh:
//
//	{ __gohands_cmd=N; __gohands_st=; } 2>/dev/null; . 'cmd-N.sh'; { . 'after.sh'; } 2>/dev/null
//
// (the braces keep the line's own commands out of a `set -x` trace; the
// line is short because bash reads a typed line a byte at a time).
// That line always parses, whatever the command is: a syntax error,
// an unbalanced quote or an open here-doc in the file makes `.` fail
// with status 2 and the line goes on, where typed as is the command
// would be dropped with its number, or leave the shell waiting for more
// input. The prompt (PS1) is the marker the scanner looks for; it
// carries the number, so a prompt the shell prints on its own is not
// taken for the end of the next command. After the command after.sh puts
// back PS1 and PROMPT_COMMAND, and PROMPT_COMMAND puts back PS1 before
// every prompt, so a command that changes either (a virtualenv's
// activate, PS1='$ ') does not lose the marker; the status is kept in
// __gohands_st because those assignments reset $? (when C-c cuts the
// line short, $? is still the command's own).
//
// A shell that replaces the terminal's own (exec bash) keeps its pid and
// environment: PROMPT_COMMAND and the command number are exported, and
// PROMPT_COMMAND, seeing a shell of that pid that was not set up by the
// rc file, execs a shell set up as the first one was, in the same folder
// with the same environment (with line editing on, readline would add
// its own bytes to every output; the options the command gave bash, such
// as -l, are not kept). A shell a command starts (a nested bash) has
// another pid and prints no marker: it is a program that runs until it
// exits. sh reads the rc file again through $ENV.
//
// What the tracking cannot survive: a new shell whose start-up files
// replace PROMPT_COMMAND (zsh, or a bashrc that sets it) after exec, a
// command that redirects the shell's own stderr (exec 2>file), and a
// command that changes the __gohands_ variables. Those leave the
// command running: C-c, the hard timeout or a reset end it.

// rcFile is the shell's start-up file. The marker is set after the
// user's own start-up files, so a .bashrc cannot change it; PS2 is empty
// so continuation lines print nothing.
const rcFile = `if [ -z "${__gohands_pid-}" ] || [ "$__gohands_pid" = "$$" ]; then
  if [ -n "${BASH_VERSION-}" ]; then
    [ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
    [ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
    set +H
    set -o ignoreeof
    HISTFILE=
    unset __gohands_on
    __gohands_on=1
  fi
  __gohands_pid=$$
  __gohands_cmd=${__gohands_cmd:-0}
  PROMPT_COMMAND=%s
  export __gohands_pid __gohands_cmd PROMPT_COMMAND
  export PAGER=cat GIT_PAGER=cat MANPAGER=cat SYSTEMD_PAGER= DEBIAN_FRONTEND=noninteractive
  PS2=''
  PS1=%s
fi
`

// promptCommand is bash's PROMPT_COMMAND (see above); the verbs are the
// rc file and PS1, each quoted. sh ignores it, but exports it to a bash
// that replaces it. The exec runs the same bash ($BASH), with the stderr
// the braces hid from xtrace back, and with __gohands_on in its
// environment: if the rc file is gone, the new shell does not exec again.
const promptCommand = `{ if [ "$$" = "${__gohands_pid-}" ]; then ` +
	`if [ "${__gohands_on-}" != 1 ]; then __gohands_on=1 exec "$BASH" --noediting --noprofile --rcfile %s -i 2>&3 3>&-; fi; ` +
	`shopt -s promptvars; PS1=%s; fi; } 3>&2 2>/dev/null`

// cmdVar is the shell variable holding the number of the command the
// terminal typed last; stVar holds that command's exit status once the
// line that ran it goes on.
const (
	cmdVar = "__gohands_cmd"
	stVar  = "__gohands_st"
)

// maxLine is the longest line a terminal in canonical mode takes.
const maxLine = 4095

func spawn(opts Options, name, nonce string) (*shell, error) {
	path := lookShell(opts.Shell)
	dir := filepath.Join(opts.OutputDir, "terminal-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sh := &shell{path: path, dir: dir, uid: -1, gid: -1, scan: newScanner(nonce), done: make(chan struct{}), drained: make(chan struct{})}
	asOther := os.Geteuid() == 0 && opts.UID >= 0 && opts.UID != os.Geteuid()
	if asOther {
		sh.uid, sh.gid = opts.UID, max(opts.GID, 0)
		sh.own(opts.OutputDir)
		sh.own(dir)
	}
	ps1 := shellQuote("\x1eGH" + nonce + ";${" + stVar + ":-$?};${" + cmdVar + ":-0};$PWD;" + nonce + "\x1e")
	rc := filepath.Join(dir, "rc.sh")
	pc := shellQuote(fmt.Sprintf(promptCommand, shellQuote(rc), ps1))
	if err := os.WriteFile(rc, []byte(fmt.Sprintf(rcFile, pc, ps1)), 0o644); err != nil {
		return nil, err
	}
	sh.after = filepath.Join(dir, "after.sh")
	sh.afterText = stVar + "=$?\nPS1=" + ps1 + "\nPROMPT_COMMAND=" + pc + "\n"
	if err := sh.writeAfter(); err != nil {
		return nil, err
	}
	if n := len(sh.line(1<<31, filepath.Join(dir, "cmd-0.sh"))); n >= maxLine {
		return nil, fmt.Errorf("the line that runs a command would be %d bytes, longer than a terminal line (%d): use a shorter output folder than %s", n, maxLine, opts.OutputDir)
	}
	sh.own(rc)

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

// writeScript saves a command for the shell to source.
func (sh *shell) writeScript(n int, cmd string) (string, error) {
	// A command may have removed the folder (rm -rf /tmp/*).
	if err := os.MkdirAll(sh.dir, 0o755); err != nil {
		return "", err
	}
	sh.own(sh.dir)
	if _, err := os.Stat(sh.after); err != nil {
		if err := sh.writeAfter(); err != nil {
			return "", err
		}
	}
	path := filepath.Join(sh.dir, "cmd-"+strconv.Itoa(n%8)+".sh")
	if err := os.WriteFile(path, []byte(cmd+"\n"), 0o644); err != nil {
		return "", err
	}
	sh.own(path)
	return path, nil
}

// writeAfter writes the file the shell sources after each command.
func (sh *shell) writeAfter() error {
	if err := os.WriteFile(sh.after, []byte(sh.afterText), 0o644); err != nil {
		return err
	}
	sh.own(sh.after)
	return nil
}

// line is what the terminal types to run command n saved at path: a line
// that parses whatever the command holds (see rcFile).
func (sh *shell) line(n int, path string) string {
	return "{ " + cmdVar + "=" + strconv.Itoa(n) + "; " + stVar + "=; } 2>/dev/null; . " + shellQuote(path) + "; { . " + shellQuote(sh.after) + "; } 2>/dev/null\n"
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
