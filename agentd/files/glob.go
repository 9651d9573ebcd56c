package files

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// Glob bounds.
const (
	DefaultGlobLimit = 100     // files returned, as the OpenHands glob tool
	maxVisit         = 200_000 // entries one Glob or Grep looks at
)

// globPattern is a compiled glob over "/"-separated relative paths. A "**"
// segment matches any number of directories (none included). Wildcards do
// not match a leading dot, so hidden files and directories only match a
// segment that itself starts with a dot, as in shells and ripgrep.
type globPattern struct {
	segs []string
	dots bool // wildcards match hidden names too
}

// compileGlob compiles a relative pattern. Unless anchored, a pattern with
// no slash matches at any depth ("*.go" is "**/*.go"), as in .gitignore and
// ripgrep's -g; a pattern with a slash is relative to the search root.
func compileGlob(p string, anchored bool) (*globPattern, error) {
	p = strings.TrimPrefix(strings.TrimSuffix(p, "/"), "./")
	if p == "" {
		return nil, errors.New("empty pattern")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return nil, errors.New("pattern contains a NUL byte")
	}
	if !anchored && !strings.Contains(p, "/") {
		p = "**/" + p
	}
	g := &globPattern{}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." {
			continue
		}
		if s == ".." {
			return nil, fmt.Errorf("pattern %q climbs out with a \"..\" segment", p)
		}
		if s != "**" {
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("bad pattern segment %q: %w", s, err)
			}
		}
		if s == "**" && len(g.segs) > 0 && g.segs[len(g.segs)-1] == "**" {
			continue
		}
		g.segs = append(g.segs, s)
	}
	if len(g.segs) > 0 && g.segs[len(g.segs)-1] == "**" {
		// A trailing "**" means everything inside, not the directory itself.
		g.segs = append(g.segs, "*")
	}
	return g, nil
}

// start is the set of states before any path segment.
func (g *globPattern) start() []int { return g.closure([]int{0}) }

// closure adds the states reachable by letting "**" match nothing.
func (g *globPattern) closure(states []int) []int {
	for i := 0; i < len(states); i++ {
		s := states[i]
		if s < len(g.segs) && g.segs[s] == "**" && !contains(states, s+1) {
			states = append(states, s+1)
		}
	}
	return states
}

// step returns the states after matching one path segment; none means no
// path below can match.
func (g *globPattern) step(states []int, name string) []int {
	var next []int
	hidden := !g.dots && strings.HasPrefix(name, ".")
	for _, s := range states {
		if s >= len(g.segs) {
			continue
		}
		seg := g.segs[s]
		if seg == "**" {
			if !hidden && !contains(next, s) {
				next = append(next, s)
			}
			continue
		}
		if hidden && !strings.HasPrefix(seg, ".") {
			continue
		}
		if ok, _ := path.Match(seg, name); ok && !contains(next, s+1) {
			next = append(next, s+1)
		}
	}
	return g.closure(next)
}

func (g *globPattern) accepts(states []int) bool { return contains(states, len(g.segs)) }

// match reports whether the relative path rel matches.
func (g *globPattern) match(rel string) bool {
	st := g.start()
	for _, s := range strings.Split(rel, "/") {
		if st = g.step(st, s); len(st) == 0 {
			return false
		}
	}
	return g.accepts(st)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// GlobOptions shape a Glob.
type GlobOptions struct {
	// Dir is where a relative pattern is matched; an absolute pattern
	// carries its own directory (the part before its first wildcard).
	Dir string
	// Limit bounds the files returned; 0 means DefaultGlobLimit.
	Limit int
}

// GlobResult is what Glob returns.
type GlobResult = agentapi.GlobResult

// Glob finds the files (not directories) matching pattern, newest
// modification first, as the OpenHands glob tool does. "**" matches any
// number of directories; a pattern without a slash matches at any depth;
// hidden entries match only a pattern segment starting with a dot; symlinks
// to directories are not entered.
func (f *FS) Glob(ctx context.Context, pattern string, opts GlobOptions) (GlobResult, error) {
	const op = "glob"
	dir, rel, anchored := opts.Dir, pattern, false
	if filepath.IsAbs(pattern) {
		dir, rel, anchored = splitGlob(pattern)
	} else if dir == "" {
		return GlobResult{}, newError(ErrInvalid, op, "", fmt.Sprintf("pattern %q is relative and no directory was given to search", pattern))
	}
	t, err := f.path(op, dir, true)
	if err != nil {
		return GlobResult{}, err
	}
	g, err := compileGlob(rel, anchored)
	if err != nil {
		return GlobResult{}, newError(ErrInvalid, op, t.shown, err.Error())
	}
	if err := checkSearchDir(op, t); err != nil {
		return GlobResult{}, err
	}

	type hit struct {
		path  string
		mtime time.Time
	}
	var hits []hit
	visited := 0
	res := GlobResult{Dir: t.shown, Files: []string{}}
	var walk func(real, shown string, states []int) error
	walk = func(real, shown string, states []int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(real)
		if err != nil {
			return nil // unreadable directories hold no matches we can see
		}
		for _, d := range ents {
			if visited++; visited > maxVisit {
				res.Truncated = true
				return errStop
			}
			next := g.step(states, d.Name())
			if len(next) == 0 {
				continue
			}
			childReal, childShown := filepath.Join(real, d.Name()), filepath.Join(shown, d.Name())
			if d.IsDir() {
				if err := walk(childReal, childShown, next); err != nil {
					return err
				}
				continue
			}
			if !g.accepts(next) {
				continue
			}
			fi, err := os.Stat(childReal) // a symlink counts if it leads to a file
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			hits = append(hits, hit{childShown, fi.ModTime()})
		}
		return nil
	}
	if err := walk(t.real, t.shown, g.start()); err != nil && err != errStop {
		return GlobResult{}, osError(op, t.shown, err)
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].mtime.Equal(hits[j].mtime) {
			return hits[i].mtime.After(hits[j].mtime)
		}
		return hits[i].path < hits[j].path
	})
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultGlobLimit
	}
	if len(hits) > limit {
		hits, res.Truncated = hits[:limit], true
	}
	for _, h := range hits {
		res.Files = append(res.Files, h.path)
	}
	return res, nil
}

// checkSearchDir fails unless t is a directory, in the OpenHands tools' words.
func checkSearchDir(op string, t target) error {
	fi, err := os.Stat(t.real)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return newError(ErrNotFound, op, t.shown, fmt.Sprintf("Search path '%s' is not a valid directory", t.shown))
	case err != nil:
		return osError(op, t.shown, err)
	case !fi.IsDir():
		return newError(ErrInvalid, op, t.shown, fmt.Sprintf("Search path '%s' is not a valid directory", t.shown))
	}
	return nil
}

// errStop ends a walk early without being an error.
var errStop = errors.New("stop walking")

// splitGlob splits an absolute pattern at its first segment with a
// wildcard into the directory to search and the pattern relative to it. A
// pattern without wildcards names one file: its directory and its name,
// anchored there.
func splitGlob(pattern string) (dir, rel string, anchored bool) {
	segs := strings.Split(filepath.Clean(pattern), "/")
	for i, s := range segs {
		if strings.ContainsAny(s, "*?[") {
			return "/" + path.Join(segs[:i]...), path.Join(segs[i:]...), false
		}
	}
	clean := filepath.Clean(pattern)
	return filepath.Dir(clean), filepath.Base(clean), true
}
