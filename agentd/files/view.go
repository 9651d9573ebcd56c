package files

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Output bounds and notices of the OpenHands file editor.
const (
	maxResponseChars = 16000 // longest text shown, in characters
	snippetContext   = 4     // lines shown around an edit
	maxDirLines      = 50000 // directory view stops listing here

	textTruncatedNotice = "<response clipped><NOTE>Due to the max output limit, only part of this file " +
		"has been shown to you. You should retry this tool after you have searched " +
		"inside the file with `grep -n` in order to find the line numbers of what you " +
		"are looking for.</NOTE>"
	dirTruncatedNotice = "<response clipped><NOTE>Due to the max output limit, only part of this " +
		"directory has been shown to you. You should use `ls -la` instead to view " +
		"large directories incrementally.</NOTE>"
)

// imageType returns the media type of the file extensions that view
// returns as images.
func imageType(ext string) (string, bool) {
	switch strings.ToLower(ext) {
	case ".png":
		return "image/png", true
	case ".jpg", ".jpeg":
		return "image/jpeg", true
	case ".gif":
		return "image/gif", true
	case ".webp":
		return "image/webp", true
	case ".bmp":
		return "image/bmp", true
	}
	return "", false
}

func (e *Editor) view(t target, fi fs.FileInfo, viewRange []int) (EditResult, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	res := EditResult{Command: CmdView, Path: t.shown, PrevExist: true}
	if fi.IsDir() {
		if len(viewRange) > 0 {
			return EditResult{}, invalidParam(ErrInvalid, CmdView, "view_range", pyList(viewRange),
				"The `view_range` parameter is not allowed when `path` points to a directory.")
		}
		out, err := viewDir(t)
		if err != nil {
			return EditResult{}, err
		}
		res.Output = out
		return res, nil
	}
	if mime, ok := imageType(filepath.Ext(t.shown)); ok {
		return e.viewImage(t, mime)
	}
	d, err := e.load(CmdView, t)
	if err != nil {
		return EditResult{}, err
	}
	if len(viewRange) == 0 {
		res.Output = makeOutput(d.text, t.shown, 1)
		return res, nil
	}
	if len(viewRange) != 2 {
		return EditResult{}, invalidParam(ErrInvalid, CmdView, "view_range", pyList(viewRange),
			"It should be a list of two integers.")
	}
	n := countLines(d.text)
	start, end := viewRange[0], viewRange[1]
	if start < 1 || start > n {
		return EditResult{}, invalidParam(ErrInvalid, CmdView, "view_range", pyList(viewRange), fmt.Sprintf(
			"Its first element `%d` should be within the range of lines of the file: %s.", start, pyList([]int{1, n})))
	}
	note := ""
	switch {
	case end == -1:
		end = n
	case end > n:
		note = fmt.Sprintf("NOTE: We only show up to %d since there're only %d lines in this file.\n", n, n)
		end = n
	}
	if end < start {
		return EditResult{}, invalidParam(ErrInvalid, CmdView, "view_range", pyList(viewRange), fmt.Sprintf(
			"Its second element `%d` should be greater than or equal to the first element `%d`.", end, start))
	}
	span := strings.TrimSuffix(lineSpan(d.text, start, end), "\n")
	res.Output = note + makeOutput(span, t.shown, start)
	return res, nil
}

func (e *Editor) viewImage(t target, mime string) (EditResult, error) {
	file, fi, err := openRegular(t.real)
	if err != nil {
		return EditResult{}, newError(kindOf(err), CmdView, t.shown, fmt.Sprintf("Failed to read image file %s: %s", t.shown, causeText(err)))
	}
	defer file.Close()
	if fi.Size() > e.fs.maxRead {
		return EditResult{}, tooLargeForEditor(CmdView, t.shown, fi.Size(), e.fs.maxRead)
	}
	data, err := readLimited(file, e.fs.maxRead)
	if err == errOverLimit {
		return EditResult{}, tooLargeForEditor(CmdView, t.shown, int64(len(data)), e.fs.maxRead)
	}
	if err != nil {
		return EditResult{}, newError(kindOf(err), CmdView, t.shown, fmt.Sprintf("Failed to read image file %s: %s", t.shown, causeText(err)))
	}
	return EditResult{
		Command:   CmdView,
		Path:      t.shown,
		PrevExist: true,
		Output:    fmt.Sprintf("Image file %s read successfully. Displaying image content.", t.shown),
		ImageURL:  "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data),
	}, nil
}

