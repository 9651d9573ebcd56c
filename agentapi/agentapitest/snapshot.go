package agentapitest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// maxGenerations is how many snapshot generations Files remembers, as the
// real agent does.
const maxGenerations = 4

// state is a view of the tree: path -> "f" + content or "l" + target.
type state map[string]string

type generation struct {
	id string
	s  state
}

// view returns the files and symlinks under roots or at paths, minus
// exclude. The caller holds f.mu.
func (f *Files) view(roots, paths, exclude []string) state {
	in := func(p string) bool {
		for _, e := range exclude {
			if within(p, e) {
				return false
			}
		}
		for _, q := range paths {
			if p == q {
				return true
			}
		}
		for _, r := range roots {
			if within(p, r) {
				return true
			}
		}
		return false
	}
	s := state{}
	for p, c := range f.files {
		if in(p) {
			s[p] = "f" + c
		}
	}
	for p, t := range f.links {
		if in(p) {
			s[p] = "l" + t
		}
	}
	return s
}

func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// keep remembers a generation and returns its name.
func (f *Files) keep(s state) string {
	f.nextGen++
	id := fmt.Sprintf("mem-%d", f.nextGen)
	f.gens = append(f.gens, generation{id, s})
	if n := len(f.gens) - maxGenerations; n > 0 {
		f.gens = f.gens[n:]
	}
	return id
}

// Snapshot answers as the agent's POST /snapshot does: a tar stream of the
// files and symlinks changed since req.Since (all when it is unknown), then
// the trailer. Directories are not sent: they exist by holding files.
func (f *Files) Snapshot(_ context.Context, req agentapi.SnapshotRequest) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(req.Roots)+len(req.Paths) == 0 {
		return nil, &agentapi.HTTPError{Status: http.StatusUnprocessableEntity, Detail: "roots: give at least one root or path"}
	}
	cur := f.view(req.Roots, req.Paths, req.Exclude)
	var prev state
	for _, g := range f.gens {
		if g.id == req.Since && req.Since != "" {
			prev = g.s
		}
	}
	var changed []string
	var size int64
	for p, v := range cur {
		if old, ok := prev[p]; !ok || old != v {
			changed = append(changed, p)
			size += int64(len(v) - 1)
		}
	}
	if req.MaxBytes > 0 && size > req.MaxBytes {
		return nil, &agentapi.HTTPError{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the changed files hold %d bytes, over max_bytes %d", size, req.MaxBytes)}
	}
	sort.Strings(changed)
	trailer := agentapi.SnapshotTrailer{Generation: f.keep(cur), Full: prev == nil}
	for p := range prev {
		if _, ok := cur[p]; !ok {
			trailer.Deleted = append(trailer.Deleted, p)
		}
	}
	sort.Strings(trailer.Deleted)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range changed {
		v := cur[p]
		hdr := &tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(v) - 1)}
		if v[0] == 'l' {
			hdr = &tar.Header{Name: p, Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: v[1:]}
		} else {
			trailer.Bytes += hdr.Size
		}
		tw.WriteHeader(hdr)
		io.WriteString(tw, v[1:])
		trailer.Files++
	}
	data, _ := json.Marshal(trailer)
	tw.WriteHeader(&tar.Header{Name: agentapi.SnapshotTrailerName, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	return io.NopCloser(&buf), nil
}

// Restore applies a restore stream as the agent's POST /restore does:
// deletions, then files and symlinks, each under the header's roots.
// Directory entries are accepted and ignored. Entries with ".." or outside
// the roots are refused with 400, before anything is changed.
func (f *Files) Restore(_ context.Context, r io.Reader) (agentapi.RestoreResult, error) {
	bad := func(format string, args ...any) error {
		return &agentapi.HTTPError{Status: http.StatusBadRequest, Detail: fmt.Sprintf(format, args...)}
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != agentapi.RestoreHeaderName {
		return agentapi.RestoreResult{}, bad("the first entry must be the file %s", agentapi.RestoreHeaderName)
	}
	var h agentapi.RestoreHeader
	if err := json.NewDecoder(tr).Decode(&h); err != nil {
		return agentapi.RestoreResult{}, bad("restore header: %v", err)
	}
	if len(h.Roots) == 0 {
		return agentapi.RestoreResult{}, &agentapi.HTTPError{Status: http.StatusUnprocessableEntity, Detail: "roots: give at least one root"}
	}
	allowed := func(name string) (string, error) {
		for _, c := range strings.Split(name, "/") {
			if c == ".." {
				return "", bad("entry %q: climbs with \"..\"", name)
			}
		}
		p := path.Clean("/" + name)
		for _, e := range h.Exclude {
			if within(p, e) {
				return "", bad("entry %q: under an excluded path", name)
			}
		}
		for _, q := range h.Paths {
			if p == q {
				return p, nil
			}
		}
		for _, root := range h.Roots {
			if within(p, root) {
				return p, nil
			}
		}
		return "", bad("entry %q: outside the roots", name)
	}
	type write struct {
		p, content string
		link       bool
	}
	var deletes []string
	for _, name := range h.Delete {
		p, err := allowed(name)
		if err != nil {
			return agentapi.RestoreResult{}, err
		}
		deletes = append(deletes, p)
	}
	var writes []write
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return agentapi.RestoreResult{}, bad("not a valid tar stream: %v", err)
		}
		p, err := allowed(hdr.Name)
		if err != nil {
			return agentapi.RestoreResult{}, err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				return agentapi.RestoreResult{}, bad("entry %q: %v", hdr.Name, err)
			}
			writes = append(writes, write{p: p, content: string(data)})
		case tar.TypeSymlink:
			writes = append(writes, write{p: p, content: hdr.Linkname, link: true})
		default:
			return agentapi.RestoreResult{}, bad("entry %q: type %q is not restored", hdr.Name, hdr.Typeflag)
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	var res agentapi.RestoreResult
	for _, d := range deletes {
		n := 0
		for p := range f.files {
			if within(p, d) {
				delete(f.files, p)
				n++
			}
		}
		for p := range f.links {
			if within(p, d) {
				delete(f.links, p)
				n++
			}
		}
		if n > 0 {
			res.Deleted++
		}
	}
	for _, w := range writes {
		delete(f.files, w.p)
		delete(f.links, w.p)
		if w.link {
			f.links[w.p] = w.content
		} else {
			f.files[w.p] = w.content
			res.Bytes += int64(len(w.content))
		}
		res.Files++
	}
	res.Generation = f.keep(f.view(h.Roots, h.Paths, h.Exclude))
	return res, nil
}
