package docker

import (
	"strings"
	"testing"

	"github.com/gohands/gohands/sandbox"
)

// A Go crash report as the runtime-agent prints it when it gets SIGSEGV:
// the head line, then goroutines, then the registers.
const segvReport = `time=2026-11-22T13:49:02Z level=INFO msg="runtime-agent serving"
SIGSEGV: segmentation violation
PC=0x48d2c1 m=0 sigcode=0

goroutine 0 gp=0xc43280 m=0 mp=0xc445a0 [idle]:
runtime.futex(0xc445b8, 0x80, 0x0, 0x0, 0x0, 0x0)
	/usr/local/go/src/runtime/sys_linux_amd64.s:557 +0x21 fp=0x7fffb80f7920 sp=0x7fffb80f7918 pc=0x48d2c1
rax    0xca
rbx    0x0
rip    0x48d2c1
gs     0x0
`

func TestCrashLine(t *testing.T) {
	for _, tc := range []struct{ logs, want string }{
		{segvReport, "SIGSEGV: segmentation violation"},
		{"starting\npanic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.main()\n", "panic: runtime error: index out of range [3] with length 2"},
		{"fatal error: concurrent map writes\n\ngoroutine 7 [running]:\n", "fatal error: concurrent map writes"},
		{"level=INFO msg=\"SIGTERM: shutting down\"\nbye\n", ""}, // not at the start of a line
		{"SIG: no name\nSIGsegv: lower case\n", ""},
		{"", ""},
	} {
		if got := crashLine(tc.logs); got != tc.want {
			t.Errorf("crashLine(%q) = %q, want %q", tc.logs, got, tc.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 5, "a\nb\nc"},
		{"a\nb\nc\n", 0, ""},
		{"\nb\n", 1, "b"},
		{"", 3, ""},
	} {
		if got := lastLines(tc.s, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestExitErrorSaysWhyItCrashed(t *testing.T) {
	e := &sandbox.ExitError{Container: "c", ExitCode: 2, Crash: crashLine(segvReport), Logs: lastLines(segvReport, 3)}
	msg := e.Error()
	for _, want := range []string{"code 2", "the runtime-agent crashed: SIGSEGV: segmentation violation", "rip    0x48d2c1\ngs     0x0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}
