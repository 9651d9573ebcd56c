package event

import (
	"encoding/json"
	"reflect"
	"strings"
)

// The tools an agent can be given, by the names clients use in
// agent.tools[].name and the model sees.
const (
	ToolTerminal    = "terminal"
	ToolFileEditor  = "file_editor"
	ToolTaskTracker = "task_tracker"
	ToolGlob        = "glob"
	ToolGrep        = "grep"
	ToolApplyPatch  = "apply_patch"
	ToolBrowser     = "browser"
	ToolThink       = "think"
	ToolFinish      = "finish"
)

// The tools of the real browser, by upstream's names. ToolBrowserToolSet
// names them all: a conversation that asks for it gets them where the
// deployment has a browser, and the text fetcher (ToolBrowser) where not.
const (
	ToolBrowserToolSet    = "browser_tool_set"
	ToolBrowserNavigate   = "browser_navigate"
	ToolBrowserClick      = "browser_click"
	ToolBrowserType       = "browser_type"
	ToolBrowserGetState   = "browser_get_state"
	ToolBrowserGetContent = "browser_get_content"
	ToolBrowserScroll     = "browser_scroll"
	ToolBrowserGoBack     = "browser_go_back"
	ToolBrowserListTabs   = "browser_list_tabs"
	ToolBrowserSwitchTab  = "browser_switch_tab"
	ToolBrowserCloseTab   = "browser_close_tab"
)

// BrowserTools returns the tools ToolBrowserToolSet stands for, in the
// order the model is shown them.
func BrowserTools() []string {
	return []string{ToolBrowserNavigate, ToolBrowserClick, ToolBrowserGetState, ToolBrowserGetContent,
		ToolBrowserType, ToolBrowserScroll, ToolBrowserGoBack, ToolBrowserListTabs, ToolBrowserSwitchTab, ToolBrowserCloseTab}
}

// toolNames maps every accepted spelling of a tool name, lower-cased, to the
// tool's name: the name itself, the SDK's class name ("TerminalTool"), and
// older names.
var toolNames = map[string]string{
	"terminal":           ToolTerminal,
	"terminaltool":       ToolTerminal,
	"execute_bash":       ToolTerminal,
	"bashtool":           ToolTerminal,
	"file_editor":        ToolFileEditor,
	"fileeditortool":     ToolFileEditor,
	"str_replace_editor": ToolFileEditor,
	"task_tracker":       ToolTaskTracker,
	"tasktrackertool":    ToolTaskTracker,
	"glob":               ToolGlob,
	"globtool":           ToolGlob,
	"grep":               ToolGrep,
	"greptool":           ToolGrep,
	"apply_patch":        ToolApplyPatch,
	"applypatchtool":     ToolApplyPatch,
	"browser":            ToolBrowser,
	"browsertool":        ToolBrowser,
	"browser_tool_set":   ToolBrowserToolSet,
	"browsertoolset":     ToolBrowserToolSet,
	"think":              ToolThink,
	"thinktool":          ToolThink,
	"finish":             ToolFinish,
	"finishtool":         ToolFinish,
}

func init() {
	// Each browser tool by its name and by upstream's class name
	// ("browser_go_back", "BrowserGoBackTool").
	for _, name := range BrowserTools() {
		toolNames[name] = name
		toolNames[strings.ReplaceAll(name, "_", "")+"tool"] = name
	}
}

// ToolName returns the name of the tool s names: a tool name ("terminal"),
// the SDK's class name ("TerminalTool", "BrowserToolSet"), or an older name
// ("execute_bash", "browser_tool_set"). Case does not matter. It reports
// false for a tool GoHands does not have.
func ToolName(s string) (string, bool) {
	name, ok := toolNames[strings.ToLower(s)]
	return name, ok
}

// ToolAction is the typed call inside an Action event. The concrete types
// are the pointers *TerminalAction, *FileEditorAction, *TaskTrackerAction,
// *GlobAction, *GrepAction, *ApplyPatchAction, *BrowserNavigateAction,
// *BrowserGetContentAction, the other Browser*Action types, *ThinkAction,
// *FinishAction, *MCPToolAction, and *UnknownAction
// for a kind this package does not know.
type ToolAction interface {
	// Kind is the action's discriminator, as written in its "kind".
	Kind() string
	isToolAction()
}

