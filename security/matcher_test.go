package security

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// naiveReplace is the reference replacer: at each position it tries every
// string, the longest first, and widens matches over backslash escapes as
// replacer does. It reports whether it replaced anything.
func naiveReplace(s string, pats []string, with string, escapes bool) (string, bool) {
	longestAt := func(i int) int {
		n := 0
		for _, p := range pats {
			if len(p) > n && strings.HasPrefix(s[i:], p) {
				n = len(p)
			}
		}
		return n
	}
	var b strings.Builder
	last, matched := 0, false
	escStart, escEnd := 0, 0
	track := func(p int) {
		if p >= escEnd && s[p] == '\\' {
			n := 2
			if p+1 < len(s) && s[p+1] == 'u' {
				n = 6
			}
			escStart, escEnd = p, min(p+n, len(s))
		}
	}
	for i := 0; i < len(s); i++ {
		if escapes {
			track(i)
		}
		n := longestAt(i)
		if n == 0 {
			continue
		}
		start, end := i, i+n
		if escapes {
			if escStart < i && i < escEnd {
				start = max(escStart, last)
			}
			for p := i + 1; p < end; p++ {
				track(p)
			}
			if escStart < end && end < escEnd {
				end = escEnd
			}
		}
		b.WriteString(s[last:start])
		b.WriteString(with)
		last, matched = end, true
		i = end - 1
	}
	if !matched {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

func TestMatcherScan(t *testing.T) {
	m := newMatcher([]string{"he", "she", "his", "hers", "", "she", "e"})
	got := fmt.Sprint(m.scan("ushers hishe", nil))
	// From the end: "e" at 11, "he" at 10, "she" at 9, "his" at 7,
	// "e" at 3, "hers" at 2, "she" at 1.
	want := "[{11 1} {10 2} {9 3} {7 3} {3 1} {2 4} {1 3}]"
	if got != want {
		t.Errorf("scan = %s, want %s", got, want)
	}
	if found := newMatcher(nil).scan("anything", nil); len(found) != 0 {
		t.Errorf("empty matcher found %v", found)
	}
}

// TestMatcherAgainstNaive compares the replacer with the reference on
// random texts over a small alphabet, where strings overlap and nest
// often, with many strings (dense nodes) and few.
func TestMatcherAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for round := range 300 {
		alphabet := "ab\\u\"0"
		if round%3 == 0 {
			alphabet = "abcdefghijklmnop\\"
		}
		var pats []string
		for range 1 + rng.IntN(60) {
			pats = append(pats, word(alphabet, 1+rng.IntN(6)))
		}
		r := &replacer{m: newMatcher(pats), with: "#", escapes: round%2 == 0}
		for range 20 {
			text := word(alphabet, rng.IntN(80))
			got, ok := r.replace(text)
			if want, wantOK := naiveReplace(text, pats, "#", r.escapes); got != want || ok != wantOK {
				t.Fatalf("strings %q escapes %v: replace(%q) = %q, %v; want %q, %v", pats, r.escapes, text, got, ok, want, wantOK)
			}
		}
	}
}

// TestMatcherBuildIsLinear checks that building a matcher does work in
// proportion to the length of its strings, on the shapes that make a
// careless build quadratic: many distinct strings (the duplicate check
// of old), many equal ones, and strings that share long prefixes and
// suffixes (long failure chains).
func TestMatcherBuildIsLinear(t *testing.T) {
	distinct := make([]string, 100_000)
	for i := range distinct {
		distinct[i] = fmt.Sprintf("secret-%08d-value", i)
	}
	same := make([]string, 10_000)
	for i := range same {
		same[i] = "the-very-same-secret"
	}
	var runs []string
	for i := range 300 {
		runs = append(runs, strings.Repeat("a", i)+"b"+strings.Repeat("a", i))
	}
	for name, strs := range map[string][]string{"distinct": distinct, "same": same, "runs": runs} {
		t.Run(name, func(t *testing.T) {
			total := 0
			for _, s := range strs {
				total += len(s)
			}
			m := newMatcher(strs)
			if len(m.nodes) > total+1 {
				t.Errorf("%d nodes for %d bytes of strings", len(m.nodes), total)
			}
			if m.steps > 3*total+1 {
				t.Errorf("%d steps to build a matcher of %d bytes of strings, want at most %d", m.steps, total, 3*total+1)
			}
		})
	}
}
