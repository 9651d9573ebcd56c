// Package agentapitest is an in-memory stand-in for the runtime-agent's
// client (agentapi.Client): Files for code that reads a sandbox's files,
// Agent for the tools, which also run commands, edit, search and browse.
// It serves tests that declare the calls they need as a small interface
// and have no need of a real sandbox.
package agentapitest

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// maxLinks bounds the symlinks followed in one path, as the kernel does.
const maxLinks = 40

// Files is a file tree in memory with the client's ReadFile, WriteFile and
// Stat. Folders exist by holding files or symlinks; "/" always exists.
// Errors are *agentapi.HTTPError with the agent's statuses (404 for a
// missing file). It is safe for concurrent use.
type Files struct {
	mu    sync.Mutex
	files map[string]string // absolute path -> content
	links map[string]string // absolute path -> target, as given to Link

	gens    []generation // the last snapshots' states, oldest first
	nextGen int
}

// NewFiles returns an empty tree.
func NewFiles() *Files {
	return &Files{files: make(map[string]string), links: make(map[string]string)}
}

// Put makes the file at the absolute path p hold content.
func (f *Files) Put(p, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path.Clean(p)] = content
}

// Link makes the absolute path p a symlink to target, which is relative to
// p's folder unless absolute; it may lead nowhere.
func (f *Files) Link(p, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[path.Clean(p)] = target
}

// ReadFile returns lines start..end (1-based; end -1 for the rest) of the
// file at p.
func (f *Files) ReadFile(_ context.Context, p string, start, end int) (agentapi.FileText, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	real, err := f.resolve(p)
	if err != nil {
		return agentapi.FileText{}, err
	}
	content, ok := f.files[real]
	if !ok {
		return agentapi.FileText{}, f.missing(p)
	}
	lines := strings.SplitAfter(content, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	start = max(start, 1)
	if end < 0 || end > len(lines) {
		end = len(lines)
	}
	if start > end {
		return agentapi.FileText{Path: p, Start: start, End: start - 1, TotalLines: len(lines)}, nil
	}
	return agentapi.FileText{Path: p, Content: strings.Join(lines[start-1:end], ""), Start: start, End: end, TotalLines: len(lines)}, nil
}

// WriteFile makes the file at p hold content, following symlinks.
func (f *Files) WriteFile(_ context.Context, p, content string) (agentapi.FileEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	real, err := f.resolve(p)
	if err != nil {
		return agentapi.FileEntry{}, err
	}
	f.files[real] = content
	return agentapi.FileEntry{Name: path.Base(real), Path: real, Type: agentapi.TypeFile, Size: int64(len(content)), Mode: 0o644, ModTime: time.Now()}, nil
}

// Stat describes p without following a final symlink; Real is p with
// every symlink resolved, as the agent reports it.
func (f *Files) Stat(_ context.Context, p string) (agentapi.FileEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clean := path.Clean(p)
	real, err := f.resolve(clean)
	if err != nil {
		return agentapi.FileEntry{}, err
	}
	e := agentapi.FileEntry{Name: path.Base(clean), Path: clean, Real: real, ModTime: time.Now()}
	parent, err := f.resolve(path.Dir(clean))
	if err != nil {
		return agentapi.FileEntry{}, err
	}
	self := path.Join(parent, path.Base(clean))
	switch content, isFile := f.files[real]; {
	case f.links[self] != "":
		e.Type, e.Target, e.Mode = agentapi.TypeSymlink, f.links[self], 0o777
	case isFile:
		e.Type, e.Size, e.Mode = agentapi.TypeFile, int64(len(content)), 0o644
	case f.isDir(real):
		e.Type, e.Mode = agentapi.TypeDir, 0o755
	default:
		return agentapi.FileEntry{}, f.missing(p)
	}
	return e, nil
}

// resolve returns the absolute path p leads to through its symlinks, the
// last element's included, whether or not that path exists.
func (f *Files) resolve(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", &agentapi.HTTPError{Status: http.StatusBadRequest, Detail: "path " + p + " is not absolute"}
	}
	done := "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	for followed := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		if name == "" {
			continue
		}
		next := path.Join(done, name)
		target, isLink := f.links[next]
		if !isLink {
			done = next
			continue
		}
		if followed++; followed > maxLinks {
			return "", &agentapi.HTTPError{Status: http.StatusBadRequest, Detail: p + ": too many levels of symbolic links"}
		}
		if !path.IsAbs(target) {
			target = path.Join(done, target)
		}
		rest = append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), rest...)
		done = "/"
	}
	return done, nil
}

func (f *Files) isDir(p string) bool {
	if p == "/" {
		return true
	}
	for _, m := range []map[string]string{f.files, f.links} {
		for k := range m {
			if strings.HasPrefix(k, p+"/") {
				return true
			}
		}
	}
	return false
}

func (f *Files) missing(p string) error {
	return &agentapi.HTTPError{Status: http.StatusNotFound, Detail: p + ": no such file or directory"}
}