// ToolObservation is the typed result inside an Observation event. The
// concrete types are the pointers *TerminalObservation,
// *FileEditorObservation, *TaskTrackerObservation, *GlobObservation,
// *GrepObservation, *ApplyPatchObservation, *BrowserObservation,
// *ThinkObservation, *FinishObservation, *MCPToolObservation, and
// *UnknownObservation for a kind
// this package does not know.
type ToolObservation interface {
	// Kind is the observation's discriminator, as written in its "kind".
	Kind() string
	// Output returns the fields every observation has.
	Output() *ToolOutput
}

// ToolOutput holds the fields every tool observation has. Observation types
// embed it.
type ToolOutput struct {
	// Content is what the model is shown. The current SDK writes a list of
	// parts; a plain string, as older versions wrote, is read too.
	Content ContentList `json:"content"`
	// IsError says the tool failed; Content then says why.
	IsError bool `json:"is_error"`
}

// Output returns o itself, so that a pointer to any struct embedding
// ToolOutput exposes it through the ToolObservation interface.
func (o *ToolOutput) Output() *ToolOutput { return o }

// TerminalAction runs a command in the agent's bash terminal, or sends input
// to the command running there.
type TerminalAction struct {
	// Command is the command line; with IsInput, text or a control key
	// ("C-c", "C-d", "C-z") for the running command; empty to read more
	// output of a command that is still running.
	Command string `json:"command"`
	IsInput bool   `json:"is_input"`
	// Timeout, in seconds, is a hard limit; without it, a command that
	// prints nothing for a while is reported as still running (exit code -1).
	Timeout *float64 `json:"timeout,omitempty"`
	// Reset starts a new terminal session.
	Reset bool `json:"reset"`
}

// TerminalObservation is the output of a TerminalAction.
type TerminalObservation struct {
	ToolOutput
	// Command is the command that ran; empty when this is more output of a
	// command that was still running.
	Command string `json:"command"`
	// ExitCode is the command's exit code, -1 while it is still running.
	ExitCode *int `json:"exit_code,omitempty"`
	// Timeout says the command hit its hard timeout.
	Timeout  bool             `json:"timeout"`
	Metadata TerminalMetadata `json:"metadata"`
	// FullOutputSaveDir is where output too long to show was saved in full.
	FullOutputSaveDir string `json:"full_output_save_dir,omitempty"`
}

// TerminalMetadata describes the shell after a command: the SDK's
// CmdOutputMetadata.
type TerminalMetadata struct {
	ExitCode          int    `json:"exit_code"` // -1 when unknown
	PID               int    `json:"pid"`       // -1 when unknown
	Username          string `json:"username,omitempty"`
	Hostname          string `json:"hostname,omitempty"`
	WorkingDir        string `json:"working_dir,omitempty"`
	PyInterpreterPath string `json:"py_interpreter_path,omitempty"`
	Prefix            string `json:"prefix,omitempty"`
	Suffix            string `json:"suffix,omitempty"`
}

// UnmarshalJSON reads metadata, taking -1 for a missing exit code or pid as
// the SDK does.
func (m *TerminalMetadata) UnmarshalJSON(data []byte) error {
	type plain TerminalMetadata
	p := plain{ExitCode: -1, PID: -1}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*m = TerminalMetadata(p)
	return nil
}

// The commands of the file editor.
const (
	EditorView       = "view"
	EditorCreate     = "create"
	EditorStrReplace = "str_replace"
	EditorInsert     = "insert"
	EditorUndoEdit   = "undo_edit"
)

// FileEditorAction views, creates or edits a file.
type FileEditorAction struct {
	// Command is one of the Editor* commands.
	Command string `json:"command"`
	// Path is absolute.
	Path string `json:"path"`
	// FileText is the content for create.
	FileText *string `json:"file_text,omitempty"`
	// OldStr is the text str_replace replaces.
	OldStr *string `json:"old_str,omitempty"`
	// NewStr is the replacement for str_replace, the text for insert.
	NewStr *string `json:"new_str,omitempty"`
	// InsertLine is the line insert inserts after (0 for the top).
	InsertLine *int `json:"insert_line,omitempty"`
	// ViewRange is the [first, last] lines view shows, from 1; last -1
	// means to the end.
	ViewRange []int `json:"view_range,omitempty"`
}

// FileEditorObservation is the result of a FileEditorAction.
type FileEditorObservation struct {
	ToolOutput
	Command string `json:"command"`
	Path    string `json:"path,omitempty"`
	// PrevExist says the file existed before; false after a create.
	// Unmarshal takes true when it is absent, as the SDK does.
	PrevExist  bool    `json:"prev_exist"`
	OldContent *string `json:"old_content,omitempty"`
	NewContent *string `json:"new_content,omitempty"`
}

