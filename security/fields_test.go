package security

import (
	"strings"

	"github.com/gohands/gohands/event"
)

// testTools are GoHands' tools as the rules see them, for the tests of
// this package (the real ones come from tools.SecurityFields, whose own
// test checks them against the built-in rules).
var testTools = []ToolFields{
	{Tool: event.ToolTerminal, Fields: []string{"command", "is_input", "timeout", "reset"}, Command: "command"},
	{Tool: event.ToolFileEditor, Fields: []string{"command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"}, Paths: []string{"path"}},
	{Tool: event.ToolApplyPatch, Fields: []string{"patch", "path"}, Paths: []string{"path"},
		Derive: func(act event.ToolAction) map[string][]string {
			if x, ok := act.(*event.ApplyPatchAction); ok {
				return map[string][]string{"path": patchPaths(x.Patch)}
			}
			return nil
		}},
	{Tool: event.ToolBrowser, Fields: []string{"url", "new_tab", "extract_links", "start_from_char", "secret"}},
	{Tool: event.ToolBrowserNavigate, Fields: []string{"url", "new_tab", "secret"}},
	{Tool: event.ToolBrowserType, Fields: []string{"index", "text", "secret"}},
	{Tool: event.ToolBrowserClick, Fields: []string{"index", "new_tab"}},
	{Tool: event.ToolGlob, Fields: []string{"pattern", "path"}},
	{Tool: event.ToolGrep, Fields: []string{"pattern", "path", "include"}},
	{Tool: event.ToolTaskTracker, Fields: []string{"command", "task_list"}},
	{Tool: event.ToolThink, Fields: []string{"thought"}},
	{Tool: event.ToolFinish, Fields: []string{"message"}},
}

// patchPaths returns the files an apply_patch patch adds, updates,
// deletes or moves to.
func patchPaths(patch string) []string {
	var paths []string
	for line := range strings.Lines(patch) {
		line = strings.TrimRight(line, "\r\n")
		for _, prefix := range []string{"*** Add File:", "*** Update File:", "*** Delete File:", "*** Move to:"} {
			if p, ok := strings.CutPrefix(line, prefix); ok {
				if p = strings.TrimSpace(p); p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	return paths
}
