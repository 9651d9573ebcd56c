package session

import "testing"

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindInternal: "internal", KindInvalid: "invalid", KindRefused: "refused by the agent", KindRejected: "rejected", Kind(99): "Kind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