// The commands and task states of the task tracker.
const (
	TaskView       = "view"
	TaskPlan       = "plan"
	TaskTodo       = "todo"
	TaskInProgress = "in_progress"
	TaskDone       = "done"
)

// TaskTrackerAction shows (view) or replaces (plan) the agent's task list.
type TaskTrackerAction struct {
	Command  string     `json:"command"`
	TaskList []TaskItem `json:"task_list"`
}

// TaskTrackerObservation is the task list after a TaskTrackerAction.
type TaskTrackerObservation struct {
	ToolOutput
	Command  string     `json:"command"`
	TaskList []TaskItem `json:"task_list"`
}

// TaskItem is one task of the task tracker.
type TaskItem struct {
	// ID is stable across updates. Older SDKs had none.
	ID    string `json:"id,omitempty"`
	Title string `json:"title"`
	Notes string `json:"notes"`
	// Status is TaskTodo, TaskInProgress or TaskDone.
	Status string `json:"status"`
}

// UnmarshalJSON reads a task, taking "todo" for a missing status as the
// SDK does.
func (t *TaskItem) UnmarshalJSON(data []byte) error {
	type plain TaskItem
	p := plain{Status: TaskTodo}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*t = TaskItem(p)
	return nil
}

// GlobAction finds files whose paths match a glob pattern.
type GlobAction struct {
	Pattern string `json:"pattern"`
	// Path is the directory to search, by default the working directory.
	Path string `json:"path,omitempty"`
}

// GlobObservation lists the files a GlobAction found, newest first.
type GlobObservation struct {
	ToolOutput
	Files      []string `json:"files"`
	Pattern    string   `json:"pattern"`
	SearchPath string   `json:"search_path"`
	// Truncated says there were more than the 100 files listed.
	Truncated bool `json:"truncated"`
}

// GrepAction finds files whose content matches a regular expression.
type GrepAction struct {
	Pattern string `json:"pattern"`
	// Path is the directory to search, by default the working directory.
	Path string `json:"path,omitempty"`
	// Include is a glob that limits the files searched ("*.go").
	Include string `json:"include,omitempty"`
}

// GrepObservation lists the files a GrepAction found, newest first.
type GrepObservation struct {
	ToolOutput
	Matches        []string `json:"matches"`
	Pattern        string   `json:"pattern"`
	SearchPath     string   `json:"search_path"`
	IncludePattern string   `json:"include_pattern,omitempty"`
	// Truncated says there were more than the 100 files listed.
	Truncated bool `json:"truncated"`
}

// ApplyPatchAction applies a patch in the "*** Begin Patch" ... "*** End
// Patch" format of OpenAI's apply_patch tool.
type ApplyPatchAction struct {
	Patch string `json:"patch"`
}

// ApplyPatchObservation is the result of an ApplyPatchAction.
type ApplyPatchObservation struct {
	ToolOutput
	Message string `json:"message"`
	// Fuzz is how many lines of fuzz the hunks needed; 0 means exact.
	Fuzz   int          `json:"fuzz"`
	Commit *PatchCommit `json:"commit,omitempty"`
}

// PatchCommit is what a patch changed, by path.
type PatchCommit struct {
	Changes map[string]FileChange `json:"changes,omitempty"`
}

// FileChange is the change a patch made to one file.
type FileChange struct {
	// Type is "add", "delete" or "update".
	Type       string  `json:"type"`
	OldContent *string `json:"old_content,omitempty"`
	NewContent *string `json:"new_content,omitempty"`
	MovePath   *string `json:"move_path,omitempty"`
}

// BrowserNavigateAction opens a URL in the browser, in a new tab with
// NewTab. The text fetcher (the browser tool) fetches the URL and returns
// the page as readable text, and ignores NewTab.
type BrowserNavigateAction struct {
	URL    string `json:"url"`
	NewTab bool   `json:"new_tab"`
}

// BrowserGetContentAction returns the page as Markdown from a character
// offset on, for pages too long for one observation; the text fetcher
// reads the page it fetched last.
type BrowserGetContentAction struct {
	ExtractLinks  bool `json:"extract_links"`
	StartFromChar int  `json:"start_from_char"`
}

// BrowserClickAction clicks the element of an index of the page's state
// (BrowserGetStateAction); NewTab opens a navigation it starts in a new
// tab.
type BrowserClickAction struct {
	Index  int  `json:"index"`
	NewTab bool `json:"new_tab"`
}

