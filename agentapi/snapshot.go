package agentapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Checkpoints of a sandbox's files go over two routes. POST /snapshot
// answers with a tar stream of what changed since a generation the agent
// still remembers; POST /restore takes a tar stream that brings the files
// back to a recorded state. Entry names are absolute paths ("/workspace/a.go";
// directories end in "/").

// The names of the JSON entries that frame the tar streams. They are
// relative, so they never collide with a path, which is absolute.
const (
	// SnapshotTrailerName is the last entry of a snapshot: a SnapshotTrailer.
	SnapshotTrailerName = ".gohands-snapshot.json"
	// RestoreHeaderName is the first entry of a restore: a RestoreHeader.
	RestoreHeaderName = ".gohands-restore.json"
)

// SnapshotRequest asks the agent for the files changed since Since.
type SnapshotRequest struct {
	// Roots are walked recursively, without following symlinks.
	Roots []string `json:"roots"`
	// Paths are single extra paths to consider, not walked into (the
	// container's own changed paths as the engine reports them). One that
	// does not exist is reported deleted.
	Paths []string `json:"paths,omitempty"`
	// Exclude are path prefixes left out ("/proc", the agent's own files).
	Exclude []string `json:"exclude,omitempty"`
	// Since is the generation of the last snapshot the caller kept. Empty
	// or unknown to the agent (it restarted, or has forgotten it), the
	// snapshot is full: every path counts as changed.
	Since string `json:"since,omitempty"`
	// MaxBytes bounds the content of the regular files sent; 0 is no bound.
	// Past it the agent answers 413 before streaming, or, when files grew
	// while being sent, ends the stream with a trailer saying Truncated.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// SnapshotTrailer closes a snapshot's tar stream.
type SnapshotTrailer struct {
	// Generation names the state this snapshot shows, to give as Since next
	// time.
	Generation string `json:"generation"`
	// Full is true when every path was sent (Since was empty or unknown):
	// the snapshot replaces the state rather than amending it.
	Full bool `json:"full"`
	// Deleted lists, sorted, the paths gone since Since (every path under a
	// deleted directory is listed), and requested Paths that do not exist.
	Deleted []string `json:"deleted,omitempty"`
	// Files counts the entries sent (files, directories and symlinks);
	// Bytes is the content of the regular files among them.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Truncated says MaxBytes was passed while streaming: the snapshot is
	// incomplete, must be discarded, and Generation is not kept.
	Truncated bool `json:"truncated,omitempty"`
}

// RestoreHeader opens a restore's tar stream.
type RestoreHeader struct {
	// Delete are paths removed first (a directory with all it holds).
	Delete []string `json:"delete,omitempty"`
	// Roots are the only trees written in: an entry or deletion outside
	// them is refused, as is any write through a symlink. After the
	// restore they are walked again to make the new generation.
	Roots []string `json:"roots"`
	// Paths are single paths outside Roots that may be written or deleted
	// too, and are part of the new generation (as SnapshotRequest.Paths).
	Paths []string `json:"paths,omitempty"`
	// Exclude are path prefixes never written and left out of the walk.
	Exclude []string `json:"exclude,omitempty"`
}

// RestoreResult is the answer of a restore.
type RestoreResult struct {
	// Generation names the restored state: a snapshot since it, with the
	// same roots, paths and exclusions, sends only what changed afterwards.
	Generation string `json:"generation"`
	Files      int    `json:"files"`   // entries written: files, directories and symlinks
	Bytes      int64  `json:"bytes"`   // content of the regular files written
	Deleted    int    `json:"deleted"` // paths of Delete that existed and were removed
}

// Snapshot asks for the files changed since req.Since and returns the raw
// tar stream, whose last entry is a SnapshotTrailer. The stream comes from
// the sandbox: the caller parses it as untrusted, with bounds, and treats a
// stream without a trailer as failed. The caller closes the reader.
func (c *Client) Snapshot(ctx context.Context, req SnapshotRequest) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodPost, "/snapshot", req)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != TarType {
		resp.Body.Close()
		return nil, fmt.Errorf("agent POST /snapshot: answered %q, not a tar stream", ct)
	}
	return resp.Body, nil
}

// Restore sends a tar stream whose first entry is a RestoreHeader and
// whose other entries are the files, directories and symlinks to write.
func (c *Client) Restore(ctx context.Context, r io.Reader) (RestoreResult, error) {
	var res RestoreResult
	resp, err := c.sendRaw(ctx, http.MethodPost, "/restore", r, TarType)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	err = decodeAnswer(resp, &res)
	return res, err
}
