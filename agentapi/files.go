package agentapi

import (
	"io/fs"
	"strconv"
	"time"
)

// The Type of a FileEntry.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeOther   = "other" // device, FIFO, socket
)

// TarType is the content type of a tar stream, uploaded (UploadTar) or
// downloaded.
const TarType = "application/x-tar"

// FileText is the answer of a read: the lines asked for and where they sit.
type FileText struct {
	Path       string `json:"path"`
	Content    string `json:"content"`     // the lines, with their line endings
	Start      int    `json:"start"`       // first line returned, 1-based
	End        int    `json:"end"`         // last line returned; Start-1 when none
	TotalLines int    `json:"total_lines"` // lines in the whole file
}

// FileEntry describes one file system entry, without following a symlink.
type FileEntry struct {
	Name    string      `json:"name"`
	Path    string      `json:"path"` // absolute
	Type    string      `json:"type"` // TypeFile, TypeDir, TypeSymlink or TypeOther
	Size    int64       `json:"size"`
	Mode    fs.FileMode `json:"mode"` // permission and type bits, as Go's fs.FileMode
	ModTime time.Time   `json:"mtime"`
	Target  string      `json:"target,omitempty"` // where a symlink points
	// Real is the path with every symlink resolved, the last one included
	// (Stat only): callers use it to tell whether a path leads out of a
	// folder.
	Real string `json:"real,omitempty"`
}

// Listing is the answer of a directory listing.
type Listing struct {
	Path      string      `json:"path"`
	Entries   []FileEntry `json:"entries"`   // depth first, each directory by name
	Truncated bool        `json:"truncated"` // Limit entries were returned and more exist
}

// WriteRequest writes a whole file (parents are made).
type WriteRequest struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// GlobRequest finds files by pattern ("**/*.go").
type GlobRequest struct {
	Pattern string `json:"pattern"`
	Dir     string `json:"dir,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// GlobResult is the answer of a glob.
type GlobResult struct {
	Dir       string   `json:"dir"`       // the directory searched
	Files     []string `json:"files"`     // absolute paths, newest first
	Truncated bool     `json:"truncated"` // more files matched than returned
}

// GrepRequest searches file contents with a regular expression (RE2).
type GrepRequest struct {
	Pattern    string `json:"pattern"`
	Path       string `json:"path,omitempty"`
	Include    string `json:"include,omitempty"`
	IgnoreCase bool   `json:"ignore_case,omitempty"`
	Hidden     bool   `json:"hidden,omitempty"`
	FilesOnly  bool   `json:"files_only,omitempty"`
	MaxMatches int    `json:"max_matches,omitempty"`
}

// Match is one line a grep found.
type Match struct {
	Path string `json:"path"`
	Line int    `json:"line"` // 1-based
	Text string `json:"text"` // the line without its newline, cut at 1000 bytes
}

// String formats the match as grep -n does: path:line:text.
func (m Match) String() string {
	return m.Path + ":" + strconv.Itoa(m.Line) + ":" + m.Text
}

// GrepResult is the answer of a grep.
type GrepResult struct {
	Matches   []Match `json:"matches"`
	Truncated bool    `json:"truncated"` // the bound was hit: there may be more
}

// EditRequest is one file_editor tool call as the model sends it. Optional
// parameters are pointers so that "missing" and "empty" differ: an empty
// new_str deletes, a missing one is an error.
type EditRequest struct {
	Command    string  `json:"command"`
	Path       string  `json:"path"`
	FileText   *string `json:"file_text,omitempty"`
	ViewRange  []int   `json:"view_range,omitempty"`
	OldStr     *string `json:"old_str,omitempty"`
	NewStr     *string `json:"new_str,omitempty"`
	InsertLine *int    `json:"insert_line,omitempty"`
}

// EditResult is what a successful command returns. Output is the text the
// model is shown, as the OpenHands file editor words it.
type EditResult struct {
	Command    string  `json:"command"`
	Path       string  `json:"path"`
	Output     string  `json:"output"`
	PrevExist  bool    `json:"prev_exist"`
	OldContent *string `json:"old_content,omitempty"` // the file before a change
	NewContent *string `json:"new_content,omitempty"` // the file after a change
	// ImageURL is set when view opened an image: a data: URL with the
	// image in base64, for an image content block.
	ImageURL string `json:"image_url,omitempty"`
}

// UploadResult says what an upload wrote.
type UploadResult struct {
	Path  string      `json:"path"`
	Bytes int64       `json:"bytes"`
	Tree  *TreeUpload `json:"tree,omitempty"`
}

// TreeUpload says what unpacking an uploaded tar stream wrote.
type TreeUpload struct {
	Dest     string   `json:"dest"`
	Files    int      `json:"files"`
	Dirs     int      `json:"dirs"`
	Links    int      `json:"links"`    // symbolic and hard
	Replaced int      `json:"replaced"` // existing files and links replaced
	Bytes    int64    `json:"bytes"`
	Skipped  []string `json:"skipped,omitempty"` // devices, FIFOs and other entries not extracted
}
