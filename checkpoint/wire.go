package checkpoint

// The runtime-agent's snapshot and restore tars carry one JSON entry of
// GoHands' own: the trailer closes a snapshot, the header opens a restore.
// These shapes are the agent wire's (design of issue 17); they are declared
// here until package agentapi has them, and must stay identical to those.

// SnapshotTrailerName names the last entry of a snapshot tar.
const SnapshotTrailerName = ".gohands-snapshot.json"

// RestoreHeaderName names the first entry of a restore tar.
const RestoreHeaderName = ".gohands-restore.json"

// SnapshotTrailer closes a snapshot tar: what the agent's walk found beyond
// the entries themselves.
type SnapshotTrailer struct {
	// Generation names the agent's manifest after this snapshot; the next
	// snapshot's Since.
	Generation string `json:"generation"`
	// Full: every path is in the tar; the snapshot replaces the state.
	Full bool `json:"full"`
	// Deleted lists the paths gone since the Since generation (a folder
	// stands for everything under it).
	Deleted []string `json:"deleted,omitempty"`
	Files   int      `json:"files"`
	Bytes   int64    `json:"bytes"`
	// Truncated: the agent stopped at its MaxBytes; the store refuses it.
	Truncated bool `json:"truncated,omitempty"`
}

// RestoreHeader opens a restore tar: the paths the agent deletes before it
// writes the entries that follow, and the roots it may write under.
type RestoreHeader struct {
	Delete []string `json:"delete,omitempty"`
	Roots  []string `json:"roots"`
	// Paths are single paths outside Roots the agent may write or delete.
	Paths []string `json:"paths,omitempty"`
	// Exclude are path prefixes the agent never writes.
	Exclude []string `json:"exclude,omitempty"`
}
