package security

import (
	"slices"

	"github.com/gohands/gohands/event"
)

// ToolFields tells rules about one tool: the fields of its actions they
// may name and how they are read. Rules cover the tools they are given
// (Options.Tools; tools.SecurityFields lists GoHands'): an action of any
// other tool that no rule matches is UNKNOWN rather than LOW, and a rules
// file may name any field for it.
type ToolFields struct {
	// Tool is the tool's name ("terminal").
	Tool string
	// Fields are the fields rules may name: the action's JSON fields and
	// those Derive adds. Those of Command come on top.
	Fields []string
	// Derive, if set, returns fields read off an action beyond its JSON
	// fields (the files a patch touches); they replace JSON fields of the
	// same name.
	Derive func(act event.ToolAction) map[string][]string
	// Paths are fields that hold file paths: rules see absolute ones
	// cleaned, so that "/workspace/../etc" is also "/etc".
	Paths []string
	// Command names the field that holds a shell command line, if any.
	// Rules see each of its simple commands through the fields program,
	// args, line, assign, redirect and input.
	Command string
}

// commandFields are the fields of each simple command of a command line;
// see ToolFields.Command.
var commandFields = []string{"program", "args", "line", "assign", "redirect", "input"}

// names returns the fields rules may name for the tool.
func (f *ToolFields) names() []string {
	if f.Command == "" {
		return f.Fields
	}
	return append(slices.Clip(f.Fields), commandFields...)
}

// lookupTool returns the fields of the tool of a name, nil if tools do
// not have it.
func lookupTool(tools []ToolFields, name string) *ToolFields {
	for i := range tools {
		if tools[i].Tool == name {
			return &tools[i]
		}
	}
	return nil
}
