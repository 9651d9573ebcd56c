package patch

import (
	"errors"
	"fmt"
	"strings"
)

// Errors Apply wraps, for the caller to branch on. Their text names the file
// and, for a conflict, the hunk and the first lines it looked for.
var (
	// ErrConflict: a hunk's anchor or lines are not in the file.
	ErrConflict = errors.New("context not found")
	// ErrNotFound: an Update or Delete names a file that does not exist.
	ErrNotFound = errors.New("file not found")
	// ErrExists: an Add, or a Move's destination, names a file that exists.
	ErrExists = errors.New("file already exists")
)

// Files is the file tree a patch applies to, read by the paths the patch
// wrote. The caller resolves them against the agent's working directory.
type Files interface {
	Read(path string) (string, error)
	Exists(path string) bool
}

// Change is what a patch does to one path, net of all its operations.
type Change struct {
	// Type is Add, Delete or Update.
	Type string
	// Path is the file's path as the patch wrote it.
	Path string
	// MovePath, for an Update, is where the new content goes; Path is then
	// removed. Empty when the file stays where it is.
	MovePath string
	// OldContent is the content before the patch; nil for an Add.
	OldContent *string
	// NewContent is the content after the patch; nil for a Delete.
	NewContent *string
}

// Result is what Apply computed.
type Result struct {
	// Changes has one entry per path the patch changes, in the order the
	// patch first names them. No path is in two entries, as Path or
	// MovePath, so they can be written in any order.
	Changes []Change
	// Fuzz counts the lines (anchors, context and removed lines) that
	// matched the file only once whitespace was ignored, or, for an anchor,
	// as part of a line, plus the trailing blank context lines dropped to
	// make a hunk match. 0 means the patch matched exactly.
	Fuzz int
}

// Apply computes the files' contents after ops, reading them through files;
// it writes nothing. Operations apply in order, each seeing what the earlier
// ones did, so a patch may name one file twice.
//
// An Update's hunks are found in order, each after the previous one: a
// hunk's anchor first, then its context and removed lines, compared exactly,
// then ignoring trailing whitespace, then ignoring all surrounding
// whitespace (an anchor may also be part of a line). A hunk with only added
// lines goes right after its anchor, or at the end of the file. The file's
// line endings ("\n" or "\r\n") and its final newline, or lack of one, are
// kept.
func Apply(ops []Op, files Files) (Result, error) {
	t := &tree{files: files, cur: map[string]*string{}, orig: map[string]*string{}}
	var fuzz int
	var moves [][2]string
	for i, op := range ops {
		if err := check(op); err != nil {
			return Result{}, fmt.Errorf("operation %d: %w", i+1, err)
		}
		old, err := t.get(op.Path)
		if err != nil {
			return Result{}, err
		}
		switch op.Type {
		case Add:
			if old != nil {
				return Result{}, fmt.Errorf("add %s: %w", op.Path, ErrExists)
			}
			t.set(op.Path, &op.Content)
		case Delete:
			if old == nil {
				return Result{}, fmt.Errorf("delete %s: %w", op.Path, ErrNotFound)
			}
			t.set(op.Path, nil)
		case Update:
			if old == nil {
				return Result{}, fmt.Errorf("update %s: %w", op.Path, ErrNotFound)
			}
			updated, f, err := applyHunks(*old, op.Hunks)
			if err != nil {
				return Result{}, fmt.Errorf("update %s: %w", op.Path, err)
			}
			fuzz += f
			if op.MovePath == "" || op.MovePath == op.Path {
				t.set(op.Path, &updated)
				continue
			}
			dst, err := t.get(op.MovePath)
			if err != nil {
				return Result{}, err
			}
			if dst != nil {
				return Result{}, fmt.Errorf("move %s to %s: %w", op.Path, op.MovePath, ErrExists)
			}
			t.set(op.Path, nil)
			t.set(op.MovePath, &updated)
			moves = append(moves, [2]string{op.Path, op.MovePath})
		}
	}
	return Result{Changes: t.changes(moves), Fuzz: fuzz}, nil
}

// check reports an Op that Parse would not have produced.
func check(op Op) error {
	if op.Path == "" {
		return fmt.Errorf("%w: no path", ErrSyntax)
	}
	switch op.Type {
	case Add, Delete:
	case Update:
		for _, h := range op.Hunks {
			for _, l := range h.Lines {
				if l.Kind != ' ' && l.Kind != '-' && l.Kind != '+' {
					return fmt.Errorf("%w: %s: line kind %q", ErrSyntax, op.Path, l.Kind)
				}
			}
		}
	default:
		return fmt.Errorf("%w: %s: unknown type %q", ErrSyntax, op.Path, op.Type)
	}
	return nil
}

// tree is the files as the operations applied so far left them.
type tree struct {
	files Files
	cur   map[string]*string // current content of every path named; nil if absent
	orig  map[string]*string // content before the patch; nil if absent
	order []string           // paths in the order first named
}

// get returns path's current content, nil if there is no such file.
func (t *tree) get(path string) (*string, error) {
	if c, ok := t.cur[path]; ok {
		return c, nil
	}
	var c *string
	if t.files.Exists(path) {
		s, err := t.files.Read(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		c = &s
	}
	t.cur[path], t.orig[path] = c, c
	t.order = append(t.order, path)
	return c, nil
}

// set records path's new content; get was called for it before.
func (t *tree) set(path string, content *string) { t.cur[path] = content }

// changes returns the net change of every path named. A move is reported as
// one Update from its source to its destination when nothing else in the
// patch changed either end; otherwise as the Delete and Add it amounts to.
func (t *tree) changes(moves [][2]string) []Change {
	movedTo := map[string]string{}
	movedFrom := map[string]bool{}
	for _, m := range moves {
		from, to := m[0], m[1]
		if _, done := movedTo[from]; done || movedFrom[to] {
			continue
		}
		if t.orig[from] != nil && t.cur[from] == nil && t.orig[to] == nil && t.cur[to] != nil {
			movedTo[from], movedFrom[to] = to, true
		}
	}
	var out []Change
	for _, p := range t.order {
		if movedFrom[p] {
			continue
		}
		c := Change{Path: p, OldContent: t.orig[p], NewContent: t.cur[p]}
		if to, ok := movedTo[p]; ok {
			c.Type, c.MovePath, c.NewContent = Update, to, t.cur[to]
			out = append(out, c)
			continue
		}
		switch {
		case c.OldContent == nil && c.NewContent == nil:
			continue // added, then deleted
		case c.OldContent == nil:
			c.Type = Add
		case c.NewContent == nil:
			c.Type = Delete
		default:
			c.Type = Update
		}
		out = append(out, c)
	}
	return out
}

// Summary describes r in a few lines for the agent: "Done!", then one line
// per change, "A path", "D path", "M path" or "M path -> new path".
func Summary(r Result) string {
	var b strings.Builder
	b.WriteString("Done!")
	for _, c := range r.Changes {
		switch {
		case c.Type == Add:
			b.WriteString("\nA " + c.Path)
		case c.Type == Delete:
			b.WriteString("\nD " + c.Path)
		case c.MovePath != "":
			b.WriteString("\nM " + c.Path + " -> " + c.MovePath)
		default:
			b.WriteString("\nM " + c.Path)
		}
	}
	return b.String()
}
