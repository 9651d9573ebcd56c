package security

import (
	"encoding/json"
	"testing"

	"github.com/gohands/gohands/event"
	"github.com/google/go-cmp/cmp"
)

func TestNeedsConfirmation(t *testing.T) {
	yes, no := true, false
	risky := func(threshold string, unknown *bool) Policy {
		return Policy{Kind: ConfirmRisky, Threshold: threshold, ConfirmUnknown: unknown}
	}
	risks := []event.Risk{event.RiskUnknown, event.RiskLow, event.RiskMedium, event.RiskHigh}
	tests := []struct {
		name   string
		policy Policy
		want   []bool // for UNKNOWN, LOW, MEDIUM, HIGH
	}{
		{"never", Policy{Kind: NeverConfirm}, []bool{false, false, false, false}},
		{"zero policy", Policy{}, []bool{false, false, false, false}},
		{"always", Policy{Kind: AlwaysConfirm}, []bool{true, true, true, true}},
		{"risky defaults", risky("", nil), []bool{true, false, false, true}},
		{"risky high", risky("HIGH", &yes), []bool{true, false, false, true}},
		{"risky medium", risky("MEDIUM", nil), []bool{true, false, true, true}},
		{"risky low", risky("low", nil), []bool{true, true, true, true}},
		{"risky high, unknown passes", risky("HIGH", &no), []bool{false, false, false, true}},
		{"risky medium, unknown passes", risky("medium", &no), []bool{false, false, true, true}},
		{"risky, bad threshold counts as LOW", risky("EXTREME", &no), []bool{false, true, true, true}},
		{"unknown kind confirms all", Policy{Kind: "ConfirmSome"}, []bool{true, true, true, true}},
	}
	for _, tt := range tests {
		var got []bool
		for _, r := range risks {
			got = append(got, NeedsConfirmation(tt.policy, Verdict{Risk: r}))
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tt.name, diff)
		}
	}
	if !NeedsConfirmation(risky("", nil), Verdict{}) {
		t.Error("an empty rating is UNKNOWN and needs confirmation by default")
	}
}

func TestPolicyJSONAndValidate(t *testing.T) {
	tests := []struct {
		json string
		err  string
	}{
		{`{"kind":"NeverConfirm"}`, ""},
		{`{"kind":"AlwaysConfirm"}`, ""},
		{`{"kind":"ConfirmRisky","threshold":"MEDIUM","confirm_unknown":false}`, ""},
		{`{"kind":"ConfirmRisky","threshold":"low"}`, ""},
		{`{"kind":"ConfirmRisky"}`, ""},
		{`{"kind":"ConfirmRisky","threshold":"UNKNOWN"}`, `confirmation_policy.threshold: "UNKNOWN" is not LOW, MEDIUM or HIGH`},
		{`{"kind":"ConfirmRisky","threshold":"x"}`, `confirmation_policy.threshold: "x" is not LOW, MEDIUM or HIGH`},
		{`{"kind":"Sometimes"}`, `confirmation_policy.kind: "Sometimes" is not NeverConfirm, AlwaysConfirm or ConfirmRisky`},
		{`{}`, `confirmation_policy.kind: missing`},
	}
	for _, tt := range tests {
		var p Policy
		if err := json.Unmarshal([]byte(tt.json), &p); err != nil {
			t.Fatal(err)
		}
		err := p.Validate()
		if (err == nil && tt.err != "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("%s: got %v, want %q", tt.json, err, tt.err)
		}
	}
	no := false
	data, _ := json.Marshal(Policy{Kind: ConfirmRisky, Threshold: "HIGH", ConfirmUnknown: &no})
	if string(data) != `{"kind":"ConfirmRisky","threshold":"HIGH","confirm_unknown":false}` {
		t.Errorf("marshal: %s", data)
	}
}