// BrowserTypeAction types text into the element of an index of the page's
// state.
type BrowserTypeAction struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// BrowserGetStateAction returns the page's state: its URL, title and
// numbered interactive elements, with a screenshot when asked.
type BrowserGetStateAction struct {
	IncludeScreenshot bool `json:"include_screenshot"`
}

// The directions of a BrowserScrollAction.
const (
	ScrollUp   = "up"
	ScrollDown = "down"
)

// BrowserScrollAction scrolls the page by a screen, ScrollDown (the
// default) or ScrollUp.
type BrowserScrollAction struct {
	Direction string `json:"direction"`
}

// BrowserGoBackAction goes back to the previous page of the tab.
type BrowserGoBackAction struct{}

// BrowserListTabsAction lists the browser's tabs.
type BrowserListTabsAction struct{}

// BrowserSwitchTabAction makes a tab (by the id BrowserListTabsAction
// gives) the one the other actions act on.
type BrowserSwitchTabAction struct {
	TabID string `json:"tab_id"`
}

// BrowserCloseTabAction closes a tab.
type BrowserCloseTabAction struct {
	TabID string `json:"tab_id"`
}

// BrowserObservation is the result of a browser action.
type BrowserObservation struct {
	ToolOutput
	// URL is the page's address after redirects (GoHands only).
	URL string `json:"url,omitempty"`
	// ScreenshotData is a base64 PNG of the page, when one was asked for.
	ScreenshotData string `json:"screenshot_data,omitempty"`
	// ScreenshotPath is where the screenshot was saved in the sandbox
	// (GoHands only; the SDK says it only in the content).
	ScreenshotPath string `json:"screenshot_path,omitempty"`
	// FullOutputSaveDir is the sandbox folder screenshots are saved in.
	FullOutputSaveDir string `json:"full_output_save_dir,omitempty"`
}

// ThinkAction logs a thought; it changes nothing.
type ThinkAction struct {
	Thought string `json:"thought"`
}

// ThinkObservation acknowledges a ThinkAction.
type ThinkObservation struct {
	ToolOutput
}

// FinishAction ends the agent's turn with a message to the user.
type FinishAction struct {
	Message string `json:"message"`
}

// FinishObservation acknowledges a FinishAction.
type FinishObservation struct {
	ToolOutput
}

// MCPToolAction calls a tool of a Model Context Protocol server. The
// ActionEvent's tool_name is the name the model was offered; Server and
// Tool (GoHands' additions to the SDK's action, which has only data) say
// which server's tool it is, so that the action can run again from itself
// alone (after a confirmation, after a restart).
type MCPToolAction struct {
	// Data holds the call's arguments: a JSON object, as the model wrote
	// it.
	Data json.RawMessage `json:"data"`
	// Server is the MCP server's name in the conversation's mcpServers.
	Server string `json:"server,omitempty"`
	// Tool is the tool's name on its server.
	Tool string `json:"tool,omitempty"`
}

// MCPToolObservation is the result of an MCPToolAction: its text and
// image parts, led by a line naming the tool, as the SDK writes it.
type MCPToolObservation struct {
	ToolOutput
	// ToolName is the name the model was offered.
	ToolName string `json:"tool_name"`
	// StructuredContent is the result's structuredContent, if the server
	// gave one (GoHands only).
	StructuredContent json.RawMessage `json:"structured_content,omitempty"`
	// FullOutputPath names the file in the sandbox holding the whole
	// text of a result too long to show (GoHands only).
	FullOutputPath string `json:"full_output_path,omitempty"`
}

// MarshalJSON writes a, with {} for no arguments.
func (a MCPToolAction) MarshalJSON() ([]byte, error) {
	type plain MCPToolAction
	if len(a.Data) == 0 || string(a.Data) == "null" {
		a.Data = json.RawMessage("{}")
	}
	return encode(plain(a))
}

// UnmarshalJSON reads a, refusing arguments that are not an object;
// missing or null arguments read as {}, as MarshalJSON writes them.
func (a *MCPToolAction) UnmarshalJSON(data []byte) error {
	type plain MCPToolAction
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	switch kindOf(p.Data) {
	case "object":
		p.Data = compact(p.Data)
	case "nothing", "null":
		p.Data = json.RawMessage("{}")
	default:
		return &json.UnmarshalTypeError{Value: kindOf(p.Data), Type: reflect.TypeFor[map[string]any](), Field: "data"}
	}
	*a = MCPToolAction(p)
	return nil
}

