package checkpoint

import "github.com/gohands/gohands/agentapi"

// The runtime-agent's snapshot and restore tars carry one JSON entry of
// GoHands' own: the trailer closes a snapshot, the header opens a restore.
// Their names and shapes are the agent wire's (package agentapi).
const (
	SnapshotTrailerName = agentapi.SnapshotTrailerName
	RestoreHeaderName   = agentapi.RestoreHeaderName
)

// SnapshotTrailer closes a snapshot tar.
type SnapshotTrailer = agentapi.SnapshotTrailer

// RestoreHeader opens a restore tar.
type RestoreHeader = agentapi.RestoreHeader
