package session

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNameStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []GitChange
	}{
		{"empty", "", nil},
		{"kinds", "M\x00a.txt\x00A\x00b c.txt\x00D\x00d\x00T\x00link\x00U\x00u\x00", []GitChange{
			{GitUpdated, "a.txt"}, {GitAdded, "b c.txt"}, {GitDeleted, "d"}, {GitUpdated, "link"}, {GitUpdated, "u"}}},
		{"rename and copy", "R100\x00old\x00new\x00C075\x00src\x00copy\x00", []GitChange{
			{GitDeleted, "old"}, {GitAdded, "new"}, {GitAdded, "copy"}}},
		{"a name with a newline and a tab", "M\x00x\ny\tz\x00", []GitChange{{GitUpdated, "x\ny\tz"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNameStatus(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"M\x00", "R100\x00only-one\x00"} {
		if _, err := parseNameStatus(bad); err == nil {
			t.Errorf("parseNameStatus(%q): no error", bad)
		}
	}
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"HEAD", "HEAD~1", "main", "origin/main", "v1.2.3", "abc123", "HEAD^", "main@{1}"} {
		if err := checkRef("ref", ok); err != nil {
			t.Errorf("checkRef(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-p", "--output=x", ".hidden", "a..b", "a b", "a\x00b", "a;b", "$(id)", strings.Repeat("a", 300)} {
		if err := checkRef("ref", bad); err == nil {
			t.Errorf("checkRef(%q): accepted", bad)
		}
	}
}

// FuzzParseNameStatus: git's output is the sandbox's, so any bytes; the
// parser must not panic, and every change it returns has a path and a
// known status.
func FuzzParseNameStatus(f *testing.F) {
	f.Add("M\x00a\x00R090\x00b\x00c\x00")
	f.Add("C\x00\x00\x00A")
	f.Fuzz(func(t *testing.T, in string) {
		changes, err := parseNameStatus(in)
		if err != nil {
			return
		}
		for _, c := range changes {
			if c.Path == "" {
				t.Fatalf("an empty path from %q", in)
			}
			switch c.Status {
			case GitAdded, GitDeleted, GitUpdated:
			default:
				t.Fatalf("status %q from %q", c.Status, in)
			}
		}
	})
}
