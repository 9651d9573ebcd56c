package session

import (
	"encoding/json"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gohands/gohands/security"
)

// run feeds chunks to a bashOutput and returns what went out as they came
// and the last event's text.
func runBashOutput(limit int, chunks []string, fullPath, cleaned string) (streamed []string, last string) {
	o := newBashOutput(limit)
	for _, c := range chunks {
		now, note := o.add(c)
		if now != "" {
			streamed = append(streamed, now)
		}
		if note != "" {
			streamed = append(streamed, note)
		}
	}
	return streamed, o.end(fullPath, cleaned)
}

// bashNoteSlack bounds the two notes of a command cut short.
const bashNoteSlack = 512

func TestBashOutputUnderTheBound(t *testing.T) {
	t.Parallel()
	chunks := []string{"hello\n", strings.Repeat("x", 3000), "é\n"}
	streamed, last := runBashOutput(4096, chunks, "", "")
	if got, want := strings.Join(streamed, ""), strings.Join(chunks, ""); got != want {
		t.Errorf("streamed %q, want everything: %q", got, want)
	}
	if last != "" {
		t.Errorf("last event %q, want nothing", last)
	}
}

func TestBashOutputPastTheBound(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	// 20 MB in chunks of the agent's size, each line numbered, with
	// multi-byte characters so that cuts can fall inside one.
	var chunks []string
	var whole strings.Builder
	for i := 0; whole.Len() < 20<<20; i++ {
		var b strings.Builder
		for b.Len() < 256<<10 {
			b.WriteString("line é€ ")
			b.WriteString(strings.Repeat("z", i%7))
			b.WriteString("\n")
		}
		chunks = append(chunks, b.String())
		whole.WriteString(b.String())
	}
	const path = "/tmp/gohands/api-0123-1.log"
	streamed, last := runBashOutput(limit, chunks, path, "cleaned, cut")
	held := jsonLen(last)
	for _, s := range streamed {
		held += jsonLen(s)
	}
	if held > limit+bashNoteSlack {
		t.Errorf("the events hold %d bytes, want at most %d + %d", held, limit, bashNoteSlack)
	}
	all := whole.String()
	head := strings.Join(streamed[:len(streamed)-1], "")
	if !strings.HasPrefix(all, head) || jsonLen(head) < limit*3/4-6 {
		t.Errorf("streamed %d bytes, not the first three quarters of the bound of the output", len(head))
	}
	if note := streamed[len(streamed)-1]; !strings.Contains(note, "not streamed") {
		t.Errorf("no note when the head was spent: %q", note)
	}
	note, tail, ok := strings.Cut(last, "...]\n")
	if !ok || !strings.Contains(note, path) || !strings.Contains(note, strconv.Itoa(len(all))+" bytes") {
		t.Errorf("last event's note %q does not name the full output's path and size", note)
	}
	if !strings.HasSuffix(all, tail) || jsonLen(tail) < limit/4-6 || jsonLen(tail) > limit/4 {
		t.Errorf("last event's tail is %d bytes, not the end of the output", len(tail))
	}
	for i, s := range append(streamed, last) {
		if !utf8.ValidString(s) {
			t.Errorf("event %d cuts a character: %q...", i, s[:min(len(s), 40)])
		}
	}
}

func TestBashOutputWithoutFullOutputFile(t *testing.T) {
	t.Parallel()
	// Raw output long with control sequences, short once cleaned: the
	// agent keeps no file, and its answer is the whole output.
	chunks := []string{strings.Repeat("\x1b[2K\rprogress", 2000), "\x1b[2K\rdone\n"}
	cleaned := strings.Repeat("progress\n", 200) + "done"
	streamed, last := runBashOutput(4096, chunks, "", cleaned)
	held := jsonLen(last)
	for _, s := range streamed {
		held += jsonLen(s)
	}
	if held > 4096+bashNoteSlack {
		t.Errorf("the events hold %d bytes, want at most %d", held, 4096+bashNoteSlack)
	}
	if !strings.Contains(last, "no full-output file") || !strings.HasSuffix(last, "progress\ndone") {
		t.Errorf("last event %q, want a note and the end of the cleaned output", last)
	}
}

func TestStreamMaskerSplitSecrets(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{"A": "s3cr3t-value-123", "B": "abcab", "C": "token"}
	m := security.NewMasker(secrets)
	values := []string{secrets["A"], secrets["B"], secrets["C"]}
	texts := []string{
		"export A=s3cr3t-value-123; echo done\n",
		"xabcab and abcabcab and tokentoken\n",
		"s3cr3t-value-12 is not it, s3cr3t-value-123 is\n",
		"nothing to hide here\n",
	}
	for _, text := range texts {
		want := m.Mask(text)
		// Every way of cutting the text in two, and in three.
		for i := 0; i <= len(text); i++ {
			for j := i; j <= len(text); j += 3 {
				sm := newStreamMasker(m, values)
				var parts []string
				for _, c := range []string{text[:i], text[i:j], text[j:]} {
					parts = append(parts, sm.add(c))
				}
				parts = append(parts, sm.flush())
				got := strings.Join(parts, "")
				if got != want {
					t.Fatalf("%q cut at %d and %d: %q, want %q", text, i, j, got, want)
				}
				for _, p := range parts {
					for _, v := range values {
						if strings.Contains(p, v) {
							t.Fatalf("%q cut at %d and %d: a part shows %q: %q", text, i, j, v, p)
						}
					}
				}
			}
		}
	}
	// Output that cannot start a secret is not held back.
	sm := newStreamMasker(m, values)
	if got := sm.add("hello\n"); got != "hello\n" {
		t.Errorf("plain output held back: got %q", got)
	}
	if got := sm.add("s3cr"); got != "" {
		t.Errorf("the start of a secret went out: %q", got)
	}
	if got := sm.add("eenshot\n"); got != "s3creenshot\n" {
		t.Errorf("after the start of a secret that was not one: %q", got)
	}
}