// viewDir lists a directory and its children's children, hidden entries
// left out, as the OpenHands editor does.
func viewDir(t target) (string, error) {
	entries, err := os.ReadDir(t.real)
	if err != nil {
		return "", osError(CmdView, t.shown, err)
	}
	show := func(rel string) string {
		if rel == "" {
			return t.shown
		}
		return strings.TrimSuffix(t.shown, "/") + "/" + rel
	}
	lines := []string{show("") + "/"}
	hidden := 0
	for _, ent := range entries {
		if strings.HasPrefix(ent.Name(), ".") {
			hidden++
			continue
		}
		if len(lines) >= maxDirLines {
			continue
		}
		child := filepath.Join(t.real, ent.Name())
		st, err := os.Stat(child) // follows symlinks, like Path.is_dir
		isDir := err == nil && st.IsDir()
		if !isDir {
			lines = append(lines, show(ent.Name()))
			continue
		}
		lines = append(lines, show(ent.Name())+"/")
		grand, err := os.ReadDir(child)
		if err != nil {
			continue // unreadable subdirectories are listed without children
		}
		for _, g := range grand {
			if strings.HasPrefix(g.Name(), ".") || len(lines) >= maxDirLines {
				continue
			}
			rel := ent.Name() + "/" + g.Name()
			if st, err := os.Stat(filepath.Join(child, g.Name())); err == nil && st.IsDir() {
				rel += "/"
			}
			lines = append(lines, show(rel))
		}
	}
	msg := fmt.Sprintf("Here's the files and directories up to 2 levels deep in %s, excluding hidden items:\n", t.shown) +
		strings.Join(lines, "\n")
	if hidden > 0 {
		msg += fmt.Sprintf("\n\n%d hidden files/directories in this directory are excluded. You can use 'ls -la %s' to see them.", hidden, t.shown)
	}
	return truncateMiddle(msg, maxResponseChars, dirTruncatedNotice), nil
}

// makeOutput numbers the lines of content as `cat -n` does, starting at
// start, under the editor's heading. Like the OpenHands editor, a content
// ending in a newline gets a last, empty, numbered line, and content over
// maxResponseChars loses its middle to a notice. Unlike it, the lines after
// the notice keep their true numbers rather than continuing the head's.
func makeOutput(content, description string, start int) string {
	var b strings.Builder
	b.WriteString("Here's the result of running `cat -n` on ")
	b.WriteString(description)
	b.WriteString(":\n")
	head, tail, cut := splitMiddle(content, maxResponseChars, textTruncatedNotice)
	if !cut {
		numberLines(&b, content, start)
		b.WriteByte('\n')
		return b.String()
	}
	// The notice joins the head's last line to the tail's first, as in
	// the OpenHands editor; the tail's later lines are numbered by where
	// they are in content.
	numberLines(&b, head+textTruncatedNotice, start)
	first, rest, more := strings.Cut(tail, "\n")
	b.WriteString(first)
	if more {
		b.WriteByte('\n')
		numberLines(&b, rest, start+strings.Count(content[:len(content)-len(tail)], "\n")+1)
	}
	b.WriteByte('\n')
	return b.String()
}

// numberLines writes each line of s with its number, from start.
func numberLines(b *strings.Builder, s string, start int) {
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(b, "%6d\t%s", start+i, line)
	}
}

// truncateMiddle keeps the head and tail of s, limit characters in all with
// notice between them, when s is longer than limit characters.
func truncateMiddle(s string, limit int, notice string) string {
	if n := []rune(notice); len(n) >= limit && utf8.RuneCountInString(s) > limit {
		return string(n[:limit]) // not even the notice fits
	}
	head, tail, cut := splitMiddle(s, limit, notice)
	if !cut {
		return s
	}
	return head + notice + tail
}

// splitMiddle returns the head and tail of s that fit in limit characters
// with notice between them, as the OpenHands SDK's maybe_truncate cuts
// (the head gets the odd character). cut is false when s fits as it is.
// limit must leave room for the notice.
func splitMiddle(s string, limit int, notice string) (head, tail string, cut bool) {
	if limit <= 0 || utf8.RuneCountInString(s) <= limit {
		return s, "", false
	}
	r := []rune(s)
	avail := limit - utf8.RuneCountInString(notice)
	h := avail/2 + avail%2
	return string(r[:h]), string(r[len(r)-(avail-h):]), true
}
