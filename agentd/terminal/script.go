package terminal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// How a command's end is found. Every command is written to a file, and
// the terminal types one fixed line that sources it, then after.sh:
//
//	{ __gohands_cmd=N; __gohands_st=; } 2>/dev/null; . 'cmd-N.sh'; { . 'after.sh'; } 2>/dev/null
//
// (the braces keep the line's own commands out of a `set -x` trace).
// That line always parses, whatever the command is: a syntax error or an
// unbalanced quote in the file makes `.` fail with status 2, a here-doc
// left open ends with the file, and the line goes on; typed as it is,
// the command would be dropped with its number, or leave the shell
// waiting for more input. The prompt (PS1) is the marker the scanner looks for; it
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
// The files are the agent's, in a folder of its own with a name no one
// can guess: the shell's user may read them but not write there, so the
// agent (root, often) never writes a command into a file that user made
// point elsewhere.
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

// scripts is a shell's private folder: its rc file, after.sh and the
// files its commands run from.
type scripts struct {
	dir       string
	root      *os.Root // dir, so that no name in it leads out of it
	rc        string   // the rc file's path
	after     string   // after.sh's path
	rcText    string
	afterText string
}

// newScripts makes the folder of a shell of terminal name in outputDir,
// with its rc file and after.sh.
func newScripts(outputDir, name, nonce string) (*scripts, error) {
	suffix := make([]byte, 6)
	rand.Read(suffix)
	dir := filepath.Join(outputDir, "terminal-"+name+"-"+hex.EncodeToString(suffix))
	// Mkdir fails on anything already there, a link planted by a guess
	// included.
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the shell's folder: %w", err)
	}
	s := &scripts{dir: dir, rc: filepath.Join(dir, "rc.sh"), after: filepath.Join(dir, "after.sh")}
	ps1 := shellQuote("\x1eGH" + nonce + ";${" + stVar + ":-$?};${" + cmdVar + ":-0};$PWD;" + nonce + "\x1e")
	pc := shellQuote(fmt.Sprintf(promptCommand, shellQuote(s.rc), ps1))
	s.rcText = fmt.Sprintf(rcFile, pc, ps1)
	s.afterText = stVar + "=$?\nPS1=" + ps1 + "\nPROMPT_COMMAND=" + pc + "\n"
	if n := len(s.line(1<<31, filepath.Join(dir, "cmd-0.sh"))); n >= maxLine {
		os.Remove(dir)
		return nil, fmt.Errorf("the line that runs a command would be %d bytes, longer than a terminal line (%d): use a shorter output folder than %s", n, maxLine, outputDir)
	}
	if err := s.open(); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// open opens the folder and writes the rc file and after.sh into it.
func (s *scripts) open() error {
	// The umask must not keep the shell's user from reading.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("the shell's folder: %w", err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return fmt.Errorf("the shell's folder: %w", err)
	}
	if s.root != nil {
		s.root.Close()
	}
	s.root = root
	if err := s.write("rc.sh", s.rcText); err != nil {
		return err
	}
	return s.write("after.sh", s.afterText)
}

// command saves command n for the shell to source and returns its path.
func (s *scripts) command(n int, cmd string) (string, error) {
	name := "cmd-" + strconv.Itoa(n%8) + ".sh"
	err := s.write(name, cmd+"\n")
	if errors.Is(err, fs.ErrNotExist) {
		// A shell of the agent's own user removed the folder (rm -rf
		// /tmp/*): make it again.
		if err = os.Mkdir(s.dir, 0o755); err == nil {
			if err = s.open(); err == nil {
				err = s.write(name, cmd+"\n")
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("save the command: %w", err)
	}
	if _, err := s.root.Stat("after.sh"); err != nil {
		if err := s.write("after.sh", s.afterText); err != nil {
			return "", fmt.Errorf("save after.sh: %w", err)
		}
	}
	return filepath.Join(s.dir, name), nil
}

// write puts text in the file name of the folder, in place: ext4 flushes a
// file cut to nothing and written again when it is closed (auto_da_alloc),
// which would cost milliseconds on every command.
func (s *scripts) write(name, text string) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Truncate(int64(len(text)))
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// line is what the terminal types to run command n saved at path: a line
// that parses whatever the command holds.
func (s *scripts) line(n int, path string) string {
	return "{ " + cmdVar + "=" + strconv.Itoa(n) + "; " + stVar + "=; } 2>/dev/null; . " + shellQuote(path) + "; { . " + shellQuote(s.after) + "; } 2>/dev/null\n"
}

// remove deletes the folder, once the shell is gone.
func (s *scripts) remove() {
	if s.root != nil {
		s.root.Close()
		s.root = nil
	}
	os.RemoveAll(s.dir)
}
