package session

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/checkpoint"
)

// maxRestoreHeader bounds the header entry a rewrite reads into memory.
const maxRestoreHeader = 64 << 20

// folderMap turns the paths a checkpoint holds under earlier host folders
// (those of the conversations a fork came from) into paths under the
// fork's own folder.
type folderMap struct {
	from []string
	to   string
}

// path maps p.
func (fm folderMap) path(p string) string {
	for _, f := range fm.from {
		if p == f || strings.HasPrefix(p, f+"/") {
			return fm.to + p[len(f):]
		}
	}
	return p
}

// restoreHeader is what a restore tar's header says beyond the store's
// deletions: the working folder as the one root, the paths outside it the
// checkpoints hold (the container's own changed files) as single paths,
// and the paths never written; and the folders to map.
type restoreHeader struct {
	fm    folderMap
	root  string
	paths []string
}

// outside lists the paths of the states, mapped, that are not under the
// root: those the agent may write or delete besides the root's.
func (h restoreHeader) outside(states ...checkpoint.Manifest) []string {
	seen := map[string]bool{}
	for _, st := range states {
		for p := range st {
			p = h.fm.path(p)
			if !underAny(p, []string{h.root}) && !underAny(p, snapshotExclude) {
				seen[p] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// rewrite copies the store's restore tar src to dst with the header
// completed and every path mapped.
func (h restoreHeader) rewrite(dst io.Writer, src io.Reader) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(dst)
	first := true
	for {
		th, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore tar: %w", err)
		}
		if first {
			first = false
			if th.Name != agentapi.RestoreHeaderName {
				return fmt.Errorf("restore tar: first entry %q, want %s", th.Name, agentapi.RestoreHeaderName)
			}
			if err := h.writeHeader(tw, tr, th); err != nil {
				return err
			}
			continue
		}
		th.Name = h.fm.path(th.Name)
		if th.Typeflag == tar.TypeLink || strings.HasPrefix(th.Linkname, "/") {
			th.Linkname = h.fm.path(th.Linkname)
		}
		if err := tw.WriteHeader(th); err != nil {
			return fmt.Errorf("restore tar: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("restore tar: %w", err)
		}
	}
	return tw.Close()
}

// writeHeader writes the header entry, completed.
func (h restoreHeader) writeHeader(tw *tar.Writer, r io.Reader, th *tar.Header) error {
	if th.Size > maxRestoreHeader {
		return fmt.Errorf("restore tar: header of %d bytes", th.Size)
	}
	var rh agentapi.RestoreHeader
	if err := json.NewDecoder(io.LimitReader(r, maxRestoreHeader)).Decode(&rh); err != nil {
		return fmt.Errorf("restore tar: header: %w", err)
	}
	// Outside the working folder only what the engine listed as changed
	// is in the checkpoints, from the time it was listed: a path missing
	// from the target may have existed then, untracked. Such paths are
	// written back, never deleted.
	del := rh.Delete[:0]
	for _, p := range rh.Delete {
		if p = h.fm.path(p); underAny(p, []string{h.root}) {
			del = append(del, p)
		}
	}
	rh.Delete = del
	rh.Roots, rh.Paths, rh.Exclude = []string{h.root}, h.paths, snapshotExclude
	b, err := json.Marshal(rh)
	if err != nil {
		return err
	}
	th.Size = int64(len(b))
	if err := tw.WriteHeader(th); err != nil {
		return fmt.Errorf("restore tar: %w", err)
	}
	_, err = tw.Write(b)
	return err
}