// UnmarshalJSON reads o, with its structured content compacted.
func (o *MCPToolObservation) UnmarshalJSON(data []byte) error {
	type plain MCPToolObservation
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	if kindOf(p.StructuredContent) == "null" {
		p.StructuredContent = nil
	}
	if p.StructuredContent != nil {
		p.StructuredContent = compact(p.StructuredContent)
	}
	*o = MCPToolObservation(p)
	return nil
}

// UnknownAction is an action of a kind this package does not know, such as
// one of a newer SDK's tool, kept so that such events are stored and relayed
// unchanged rather than refused. Fields holds the action's JSON fields other
// than "kind", as encoding/json decodes them into interface values, with
// numbers as json.Number.
type UnknownAction struct {
	RawKind string
	Fields  map[string]any
}

// UnknownObservation is an observation of a kind this package does not
// know; see UnknownAction.
type UnknownObservation struct {
	ToolOutput
	RawKind string
	// Fields holds the JSON fields other than kind, content and is_error.
	Fields map[string]any
}

// Tool kinds.

func (*TerminalAction) Kind() string          { return "TerminalAction" }
func (*FileEditorAction) Kind() string        { return "FileEditorAction" }
func (*TaskTrackerAction) Kind() string       { return "TaskTrackerAction" }
func (*GlobAction) Kind() string              { return "GlobAction" }
func (*GrepAction) Kind() string              { return "GrepAction" }
func (*ApplyPatchAction) Kind() string        { return "ApplyPatchAction" }
func (*BrowserNavigateAction) Kind() string   { return "BrowserNavigateAction" }
func (*BrowserGetContentAction) Kind() string { return "BrowserGetContentAction" }
func (*BrowserClickAction) Kind() string      { return "BrowserClickAction" }
func (*BrowserTypeAction) Kind() string       { return "BrowserTypeAction" }
func (*BrowserGetStateAction) Kind() string   { return "BrowserGetStateAction" }
func (*BrowserScrollAction) Kind() string     { return "BrowserScrollAction" }
func (*BrowserGoBackAction) Kind() string     { return "BrowserGoBackAction" }
func (*BrowserListTabsAction) Kind() string   { return "BrowserListTabsAction" }
func (*BrowserSwitchTabAction) Kind() string  { return "BrowserSwitchTabAction" }
func (*BrowserCloseTabAction) Kind() string   { return "BrowserCloseTabAction" }
func (*ThinkAction) Kind() string             { return "ThinkAction" }
func (*FinishAction) Kind() string            { return "FinishAction" }
func (*MCPToolAction) Kind() string           { return "MCPToolAction" }
func (a *UnknownAction) Kind() string         { return a.RawKind }

func (*TerminalObservation) Kind() string    { return "TerminalObservation" }
func (*FileEditorObservation) Kind() string  { return "FileEditorObservation" }
func (*TaskTrackerObservation) Kind() string { return "TaskTrackerObservation" }
func (*GlobObservation) Kind() string        { return "GlobObservation" }
func (*GrepObservation) Kind() string        { return "GrepObservation" }
func (*ApplyPatchObservation) Kind() string  { return "ApplyPatchObservation" }
func (*BrowserObservation) Kind() string     { return "BrowserObservation" }
func (*ThinkObservation) Kind() string       { return "ThinkObservation" }
func (*FinishObservation) Kind() string      { return "FinishObservation" }
func (*MCPToolObservation) Kind() string     { return "MCPToolObservation" }
func (o *UnknownObservation) Kind() string   { return o.RawKind }

func (*TerminalAction) isToolAction()          {}
func (*FileEditorAction) isToolAction()        {}
func (*TaskTrackerAction) isToolAction()       {}
func (*GlobAction) isToolAction()              {}
func (*GrepAction) isToolAction()              {}
func (*ApplyPatchAction) isToolAction()        {}
func (*BrowserNavigateAction) isToolAction()   {}
func (*BrowserGetContentAction) isToolAction() {}
func (*BrowserClickAction) isToolAction()      {}
func (*BrowserTypeAction) isToolAction()       {}
func (*BrowserGetStateAction) isToolAction()   {}
func (*BrowserScrollAction) isToolAction()     {}
func (*BrowserGoBackAction) isToolAction()     {}
func (*BrowserListTabsAction) isToolAction()   {}
func (*BrowserSwitchTabAction) isToolAction()  {}
func (*BrowserCloseTabAction) isToolAction()   {}
func (*ThinkAction) isToolAction()             {}
func (*FinishAction) isToolAction()            {}
func (*MCPToolAction) isToolAction()           {}
func (*UnknownAction) isToolAction()           {}

