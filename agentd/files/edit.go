package files

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// doc is a text file loaded for the editor. The model sees text, where CRLF
// line endings read as LF (as in Python's text mode, which the OpenHands
// editor relies on); encode puts the file's CRLF endings back on write.
type doc struct {
	raw  string // the bytes on disk
	text string // raw with CRLF turned into LF
	crlf bool
}

func (d doc) encode(text string) string {
	if d.crlf {
		return strings.ReplaceAll(text, "\n", "\r\n")
	}
	return text
}

// normalize turns what the model sent into the doc's text form.
func (d doc) normalize(s string) string {
	if d.crlf {
		return strings.ReplaceAll(s, "\r\n", "\n")
	}
	return s
}

// load reads a text file for cmd, refusing too large and binary files with
// the OpenHands editor's words.
func (e *Editor) load(cmd string, t target) (doc, error) {
	file, fi, err := openRegular(t.real)
	if err != nil {
		return doc{}, newError(kindOf(err), cmd, t.shown, fmt.Sprintf("Ran into %s while trying to read %s", causeText(err), t.shown))
	}
	defer file.Close()
	if fi.Size() > e.fs.maxRead {
		return doc{}, tooLargeForEditor(cmd, t.shown, fi.Size(), e.fs.maxRead)
	}
	data, err := readLimited(file, e.fs.maxRead)
	if err == errOverLimit {
		return doc{}, tooLargeForEditor(cmd, t.shown, int64(len(data)), e.fs.maxRead)
	}
	if err != nil {
		return doc{}, newError(kindOf(err), cmd, t.shown, fmt.Sprintf("Ran into %s while trying to read %s", causeText(err), t.shown))
	}
	if looksBinary(data) {
		return doc{}, newError(ErrBinary, cmd, t.shown, fmt.Sprintf(
			"File validation failed for %s: File appears to be binary and this file type cannot be read or edited by this tool.", t.shown))
	}
	d := doc{raw: string(data)}
	d.crlf = strings.Contains(d.raw, "\r\n")
	d.text = d.normalize(d.raw)
	return d, nil
}

func tooLargeForEditor(cmd, path string, size, limit int64) error {
	return newError(ErrTooLarge, cmd, path, fmt.Sprintf(
		"File validation failed for %s: File is too large (%.1fMB). Maximum allowed size is %dMB.",
		path, float64(size)/1024/1024, limit/1024/1024))
}

// save writes content to the file of t, within the write limit.
func (e *Editor) save(cmd string, t target, content string) error {
	if int64(len(content)) > e.fs.maxWrite {
		return newError(ErrTooLarge, cmd, t.shown, fmt.Sprintf(
			"No change was made: the new content of %s would be %s, over the %s write limit.",
			t.shown, humanSize(int64(len(content))), humanSize(e.fs.maxWrite)))
	}
	if err := e.fs.writeTarget(cmd, t, []byte(content)); err != nil {
		return newError(kindOf(err), cmd, t.shown, fmt.Sprintf("Ran into %s while trying to write to %s", causeText(err), t.shown))
	}
	return nil
}

func (e *Editor) create(t target, text string) (EditResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := os.Stat(t.real); err == nil { // created since target() looked
		return EditResult{}, invalidParam(ErrExists, CmdCreate, "path", t.shown, fmt.Sprintf(
			"File already exists at: %s. Cannot overwrite files using command `create`.", t.shown))
	}
	if err := e.save(CmdCreate, t, text); err != nil {
		return EditResult{}, err
	}
	// The OpenHands editor records the created text as history, so an undo
	// right after create rewrites the same text. Here history holds only
	// contents that existed before an edit: nothing to undo after create.
	return EditResult{
		Command:    CmdCreate,
		Path:       t.shown,
		Output:     "File created successfully at: " + t.shown,
		NewContent: &text,
	}, nil
}

