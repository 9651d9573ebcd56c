package files

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gohands/gohands/agentapi"
)

// Grep bounds.
const (
	DefaultGrepMatches         = 100
	DefaultGrepFileBytes int64 = 4 << 20 // larger files are skipped
	maxMatchText               = 1000    // bytes of a matching line kept
)

// GrepOptions shape a Grep.
type GrepOptions struct {
	// Path is the file or directory to search (absolute).
	Path string
	// Include, when set, is a glob a file must match, relative to Path: a
	// pattern without a slash matches the name at any depth ("*.go"), one
	// with a slash the relative path ("src/**/*.ts").
	Include string
	// IgnoreCase matches without regard to case, as the OpenHands grep
	// tool always does.
	IgnoreCase bool
	// Hidden also searches hidden files and directories; .git never is.
	Hidden bool
	// FilesOnly keeps one match per file (its first) and orders the files
	// newest first, the shape of the OpenHands grep tool's answer.
	FilesOnly bool
	// MaxMatches bounds the matches (with FilesOnly: the files) returned;
	// 0 means DefaultGrepMatches.
	MaxMatches int
	// MaxFileBytes skips larger files; 0 means DefaultGrepFileBytes.
	MaxFileBytes int64
}

// Match is one matching line.
type Match = agentapi.Match

// GrepResult is what Grep returns.
type GrepResult = agentapi.GrepResult

// Grep searches the text files under opts.Path for lines matching the
// regular expression pattern (Go RE2 syntax), in Go: no grep or rg process
// is started. Binary files, files over MaxFileBytes, .git and (unless
// Hidden) hidden entries are skipped; symlinks are not followed.
func (f *FS) Grep(ctx context.Context, pattern string, opts GrepOptions) (GrepResult, error) {
	const op = "grep"
	t, err := f.path(op, opts.Path, true)
	if err != nil {
		return GrepResult{}, err
	}
	expr := pattern
	if opts.IgnoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return GrepResult{}, newError(ErrInvalid, op, t.shown, "Invalid regex pattern: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	var include *globPattern
	if opts.Include != "" {
		if include, err = compileGlob(opts.Include, false); err != nil {
			return GrepResult{}, newError(ErrInvalid, op, t.shown, "include: "+err.Error())
		}
		include.dots = opts.Hidden // hidden files are already left out otherwise
	}
	maxMatches := opts.MaxMatches
	if maxMatches <= 0 {
		maxMatches = DefaultGrepMatches
	}
	maxFile := opts.MaxFileBytes
	if maxFile <= 0 {
		maxFile = DefaultGrepFileBytes
	}
	fi, err := os.Stat(t.real)
	if err != nil {
		return GrepResult{}, osError(op, t.shown, err)
	}
	// Walk the directory a symlinked Path leads to: WalkDir would not.
	walkRoot := t.real
	if r, err := filepath.EvalSymlinks(t.real); err == nil {
		walkRoot = r
	}

	res := GrepResult{Matches: []Match{}}
	type fileHit struct {
		m     Match
		mtime time.Time
	}
	var files []fileHit
	// search greps one file; false stops the walk.
	search := func(real, shown string, size int64, mtime time.Time) bool {
		if size > maxFile {
			return true
		}
		file, _, err := openRegular(real)
		if err != nil {
			return true
		}
		data, err := readLimited(file, maxFile)
		file.Close()
		if err != nil || looksBinary(data) {
			return true
		}
		line := 0
		for len(data) > 0 {
			line++
			var l []byte
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				l, data = data[:i], data[i+1:]
			} else {
				l, data = data, nil
			}
			l = bytes.TrimSuffix(l, []byte{'\r'})
			if !re.Match(l) {
				continue
			}
			m := Match{Path: shown, Line: line, Text: cutText(l)}
			if opts.FilesOnly {
				files = append(files, fileHit{m, mtime})
				return true
			}
			if len(res.Matches) == maxMatches {
				res.Truncated = true
				return false
			}
			res.Matches = append(res.Matches, m)
		}
		return true
	}

	if !fi.IsDir() {
		if fi.Mode().IsRegular() {
			search(t.real, t.shown, fi.Size(), fi.ModTime())
		}
	} else {
		visited := 0
		err = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == walkRoot {
					return err
				}
				return nil // unreadable: nothing to see there
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if p == walkRoot {
				return nil
			}
			if visited++; visited > maxVisit {
				res.Truncated = true
				return fs.SkipAll
			}
			name := d.Name()
			if name == ".git" || (!opts.Hidden && strings.HasPrefix(name, ".")) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil // directories are walked, symlinks and devices skipped
			}
			rel, _ := filepath.Rel(walkRoot, p)
			if include != nil && !include.match(filepath.ToSlash(rel)) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if !search(p, filepath.Join(t.shown, rel), info.Size(), info.ModTime()) {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			return GrepResult{}, osError(op, t.shown, err)
		}
	}

	if opts.FilesOnly {
		sort.SliceStable(files, func(i, j int) bool { return files[i].mtime.After(files[j].mtime) })
		if len(files) > maxMatches {
			files, res.Truncated = files[:maxMatches], true
		}
		for _, h := range files {
			res.Matches = append(res.Matches, h.m)
		}
	}
	return res, nil
}

// cutText returns a line for a Match, at most maxMatchText bytes, cut on a
// character boundary and marked when cut.
func cutText(l []byte) string {
	if len(l) <= maxMatchText {
		return string(l)
	}
	cut := maxMatchText
	for cut > 0 && !utf8.RuneStart(l[cut]) {
		cut--
	}
	return string(l[:cut]) + fmt.Sprintf(" [... %d more bytes]", len(l)-cut)
}
