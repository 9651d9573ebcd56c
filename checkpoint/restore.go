package checkpoint

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Diff is what turns one state into another: the paths to delete first
// (none under another of them: a folder's deletion takes its subtree), then
// the paths to write, in order (a folder before what it holds).
type Diff struct {
	Delete []string
	Write  []string
}

// Difference computes the Diff from state from to state to, restricted to
// paths under roots (all paths when roots is empty). A path is deleted when
// to lacks it or has it with another type; a path of to is written when from
// lacks it, differs in anything but nothing, or lies under a deleted path.
func Difference(from, to Manifest, roots []string) Diff {
	in := func(p string) bool {
		if len(roots) == 0 {
			return true
		}
		for _, r := range roots {
			if r == "/" || p == r || strings.HasPrefix(p, r+"/") {
				return true
			}
		}
		return false
	}
	gone := map[string]bool{}
	for p, f := range from {
		if !in(p) {
			continue
		}
		if t, ok := to[p]; !ok || t.Type != f.Type {
			gone[p] = true
		}
	}
	var d Diff
	for p := range gone {
		if !underAny(p, gone) {
			d.Delete = append(d.Delete, p)
		}
	}
	for p, t := range to {
		if !in(p) {
			continue
		}
		if f, ok := from[p]; !ok || !sameEntry(f, t) || gone[p] || underAny(p, gone) {
			d.Write = append(d.Write, p)
		}
	}
	sort.Strings(d.Delete)
	sort.Strings(d.Write)
	return d
}

func sameEntry(a, b Entry) bool {
	return a.Type == b.Type && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.Size == b.Size && a.Blob == b.Blob && a.Link == b.Link && a.ModTime.Equal(b.ModTime)
}

// WriteRestore writes the tar the agent's /restore takes to turn the state
// from (what the sandbox has now) into the state of toOwner's checkpoint
// toID: first the [RestoreHeader] entry with the paths to delete and roots,
// then the entries of the target that differ, folders before their
// contents. Only paths under roots are considered (all when roots is
// empty). It returns the entries written after the header and their content
// bytes.
func (s *Store) WriteRestore(w io.Writer, from Manifest, toOwner, toID string, roots []string) (files int, bytes int64, err error) {
	for _, r := range roots {
		if r != "/" {
			if err := validPath(r); err != nil {
				return 0, 0, fmt.Errorf("checkpoint: restore: root: %w", err)
			}
		}
	}
	to, err := s.State(toOwner, toID)
	if err != nil {
		return 0, 0, fmt.Errorf("checkpoint: restore: %w", err)
	}
	d := Difference(from, to, roots)
	head, err := json.Marshal(RestoreHeader{Delete: d.Delete, Roots: nonNil(roots)})
	if err != nil {
		return 0, 0, fmt.Errorf("checkpoint: restore: %w", err)
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: RestoreHeaderName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(head)), Format: tar.FormatPAX}); err != nil {
		return 0, 0, fmt.Errorf("checkpoint: restore: %w", err)
	}
	if _, err := tw.Write(head); err != nil {
		return 0, 0, fmt.Errorf("checkpoint: restore: %w", err)
	}
	for _, p := range d.Write {
		e := to[p]
		n, err := s.writeEntry(tw, p, e)
		if err != nil {
			return files, bytes, fmt.Errorf("checkpoint: restore %s/%s: %s: %w", toOwner, toID, p, err)
		}
		files++
		bytes += n
	}
	if err := tw.Close(); err != nil {
		return files, bytes, fmt.Errorf("checkpoint: restore: %w", err)
	}
	return files, bytes, nil
}

// writeEntry writes one entry and, for a regular file, its blob.
func (s *Store) writeEntry(tw *tar.Writer, p string, e Entry) (int64, error) {
	hdr := &tar.Header{
		Name:     p,
		Typeflag: e.Type,
		Mode:     e.Mode,
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  e.ModTime,
		Linkname: e.Link,
		Format:   tar.FormatPAX,
	}
	var blob *os.File
	if e.Type == tar.TypeReg {
		hdr.Size = e.Size
		// Once open, a removal of the blob (its checkpoint deleted
		// meanwhile) no longer matters.
		f, err := os.Open(s.blobPath(e.Blob))
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("blob %s: %w", e.Blob, ErrNotFound)
		}
		if err != nil {
			return 0, err
		}
		defer f.Close()
		blob = f
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	if blob == nil {
		return 0, nil
	}
	n, err := io.CopyN(tw, blob, e.Size)
	if err != nil {
		return n, fmt.Errorf("blob %s: %w", e.Blob, err)
	}
	return n, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
