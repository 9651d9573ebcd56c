package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/llm"
)

// tool is one tool the model can call.
type tool struct {
	name        string
	kind        string // the SDK's class name, for SystemPromptEvent
	description string
	schema      string // JSON schema of the arguments
	// decode turns the model's arguments into an action.
	decode func(args []byte) (event.ToolAction, error)
}

// DefaultTools are the tools an agent gets when its conversation names
// none.
var DefaultTools = []string{event.ToolTerminal, event.ToolFileEditor, event.ToolTaskTracker,
	event.ToolGlob, event.ToolGrep, event.ToolApplyPatch, event.ToolBrowser, event.ToolThink, event.ToolFinish}

var tools = map[string]tool{
	event.ToolTerminal: {
		name: event.ToolTerminal, kind: "TerminalTool",
		description: "Run a bash command in the sandbox's terminal. The shell keeps its working directory, " +
			"variables and functions between calls. A command that prints nothing for a while is left running " +
			"and reported with exit code -1: call again with an empty command to wait for more output, with " +
			"is_input true to type into it (answers to prompts, or the keys C-c, C-d, C-z). Use timeout for a " +
			"hard limit in seconds. Long output is cut in the middle; the whole is saved to a file. Set reset to " +
			"start a fresh shell. Run one command at a time; chain with && when needed.",
		schema: `{"type":"object","properties":{
			"command":{"type":"string","description":"The command line, or input for a running command."},
			"is_input":{"type":"boolean","description":"Type command into the running command instead of starting a new one."},
			"timeout":{"type":"number","description":"Hard timeout in seconds."},
			"reset":{"type":"boolean","description":"Kill the shell and its jobs and start a new one."}},
			"required":["command"]}`,
		// An empty command waits for more output of a running one.
		decode: decodeInto[event.TerminalAction](nil),
	},
	event.ToolFileEditor: {
		name: event.ToolFileEditor, kind: "FileEditorTool",
		description: "View, create and edit files. view shows a file with line numbers (view_range [first, last] " +
			"for part of it; -1 for the end) or lists a directory two levels deep. create writes a new file " +
			"(file_text). str_replace replaces old_str, which must occur exactly once, by new_str. insert adds " +
			"new_str after line insert_line (0 for the top). undo_edit reverts the last edit of a file. Paths " +
			"are absolute.",
		schema: `{"type":"object","properties":{
			"command":{"type":"string","enum":["view","create","str_replace","insert","undo_edit"]},
			"path":{"type":"string","description":"Absolute path of the file or directory."},
			"file_text":{"type":"string"},
			"old_str":{"type":"string"},
			"new_str":{"type":"string"},
			"insert_line":{"type":"integer"},
			"view_range":{"type":"array","items":{"type":"integer"}}},
			"required":["command","path"]}`,
		decode: decodeInto[event.FileEditorAction](func(a *event.FileEditorAction) error {
			if !slices.Contains([]string{event.EditorView, event.EditorCreate, event.EditorStrReplace,
				event.EditorInsert, event.EditorUndoEdit}, a.Command) {
				return fmt.Errorf("command: %q is not view, create, str_replace, insert or undo_edit", a.Command)
			}
			if a.Path == "" {
				return fmt.Errorf("path: missing")
			}
			return nil
		}),
	},
	event.ToolTaskTracker: {
		name: event.ToolTaskTracker, kind: "TaskTrackerTool",
		description: "Keep a task list for work with several steps. plan replaces the list with task_list; view " +
			"shows it. Mark a task in_progress when you start it and done when it is finished.",
		schema: `{"type":"object","properties":{
			"command":{"type":"string","enum":["view","plan"]},
			"task_list":{"type":"array","items":{"type":"object","properties":{
				"title":{"type":"string"},"notes":{"type":"string"},
				"status":{"type":"string","enum":["todo","in_progress","done"]}},"required":["title"]}}},
			"required":["command"]}`,
		decode: decodeInto[event.TaskTrackerAction](func(a *event.TaskTrackerAction) error {
			if a.Command != event.TaskView && a.Command != event.TaskPlan {
				return fmt.Errorf("command: %q is not view or plan", a.Command)
			}
			for i, t := range a.TaskList {
				if !slices.Contains([]string{event.TaskTodo, event.TaskInProgress, event.TaskDone}, t.Status) {
					return fmt.Errorf("task_list[%d].status: %q is not todo, in_progress or done", i, t.Status)
				}
			}
			return nil
		}),
	},
	event.ToolGlob: {
		name: event.ToolGlob, kind: "GlobTool",
		description: "Find files by name with a glob pattern (\"**/*.go\"), newest first, at most 100.",
		schema: `{"type":"object","properties":{
			"pattern":{"type":"string"},
			"path":{"type":"string","description":"Directory to search; the working directory by default."}},
			"required":["pattern"]}`,
		decode: decodeInto[event.GlobAction](func(a *event.GlobAction) error {
			if a.Pattern == "" {
				return fmt.Errorf("pattern: missing")
			}
			return nil
		}),
	},
	event.ToolGrep: {
		name: event.ToolGrep, kind: "GrepTool",
		description: "Find files whose content matches a regular expression (RE2), newest first, at most 100.",
		schema: `{"type":"object","properties":{
			"pattern":{"type":"string"},
			"path":{"type":"string","description":"Directory to search; the working directory by default."},
			"include":{"type":"string","description":"Glob limiting the files searched, e.g. *.py"}},
			"required":["pattern"]}`,
		decode: decodeInto[event.GrepAction](func(a *event.GrepAction) error {
			if a.Pattern == "" {
				return fmt.Errorf("pattern: missing")
			}
			return nil
		}),
	},
	event.ToolApplyPatch: {
		name: event.ToolApplyPatch, kind: "ApplyPatchTool",
		description: "Apply a patch to files: \"*** Begin Patch\", then for each file \"*** Add File: path\" " +
			"(lines starting with +), \"*** Delete File: path\" or \"*** Update File: path\" followed by hunks " +
			"starting with @@ whose lines start with space (context), - (remove) or + (add), then \"*** End Patch\". " +
			"Relative paths start at the working directory.",
		schema: `{"type":"object","properties":{"patch":{"type":"string"}},"required":["patch"]}`,
		decode: decodeInto[event.ApplyPatchAction](func(a *event.ApplyPatchAction) error {
			if strings.TrimSpace(a.Patch) == "" {
				return fmt.Errorf("patch: missing")
			}
			return nil
		}),
	},
	event.ToolBrowser: {
		name: event.ToolBrowser, kind: "BrowserToolSet",
		description: "Fetch a web page (url) from inside the sandbox and read it as text. Without url, read more " +
			"of the last page from start_from_char. extract_links lists the page's links.",
		schema: `{"type":"object","properties":{
			"url":{"type":"string"},
			"start_from_char":{"type":"integer"},
			"extract_links":{"type":"boolean"}}}`,
		decode: decodeBrowser,
	},
	event.ToolThink: {
		name: event.ToolThink, kind: "ThinkTool",
		description: "Think out loud: write down reasoning or a plan. Changes nothing.",
		schema:      `{"type":"object","properties":{"thought":{"type":"string"}},"required":["thought"]}`,
		decode:      decodeInto[event.ThinkAction](nil),
	},
	event.ToolFinish: {
		name: event.ToolFinish, kind: "FinishTool",
		description: "Finish: the task is done (or cannot be done). message tells the user what was done.",
		schema:      `{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`,
		decode:      decodeInto[event.FinishAction](nil),
	},
}

