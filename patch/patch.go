// Package patch parses and applies patches written in the format of OpenAI's
// apply_patch tool (the "V4A" format), which GoHands' apply_patch tool takes
// from the agent:
//
//	*** Begin Patch
//	*** Add File: docs/new.txt
//	+first line
//	*** Update File: src/app.py
//	*** Move to: src/main.py
//	@@ def greet():
//	-    print("Hi")
//	+    print("Hello")
//	*** Delete File: old.txt
//	*** End Patch
//
// Parse turns the text into operations; Apply computes what every file
// would contain afterwards, reading through a Files and writing nothing, so
// that a patch either applies as a whole or not at all. Paths are kept as the
// patch wrote them: resolving them against a working directory, and refusing
// those that leave it, is the caller's job.
package patch

// The types of an Op and of a Change.
const (
	Add    = "add"
	Delete = "delete"
	Update = "update"
)

// Op is one file operation of a patch.
type Op struct {
	// Type is Add, Delete or Update.
	Type string
	// Path is the file's path as the patch wrote it.
	Path string
	// MovePath, for an Update, is where the updated file goes; empty when it
	// stays where it is.
	MovePath string
	// Hunks are an Update's changes, in file order.
	Hunks []Hunk
	// Content is an Add's new file content: every "+" line followed by "\n".
	Content string
}

// Hunk is one "@@" section of an Update.
type Hunk struct {
	// Anchor is the text after "@@ ", naming a line (often a class or
	// function) that must be found before the hunk's lines. Empty when the
	// "@@" line has none. A hunk with an anchor and no lines only moves the
	// search past its anchor, which lets patches stack anchors ("@@ class A",
	// then "@@ def f():").
	Anchor string
	// Lines are the hunk's context, removed and added lines.
	Lines []Line
	// EndOfFile says the hunk was followed by "*** End of File": its lines
	// are looked for at the end of the file first.
	EndOfFile bool
}

// Line is one line of a hunk.
type Line struct {
	// Kind is ' ' for context, '-' for a removed line, '+' for an added one.
	Kind byte
	// Text is the line without its prefix and without its line ending.
	Text string
}
