package session

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// restoreHeaderName is the first entry of a restore tar: the paths to
// delete and the roots, as JSON.
const restoreHeaderName = ".gohands-restore.json"

// maxRestoreHeader bounds the header entry a remap reads into memory.
const maxRestoreHeader = 64 << 20

// folderMap turns the paths a checkpoint holds under earlier host folders
// (those of the conversations a fork came from) into paths under the
// fork's own folder.
type folderMap struct {
	from []string
	to   string
}

// path maps p, absolute or not (tar names have no leading slash).
func (fm folderMap) path(p string) string {
	slash := strings.HasPrefix(p, "/")
	abs := "/" + strings.TrimPrefix(p, "/")
	for _, f := range fm.from {
		if abs == f || strings.HasPrefix(abs, f+"/") {
			abs = fm.to + abs[len(f):]
			if !slash {
				return strings.TrimPrefix(abs, "/")
			}
			return abs
		}
	}
	return p
}

// remapRestore copies the restore tar src to dst with its paths mapped by
// fm: the header's deletions and roots, each entry's name and absolute
// link targets.
func remapRestore(dst io.Writer, src io.Reader, fm folderMap) error {
	tr := tar.NewReader(src)
	tw := tar.NewWriter(dst)
	first := true
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("remap restore: %w", err)
		}
		if first && h.Name == restoreHeaderName {
			first = false
			if err := remapHeader(tw, tr, h, fm); err != nil {
				return err
			}
			continue
		}
		first = false
		h.Name = fm.path(h.Name)
		if strings.HasPrefix(h.Linkname, "/") || h.Typeflag == tar.TypeLink {
			h.Linkname = fm.path(h.Linkname)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("remap restore: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("remap restore: %w", err)
		}
	}
	return tw.Close()
}

// remapHeader rewrites the header entry's paths.
func remapHeader(tw *tar.Writer, tr io.Reader, h *tar.Header, fm folderMap) error {
	if h.Size > maxRestoreHeader {
		return fmt.Errorf("remap restore: header of %d bytes", h.Size)
	}
	var hdr map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(tr, maxRestoreHeader)).Decode(&hdr); err != nil {
		return fmt.Errorf("remap restore: header: %w", err)
	}
	for k, v := range hdr {
		var paths []string
		if json.Unmarshal(v, &paths) != nil {
			continue
		}
		for i, p := range paths {
			paths[i] = fm.path(p)
		}
		hdr[k], _ = json.Marshal(paths)
	}
	b, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	h.Size = int64(len(b))
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("remap restore: %w", err)
	}
	_, err = tw.Write(b)
	return err
}