// toolActions makes an empty action of each known kind, with the SDK's
// defaults set. Older kind names map to their current types.
var toolActions = map[string]func() ToolAction{
	"TerminalAction":          func() ToolAction { return new(TerminalAction) },
	"ExecuteBashAction":       func() ToolAction { return new(TerminalAction) }, // before the tool was renamed terminal
	"FileEditorAction":        func() ToolAction { return new(FileEditorAction) },
	"TaskTrackerAction":       func() ToolAction { return &TaskTrackerAction{Command: TaskView} },
	"GlobAction":              func() ToolAction { return new(GlobAction) },
	"GrepAction":              func() ToolAction { return new(GrepAction) },
	"ApplyPatchAction":        func() ToolAction { return new(ApplyPatchAction) },
	"BrowserNavigateAction":   func() ToolAction { return new(BrowserNavigateAction) },
	"BrowserGetContentAction": func() ToolAction { return new(BrowserGetContentAction) },
	"BrowserClickAction":      func() ToolAction { return new(BrowserClickAction) },
	"BrowserTypeAction":       func() ToolAction { return new(BrowserTypeAction) },
	"BrowserGetStateAction":   func() ToolAction { return new(BrowserGetStateAction) },
	"BrowserScrollAction":     func() ToolAction { return &BrowserScrollAction{Direction: ScrollDown} },
	"BrowserGoBackAction":     func() ToolAction { return new(BrowserGoBackAction) },
	"BrowserListTabsAction":   func() ToolAction { return new(BrowserListTabsAction) },
	"BrowserSwitchTabAction":  func() ToolAction { return new(BrowserSwitchTabAction) },
	"BrowserCloseTabAction":   func() ToolAction { return new(BrowserCloseTabAction) },
	"ThinkAction":             func() ToolAction { return new(ThinkAction) },
	"FinishAction":            func() ToolAction { return new(FinishAction) },
	"MCPToolAction":           func() ToolAction { return new(MCPToolAction) },
}

// toolObservations is toolActions for observations.
var toolObservations = map[string]func() ToolObservation{
	"TerminalObservation":    func() ToolObservation { return &TerminalObservation{Metadata: TerminalMetadata{ExitCode: -1, PID: -1}} },
	"ExecuteBashObservation": func() ToolObservation { return &TerminalObservation{Metadata: TerminalMetadata{ExitCode: -1, PID: -1}} },
	"FileEditorObservation":  func() ToolObservation { return &FileEditorObservation{PrevExist: true} },
	"TaskTrackerObservation": func() ToolObservation { return new(TaskTrackerObservation) },
	"GlobObservation":        func() ToolObservation { return new(GlobObservation) },
	"GrepObservation":        func() ToolObservation { return new(GrepObservation) },
	"ApplyPatchObservation":  func() ToolObservation { return new(ApplyPatchObservation) },
	"BrowserObservation":     func() ToolObservation { return new(BrowserObservation) },
	"ThinkObservation":       func() ToolObservation { return new(ThinkObservation) },
	"FinishObservation":      func() ToolObservation { return new(FinishObservation) },
	"MCPToolObservation":     func() ToolObservation { return new(MCPToolObservation) },
}

// Lists the SDK always writes are written as [] rather than null.

// MarshalJSON writes a, with [] for an empty task list.
func (a TaskTrackerAction) MarshalJSON() ([]byte, error) {
	type plain TaskTrackerAction
	if a.TaskList == nil {
		a.TaskList = []TaskItem{}
	}
	return encode(plain(a))
}

// MarshalJSON writes o, with [] for an empty task list.
func (o TaskTrackerObservation) MarshalJSON() ([]byte, error) {
	type plain TaskTrackerObservation
	if o.TaskList == nil {
		o.TaskList = []TaskItem{}
	}
	return encode(plain(o))
}

// MarshalJSON writes o, with [] for no files.
func (o GlobObservation) MarshalJSON() ([]byte, error) {
	type plain GlobObservation
	if o.Files == nil {
		o.Files = []string{}
	}
	return encode(plain(o))
}

// MarshalJSON writes o, with [] for no matches.
func (o GrepObservation) MarshalJSON() ([]byte, error) {
	type plain GrepObservation
	if o.Matches == nil {
		o.Matches = []string{}
	}
	return encode(plain(o))
}