func (e *Editor) strReplace(t target, oldStr, newStr string) (EditResult, error) {
	if newStr == oldStr {
		return EditResult{}, invalidParam(ErrInvalid, CmdStrReplace, "new_str", newStr,
			"No replacement was performed. `new_str` and `old_str` must be different.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.load(CmdStrReplace, t)
	if err != nil {
		return EditResult{}, err
	}
	oldStr, newStr = d.normalize(oldStr), d.normalize(newStr)
	at := findAll(d.text, oldStr)
	if len(at) == 0 {
		// Perhaps only surrounding whitespace differs: try without it.
		oldStr, newStr = strings.TrimFunc(oldStr, pyIsSpace), strings.TrimFunc(newStr, pyIsSpace)
		at = findAll(d.text, oldStr)
		if len(at) == 0 {
			return EditResult{}, newError(ErrConflict, CmdStrReplace, t.shown, fmt.Sprintf(
				"No replacement was performed, old_str `%s` did not appear verbatim in %s.", oldStr, t.shown))
		}
	}
	lines := lineNumbers(d.text, at)
	if len(at) > 1 {
		return EditResult{}, newError(ErrConflict, CmdStrReplace, t.shown, fmt.Sprintf(
			"No replacement was performed. Multiple occurrences of old_str `%s` in lines %s. Please ensure it is unique.",
			oldStr, pyList(dedupe(lines))))
	}
	text := d.text[:at[0]] + newStr + d.text[at[0]+len(oldStr):]
	newRaw := d.encode(text)
	if err := e.save(CmdStrReplace, t, newRaw); err != nil {
		return EditResult{}, err
	}
	e.history.push(t.real, d.raw)

	start := max(0, lines[0]-snippetContext)
	end := lines[0] + snippetContext + strings.Count(newStr, "\n")
	snippet := lineSpan(text, start+1, end)
	out := fmt.Sprintf("The file %s has been edited. ", t.shown) +
		makeOutput(snippet, "a snippet of "+t.shown, start+1) +
		"Review the changes and make sure they are as expected. Edit the file again if necessary."
	return EditResult{
		Command:    CmdStrReplace,
		Path:       t.shown,
		Output:     out,
		PrevExist:  true,
		OldContent: &d.raw,
		NewContent: &newRaw,
	}, nil
}

func (e *Editor) insert(t target, line int, newStr string) (EditResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.load(CmdInsert, t)
	if err != nil {
		return EditResult{}, err
	}
	n := countLines(d.text)
	if line < 0 || line > n {
		return EditResult{}, invalidParam(ErrInvalid, CmdInsert, "insert_line", strconv.Itoa(line), fmt.Sprintf(
			"It should be within the range of allowed values: %s", pyList([]int{0, n})))
	}
	newStr = d.normalize(newStr)
	head := lineSpan(d.text, 1, line)
	rest := d.text[len(head):]
	if head != "" && !strings.HasSuffix(head, "\n") {
		// Inserting after a last line that has no newline: end that line
		// first rather than glue the new text onto it.
		head += "\n"
	}
	text := head + newStr + "\n" + rest
	newRaw := d.encode(text)
	if err := e.save(CmdInsert, t, newRaw); err != nil {
		return EditResult{}, err
	}
	e.history.push(t.real, d.raw)

	added := strings.Count(newStr, "\n") + 1
	start := max(0, line-snippetContext)
	end := min(n+added, line+snippetContext+added)
	snippet := lineSpan(text, start+1, end)
	out := fmt.Sprintf("The file %s has been edited. ", t.shown) +
		makeOutput(snippet, "a snippet of the edited file", start+1) +
		"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."
	return EditResult{
		Command:    CmdInsert,
		Path:       t.shown,
		Output:     out,
		PrevExist:  true,
		OldContent: &d.raw,
		NewContent: &newRaw,
	}, nil
}

func (e *Editor) undoEdit(t target) (EditResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.load(CmdUndoEdit, t)
	if err != nil {
		return EditResult{}, err
	}
	prev, ok := e.history.pop(t.real)
	if !ok {
		return EditResult{}, newError(ErrConflict, CmdUndoEdit, t.shown, fmt.Sprintf("No edit history found for %s.", t.shown))
	}
	if err := e.save(CmdUndoEdit, t, prev); err != nil {
		e.history.push(t.real, prev) // still undoable
		return EditResult{}, err
	}
	shown := strings.ReplaceAll(prev, "\r\n", "\n")
	return EditResult{
		Command:    CmdUndoEdit,
		Path:       t.shown,
		Output:     fmt.Sprintf("Last edit to %s undone successfully. ", t.shown) + makeOutput(shown, t.shown, 1),
		PrevExist:  true,
		OldContent: &d.raw,
		NewContent: &prev,
	}, nil
}

// findAll returns the byte offsets of the non-overlapping occurrences of
// sub in s, left to right, as Python's re.finditer finds them. An empty sub
// occurs at every character boundary.
func findAll(s, sub string) []int {
	var at []int
	if sub == "" {
		for i := range s {
			at = append(at, i)
		}
		return append(at, len(s))
	}
	for off := 0; ; {
		i := strings.Index(s[off:], sub)
		if i < 0 {
			return at
		}
		at = append(at, off+i)
		off += i + len(sub)
	}
}

// lineNumbers returns the 1-based line of each offset (ascending) in s.
func lineNumbers(s string, offsets []int) []int {
	lines := make([]int, len(offsets))
	line, pos := 1, 0
	for i, off := range offsets {
		line += strings.Count(s[pos:off], "\n")
		pos = off
		lines[i] = line
	}
	return lines
}

// dedupe drops repeats from an ascending list.
func dedupe(ns []int) []int {
	out := ns[:0:0]
	for i, n := range ns {
		if i == 0 || n != ns[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// pyIsSpace is Python's str.isspace for one character, which str.strip
// uses: Go's unicode.IsSpace plus the ASCII separators 0x1c to 0x1f.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
