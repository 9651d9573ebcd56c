package agentapi

// The wire of the agent's /snapshot and /restore as the design of
// checkpoints fixes it; the agent's side and these types come with the
// runtime-agent's change, which replaces this file.

import (
	"context"
	"io"
	"net/http"
)

// SnapshotRequest asks the agent for a tar of the files changed since a
// generation.
type SnapshotRequest struct {
	Roots    []string `json:"roots"`
	Paths    []string `json:"paths,omitempty"`
	Exclude  []string `json:"exclude,omitempty"`
	Since    string   `json:"since,omitempty"`
	MaxBytes int64    `json:"max_bytes,omitempty"`
}

// RestoreResult is the agent's answer to a restore.
type RestoreResult struct {
	Generation string `json:"generation"`
	Files      int    `json:"files"`
	Bytes      int64  `json:"bytes"`
}

// Snapshot returns the agent's snapshot tar stream; the caller closes it.
func (c *Client) Snapshot(ctx context.Context, req SnapshotRequest) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodPost, "/snapshot", req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Restore sends the agent a restore tar stream.
func (c *Client) Restore(ctx context.Context, r io.Reader) (RestoreResult, error) {
	var out RestoreResult
	resp, err := c.sendRaw(ctx, http.MethodPost, "/restore", r, "application/x-tar")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, decodeAnswer(resp, &out)
}
