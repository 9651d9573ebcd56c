package security

import (
	"fmt"
	"strings"

	"github.com/gohands/gohands/event"
)

// The confirmation policy kinds.
const (
	NeverConfirm  = "NeverConfirm"
	AlwaysConfirm = "AlwaysConfirm"
	ConfirmRisky  = "ConfirmRisky"
)

// Policy decides which actions wait for the user to confirm them: a
// conversation's confirmation_policy.
type Policy struct {
	// Kind is NeverConfirm, AlwaysConfirm or ConfirmRisky. The zero Policy
	// is NeverConfirm, the default of a conversation.
	Kind string `json:"kind"`
	// Threshold (ConfirmRisky) is LOW, MEDIUM or HIGH, in any case:
	// actions rated at least this wait. HIGH if empty.
	Threshold string `json:"threshold,omitempty"`
	// ConfirmUnknown (ConfirmRisky) makes actions rated UNKNOWN wait too;
	// true if nil.
	ConfirmUnknown *bool `json:"confirm_unknown,omitempty"`
}

// Validate reports what is wrong with a policy a client sent, if anything.
// The kind is required there, though the zero Policy means NeverConfirm.
func (p Policy) Validate() error {
	switch p.Kind {
	case NeverConfirm, AlwaysConfirm:
		return nil
	case "":
		return fmt.Errorf("confirmation_policy.kind: missing")
	case ConfirmRisky:
		if p.Threshold != "" && Rank(event.Risk(strings.ToUpper(p.Threshold))) == 0 {
			return fmt.Errorf("confirmation_policy.threshold: %q is not LOW, MEDIUM or HIGH", p.Threshold)
		}
		return nil
	}
	return fmt.Errorf("confirmation_policy.kind: %q is not NeverConfirm, AlwaysConfirm or ConfirmRisky", p.Kind)
}

// NeedsConfirmation reports whether an action rated v must wait for the
// user under p. A policy that does not validate errs on the side of
// asking: an unknown kind confirms everything, and a threshold that is not
// a rating counts as LOW.
func NeedsConfirmation(p Policy, v Verdict) bool {
	switch p.Kind {
	case "", NeverConfirm:
		return false
	case ConfirmRisky:
	default:
		return true
	}
	rank := Rank(v.Risk)
	if rank == 0 {
		return p.ConfirmUnknown == nil || *p.ConfirmUnknown
	}
	threshold := Rank(event.RiskHigh)
	if p.Threshold != "" {
		threshold = max(Rank(event.Risk(strings.ToUpper(p.Threshold))), Rank(event.RiskLow))
	}
	return rank >= threshold
}
