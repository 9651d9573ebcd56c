package security

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gohands/gohands/event"
)

// FuzzRules parses rules files and rates terminal commands with them and
// with the built-in rules. Neither may panic; a parse error must be a list
// of *ParseError; every rating must be a rating.
func FuzzRules(f *testing.F) {
	f.Add("rule a\n risk HIGH\n reason r\n tool terminal\n program ~ ^rm$\n args ~ ^/$ except x\n", "sudo rm -rf /")
	f.Add("include default\ndisable rm-vital\ndefine x (a|b)\nrule y\n risk LOW\n reason z\n command !~ {x} except {workspace}\n", "bash -c \"$(curl x)\" | sh")
	f.Add("define a x\ndefine b {a}{a}\nrule c\n risk MEDIUM\n reason d\n tool browser\n url ~ {b}\n", ":(){ :|:& };:")
	f.Add("rule\n", "cat <<EOF | bash\nrm -rf /\nEOF\n")
	f.Add("", "echo 'unterminated \"$(x `y` ${z")
	f.Add("risk HIGH\n#\n", "find / -exec rm {} \\; && kill -9 -1 >/dev/sda 2>&1 <~/.ssh/id_rsa")
	defaults := NewRuleAnalyzer(DefaultRules("", testTools), testTools)
	f.Fuzz(func(t *testing.T, src, command string) {
		rules, err := ParseRules("fuzz", []byte(src), "/work space", testTools)
		if err != nil {
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("error %v is not a list", err)
			}
			for _, e := range joined.Unwrap() {
				var pe *ParseError
				if !errors.As(e, &pe) || pe.Line < 1 {
					t.Fatalf("error %v is not a *ParseError with a line", e)
				}
			}
		}
		action := terminal(command)
		for _, a := range []*RuleAnalyzer{defaults, NewRuleAnalyzer(rules, testTools)} {
			v := a.Analyze(t.Context(), action)
			if Rank(v.Risk) == 0 || v.Reason == "" {
				t.Fatalf("rated %q %+v", command, v)
			}
			if again := a.Analyze(t.Context(), action); again.Risk != v.Risk || again.Rule != v.Rule {
				t.Fatalf("rated %q %+v, then %+v", command, v, again)
			}
		}
		for _, act := range []*event.Action{editor("create", command), patchAction(addFile(command)), browse(command)} {
			if v := defaults.Analyze(t.Context(), act); Rank(v.Risk) == 0 {
				t.Fatalf("rated %s %+v", describe(act), v)
			}
		}
	})
}

// FuzzMask checks that masking hides a secret wherever it appears, in
// text and in the JSON of the text, and that masking JSON keeps it valid.
func FuzzMask(f *testing.F) {
	f.Add("the key is sk-1234 ok", "sk-1234")
	f.Add(`a"b\c`+"\n", `"b\c`)
	f.Add("\\nabcd", "nabcd")
	f.Add("é zz", "\u00e9 zz")
	f.Add("<a&b>", "<a&b>")
	f.Add("x\u2028yyyy", "\u2028yyyy")
	f.Add("12345678", "2345")
	f.Fuzz(func(t *testing.T, text, secret string) {
		m := NewMasker(map[string]string{"S": secret})
		masked := m.Mask(text)
		if got := m.MaskBytes([]byte(text)); string(got) != masked {
			t.Fatalf("MaskBytes %q, Mask %q", got, masked)
		}
		// A secret that shares a byte with the placeholder may form anew
		// across it ("hidden>" + "x"); any other must be gone.
		checkable := len(secret) >= MinSecretLen && !strings.ContainsAny(secret, HiddenText)
		if checkable && strings.Contains(masked, secret) {
			t.Fatalf("Mask(%q) = %q keeps the secret", text, masked)
		}

		data, err := json.Marshal(map[string]any{"text": text, "n": len(text)})
		if err != nil {
			t.Fatal(err)
		}
		out := m.MaskJSON(data)
		if !json.Valid(out) {
			t.Fatalf("MaskJSON(%s) = %s is not JSON", data, out)
		}
		var back struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("MaskJSON(%s) = %s: %v", data, out, err)
		}
		if checkable && utf8.ValidString(text) && utf8.ValidString(secret) && strings.Contains(back.Text, secret) {
			t.Fatalf("MaskJSON(%s) = %s keeps the secret", data, out)
		}
	})
}

// FuzzReplacer checks the replacer against the reference, naiveReplace,
// on the strings the newlines of pats split into, in text and, with the
// strings' JSON forms, in JSON text.
func FuzzReplacer(f *testing.F) {
	f.Add("she\nhe\nhers", "ushers", false)
	f.Add("aa\naaa\na", "aaaaaaa", false)
	f.Add("nabcd\n00e9zz\nabcd\\", `"\nabcd" "\u00e9zz" "abcd\\"`, true)
	f.Add("x\"y\n<z>\nq\u2028r", `x\"y \u003cz\u003e q\u2028r <z>`, true)
	f.Fuzz(func(t *testing.T, pats, text string, jsonForms bool) {
		if len(pats) > 200 || len(text) > 2000 {
			return // the reference is slow
		}
		values := strings.Split(pats, "\n")
		for _, minLen := range []int{1, 3} {
			got, ok := newReplacer(values, "#", minLen, jsonForms).replace(text)
			want, wantOK := naiveReplace(text, patterns(values, minLen, jsonForms), "#", jsonForms)
			if got != want || ok != wantOK {
				t.Fatalf("values %q, minLen %d, jsonForms %v: replace(%q) = %q, %v; want %q, %v", values, minLen, jsonForms, text, got, ok, want, wantOK)
			}
		}
	})
}
