package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// HostRoots are the host folders under which a workspace path names a
// folder of the server's host (a host folder), bind-mounted into the
// sandbox at the same path; any other path is a path inside the sandbox.
// The roots are absolute, clean and free of symbolic links (see
// CleanHostRoots).
type HostRoots []string

// CleanHostRoots makes each root absolute, resolves its symbolic links and
// drops duplicates. A root that does not exist is kept as given (cleaned):
// nothing can be under it until it is made.
func CleanHostRoots(roots []string) (HostRoots, error) {
	var out HostRoots
	seen := make(map[string]bool)
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("workspace root %q is not an absolute path", r)
		}
		r = filepath.Clean(r)
		if real, err := filepath.EvalSymlinks(r); err == nil {
			r = real
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// under reports the root that holds p, a clean absolute path, if any.
func (rs HostRoots) under(p string) (string, bool) {
	for _, r := range rs {
		if p == r || strings.HasPrefix(p, r+"/") || r == "/" {
			return r, true
		}
	}
	return "", false
}

// Has reports whether p (absolute) names a host folder: a path under one
// of the roots, taken as written (clean, no symbolic links resolved).
func (rs HostRoots) Has(p string) bool {
	if !filepath.IsAbs(p) {
		return false
	}
	_, ok := rs.under(filepath.Clean(p))
	return ok
}

// Resolve checks a host path under the roots and returns it clean, its
// symbolic links resolved. A path that a symbolic link (or "..") takes out
// of the roots is refused (KindRejected). With make, a missing folder is
// made (with its parents) and the folder must be one the server can write
// in; without it, the path may be missing.
func (rs HostRoots) Resolve(p string, mk bool) (string, error) {
	clean := filepath.Clean(p)
	if _, ok := rs.under(clean); !ok {
		return "", rejected("%s is under none of the workspace roots (%s)", p, strings.Join(rs, ", "))
	}
	real, err := realPath(clean)
	if err != nil {
		return "", rejected("host folder %s: %v", p, err)
	}
	if _, ok := rs.under(real); !ok {
		return "", rejected("host folder %s leads to %s (through a symbolic link), which is under none of the workspace roots", p, real)
	}
	if !mk {
		return real, nil
	}
	if err := os.MkdirAll(real, 0o755); err != nil {
		return "", hostFolderError(p, "cannot be made", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", hostFolderError(p, "cannot be used", err)
	}
	if !st.IsDir() {
		return "", rejected("host folder %s is a file, not a folder", p)
	}
	// A folder the server cannot write in is one the agent cannot either
	// (it runs as the server's user).
	f, err := os.CreateTemp(real, ".gohands-check-*")
	if err != nil {
		return "", hostFolderError(p, "is not writable", err)
	}
	f.Close()
	os.Remove(f.Name())
	return real, nil
}

// hostFolderError says why a host folder cannot serve: a permission
// problem is KindRefused (403), anything else KindRejected.
func hostFolderError(p, what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrPermission) {
		msg := fmt.Sprintf("host folder %s %s: %v", p, what, err)
		return &Error{Kind: KindRefused, Detail: msg, Err: &agentapi.HTTPError{Status: 403, Detail: msg}}
	}
	return rejected("host folder %s %s: %v", p, what, err)
}

// realPath resolves the symbolic links of p's longest existing prefix and
// puts the missing rest back on.
func realPath(p string) (string, error) {
	rest := ""
	for cur := p; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// hostMount returns the bind mount of dir, when dir is a host folder:
// read-write, at the same path. The folder is made again if it went
// missing since (the engine would refuse the mount).
func (m *ConversationManager) hostMount(dir string) (sandbox.Mount, bool) {
	if !m.roots.Has(dir) {
		return sandbox.Mount{}, false
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		m.log.Warn("host folder cannot be made again", "dir", dir, "err", err)
	}
	return sandbox.Mount{Source: dir, Target: dir}, true
}

// checkHostFolder refuses the use of a sandbox whose host folder dir was
// removed from the host while mounted: the sandbox would see an empty
// folder it cannot write in. Making the folder again and restarting the
// conversation mounts it anew.
func (m *ConversationManager) checkHostFolder(dir string) error {
	if !m.roots.Has(dir) {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return rejected("host folder %s is gone: it was removed from the host while the sandbox used it; make it again and restart the conversation (POST .../restart)", dir)
	}
	return nil
}