// FuzzStreamMasker holds the stream masker to the masker: however the
// output is cut into chunks, no secret goes out, and what goes out is
// what masking it whole gives. (The masker widens a match that starts
// inside a backslash escape to the escape, which it reads in raw text
// too: there a cut may keep the backslash.)
func FuzzStreamMasker(f *testing.F) {
	f.Add("export A=s3cr3t-value-123; echo done\n", uint8(5), uint8(17))
	f.Add("abcabcab\\\"token", uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, text string, a, b uint8) {
		values := []string{"s3cr3t-value-123", "abcab", "token", `q"uote`}
		m := security.NewMasker(map[string]string{"A": values[0], "B": values[1], "C": values[2], "D": values[3]})
		i := min(int(a), len(text))
		j := min(i+int(b), len(text))
		sm := newStreamMasker(m, values)
		got := sm.add(text[:i]) + sm.add(text[i:j]) + sm.add(text[j:]) + sm.flush()
		for _, v := range values {
			if strings.Contains(got, v) {
				t.Errorf("%q cut at %d and %d: %q shows %q", text, i, j, got, v)
			}
		}
		if want := m.Mask(text); got != want && !strings.Contains(text, `\`) {
			t.Errorf("%q cut at %d and %d: %q, want %q", text, i, j, got, want)
		}
	})
}

// FuzzJSONLen holds jsonLen to encoding/json: the bound on bash events
// counts what their JSON takes.
func FuzzJSONLen(f *testing.F) {
	f.Add("plain text\n")
	f.Add("\x1b[2K\r<a href=\"x\">&</a>\u2028\xff\\")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonLen(s), len(b)-2; got != want {
			t.Errorf("jsonLen(%q) = %d, want %d (%s)", s, got, want, b)
		}
		n, size := jsonPrefix(s, len(b)/3)
		if size > len(b)/3 || size != jsonLen(s[:n]) || (utf8.ValidString(s) && !utf8.ValidString(s[:n])) {
			t.Errorf("jsonPrefix(%q, %d) = %d, %d", s, len(b)/3, n, size)
		}
	})
}

// BenchmarkBashOutputHeld gives a conversation's bash events the output
// of a command printing 200 MB, in the agent's chunks of 256 KiB, as Bash
// does (masked, bounded, published), and reports the heap they hold
// afterwards (held-MiB). The baseline, measured in the same run, is the
// same output published chunk by chunk into a hub bounded only in count,
// as the bash events were before the bound (unbounded-held-MiB); x-before
// is the ratio of the two.
func BenchmarkBashOutputHeld(b *testing.B) {
	const total = 200 << 20
	chunk := strings.Repeat("0123456789abcdef\n", (256<<10)/17)
	publish := func(h *bashHub, stdout string) {
		raw, err := json.Marshal(BashOutput{Kind: "BashOutput", CommandID: "c", Stdout: stdout})
		if err != nil {
			b.Fatal(err)
		}
		h.publish(raw)
	}
	held := func(bounded bool) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var h *bashHub
		if bounded {
			h = newBashHub(bashHubBytesPerLimit * DefaultBashOutputMaxBytes)
			o := newBashOutput(DefaultBashOutputMaxBytes)
			m := newStreamMasker(nil, nil)
			for n := 0; n < total; n += len(chunk) {
				now, note := o.add(m.add(chunk))
				for _, s := range []string{now, note} {
					if s != "" {
						publish(h, s)
					}
				}
			}
			publish(h, o.end("/tmp/gohands/api-1.log", ""))
		} else {
			h = newBashHub(math.MaxInt)
			for n := 0; n < total; n += len(chunk) {
				publish(h, chunk)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(h)
		return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	}
	var bounded, unbounded float64
	for b.Loop() {
		unbounded = held(false)
		bounded = held(true)
	}
	b.ReportMetric(bounded, "held-MiB")
	b.ReportMetric(unbounded, "unbounded-held-MiB")
	b.ReportMetric(bounded/unbounded, "x-before")
}

// BenchmarkStreamMasker masks output in the agent's small and large
// chunks with a conversation's secrets (one of them 2 KiB, a key file,
// say); MB/s is output masked per second.
func BenchmarkStreamMasker(b *testing.B) {
	key := strings.Repeat("k3y-", 512)
	values := []string{"tok-5f2c9a81e7d3", key, "sk-proj-0123456789abcdef"}
	m := security.NewMasker(map[string]string{"A": values[0], "B": values[1], "C": values[2]})
	for _, size := range []int{4 << 10, 256 << 10} {
		chunk := strings.Repeat("0123456789abcdef tok-5f2c k\n", size/28)
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			sm := newStreamMasker(m, values)
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				sm.add(chunk)
			}
		})
	}
}
