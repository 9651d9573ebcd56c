package files

// Default bounds of the editor's undo history.
const (
	DefaultHistoryPerFile       = 10       // as the OpenHands editor keeps
	DefaultHistoryBytes   int64 = 64 << 20 // across all files
)

// history keeps, per file, the contents it had before each edit, newest
// last. It is bounded in entries per file and in bytes overall; past the
// byte bound the oldest entries of any file go first. Not safe for
// concurrent use: Editor guards it.
type history struct {
	perFile  int
	maxBytes int64
	bytes    int64
	seq      uint64
	files    map[string][]snapshot
}

type snapshot struct {
	content string
	seq     uint64 // order of pushes across files, for eviction
}

func newHistory(perFile int, maxBytes int64) *history {
	return &history{perFile: perFile, maxBytes: maxBytes, files: make(map[string][]snapshot)}
}

// push records content as the state of path before an edit.
func (h *history) push(path, content string) {
	h.seq++
	s := append(h.files[path], snapshot{content: content, seq: h.seq})
	h.bytes += int64(len(content))
	if len(s) > h.perFile {
		h.bytes -= int64(len(s[0].content))
		s = s[1:]
	}
	h.files[path] = s
	for h.bytes > h.maxBytes && h.evictOldest() {
	}
}

// pop removes and returns the newest state recorded for path.
func (h *history) pop(path string) (string, bool) {
	s := h.files[path]
	if len(s) == 0 {
		return "", false
	}
	last := s[len(s)-1]
	if len(s) == 1 {
		delete(h.files, path)
	} else {
		h.files[path] = s[:len(s)-1]
	}
	h.bytes -= int64(len(last.content))
	return last.content, true
}

// evictOldest drops the oldest entry of all files; false when empty.
func (h *history) evictOldest() bool {
	oldest, found := "", false
	var seq uint64
	for p, s := range h.files {
		if !found || s[0].seq < seq {
			oldest, seq, found = p, s[0].seq, true
		}
	}
	if !found {
		return false
	}
	s := h.files[oldest]
	h.bytes -= int64(len(s[0].content))
	if len(s) == 1 {
		delete(h.files, oldest)
	} else {
		h.files[oldest] = s[1:]
	}
	return true
}

// len returns the number of entries kept for path (for tests).
func (h *history) len(path string) int { return len(h.files[path]) }