// decodeInto decodes arguments strictly into a T and checks them.
func decodeInto[T any, P interface {
	*T
	event.ToolAction
}](check func(*T) error) func([]byte) (event.ToolAction, error) {
	return func(args []byte) (event.ToolAction, error) {
		var v T
		if err := decodeArgs(args, &v); err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(&v); err != nil {
				return nil, err
			}
		}
		return P(&v), nil
	}
}

// decodeArgs decodes a tool call's arguments, refusing unknown fields
// (except security_risk and summary, which every tool may carry).
func decodeArgs(args []byte, v any) error {
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = []byte("{}")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil {
		return fmt.Errorf("the arguments are not a JSON object: %v", err)
	}
	delete(m, "security_risk")
	delete(m, "summary")
	clean, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad arguments: %v", err)
	}
	return nil
}

func decodeBrowser(args []byte) (event.ToolAction, error) {
	var a struct {
		URL           string `json:"url"`
		StartFromChar int    `json:"start_from_char"`
		ExtractLinks  bool   `json:"extract_links"`
		NewTab        bool   `json:"new_tab"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.URL != "" {
		if !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
			return nil, fmt.Errorf("url: %q is not an http(s) URL", a.URL)
		}
		return &event.BrowserNavigateAction{URL: a.URL, NewTab: a.NewTab}, nil
	}
	return &event.BrowserGetContentAction{StartFromChar: a.StartFromChar, ExtractLinks: a.ExtractLinks}, nil
}

// securityRiskSchema is added to every tool when the LLM rates its own
// actions.
const securityRiskSchema = `{"type":"string","enum":["LOW","MEDIUM","HIGH"],` +
	`"description":"How risky this action is: LOW (reads, or harmless changes in the workspace), MEDIUM (changes outside the workspace, installs), HIGH (destructive, irreversible, or sends data out)."}`

// specs returns the model's tool list and the SystemPromptEvent's for the
// named tools. With rateRisk, every tool takes a security_risk argument.
func specs(names []string, rateRisk bool) ([]llm.Tool, []event.ToolSpec) {
	var out []llm.Tool
	var shown []event.ToolSpec
	for _, n := range names {
		t, ok := tools[n]
		if !ok {
			continue
		}
		schema := compactJSON(t.schema)
		if rateRisk {
			var m map[string]any
			json.Unmarshal(schema, &m)
			props, _ := m["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				m["properties"] = props
			}
			var risk any
			json.Unmarshal([]byte(securityRiskSchema), &risk)
			props["security_risk"] = risk
			req, _ := m["required"].([]any)
			m["required"] = append(req, "security_risk")
			schema, _ = json.Marshal(m)
		}
		out = append(out, llm.Tool{Name: t.name, Description: t.description, Parameters: schema})
		shown = append(shown, event.ToolSpec{Kind: t.kind, Name: t.name, Description: t.description, Parameters: schema})
	}
	return out, shown
}

func compactJSON(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic("controller: bad tool schema: " + err.Error())
	}
	return b.Bytes()
}

// toolNames returns the conversation's tools, normalised, with think and
// finish always there.
func toolNames(configured []string) []string {
	if len(configured) == 0 {
		return slices.Clone(DefaultTools)
	}
	var out []string
	for _, n := range configured {
		if name, ok := event.ToolName(n); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, n := range []string{event.ToolThink, event.ToolFinish} {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
