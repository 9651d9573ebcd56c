package agentapitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/gohands/gohands/agentapi"
)

// Agent is an in-memory runtime-agent: the file calls of Files, glob and
// grep over its tree, a small file editor (view, create, str_replace),
// terminals whose commands Shell answers, pages Browse serves from
// Pages, processes running Programs, and dials through Dialer. It has the calls of agentapi.Client that tools make.
type Agent struct {
	*Files
	// Shell answers Exec on any terminal; nil answers every command with
	// exit code 0 and no output.
	Shell func(terminal string, req agentapi.ExecRequest) (agentapi.ExecResult, error)
	// Pages are the pages Browse serves, by URL; any other is a 404 page.
	Pages map[string]agentapi.BrowseResult
	// Runner answers Run; nil answers every program as not installed.
	Runner func(req agentapi.RunRequest) (agentapi.RunResult, error)
	// Programs are the programs StartProcess runs, by name.
	Programs map[string]Program
	// Dialer makes Dial's connections; nil refuses every dial.
	Dialer func(ctx context.Context, network, address string) (net.Conn, error)

	mu        sync.Mutex
	terminals map[string]string // name -> working directory
	resets    []string
	last      agentapi.BrowseResult
	procs     map[string]*process
	procSeq   int
}

// Run runs a program through Runner.
func (a *Agent) Run(_ context.Context, req agentapi.RunRequest) (agentapi.RunResult, error) {
	if len(req.Args) == 0 {
		return agentapi.RunResult{}, &agentapi.HTTPError{Status: http.StatusBadRequest, Detail: "args: missing"}
	}
	if a.Runner == nil {
		return agentapi.RunResult{}, &agentapi.HTTPError{Status: agentapi.ProgramNotFound, Detail: req.Args[0] + " is not installed in the sandbox"}
	}
	return a.Runner(req)
}

// NewAgent returns an agent with an empty tree.
func NewAgent() *Agent {
	return &Agent{Files: NewFiles(), terminals: make(map[string]string)}
}

// Exec runs req through Shell. Terminals other than the default one must
// have been created.
func (a *Agent) Exec(_ context.Context, terminal string, req agentapi.ExecRequest) (agentapi.ExecResult, error) {
	a.mu.Lock()
	_, ok := a.terminals[terminal]
	a.mu.Unlock()
	if !ok && terminal != agentapi.DefaultTerminal {
		return agentapi.ExecResult{}, &agentapi.HTTPError{Status: http.StatusNotFound, Detail: "no terminal " + terminal}
	}
	if a.Shell == nil {
		return agentapi.ExecResult{WorkingDir: "/", PID: 1}, nil
	}
	return a.Shell(terminal, req)
}

// ResetTerminal records the reset.
func (a *Agent) ResetTerminal(_ context.Context, terminal string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resets = append(a.resets, terminal)
	return nil
}

// Resets returns the terminals reset so far, in order.
func (a *Agent) Resets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.resets...)
}

// CreateTerminal opens a terminal; a name in use is a 409.
func (a *Agent) CreateTerminal(_ context.Context, name, dir string) (agentapi.TerminalInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.terminals[name]; ok {
		return agentapi.TerminalInfo{}, &agentapi.HTTPError{Status: http.StatusConflict, Detail: "terminal " + name + " exists"}
	}
	a.terminals[name] = dir
	return agentapi.TerminalInfo{Name: name, PID: 2, WorkingDir: dir}, nil
}

// CloseTerminal closes a terminal; an unknown one is a 404.
func (a *Agent) CloseTerminal(_ context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.terminals[name]; !ok {
		return &agentapi.HTTPError{Status: http.StatusNotFound, Detail: "no terminal " + name}
	}
	delete(a.terminals, name)
	return nil
}

// Terminals returns the names of the open terminals, sorted.
func (a *Agent) Terminals() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for n := range a.terminals {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Edit carries out view, create and str_replace; other commands are a 400.
func (a *Agent) Edit(ctx context.Context, req agentapi.EditRequest) (agentapi.EditResult, error) {
	old, err := a.ReadFile(ctx, req.Path, 0, -1)
	exists := err == nil
	if err != nil && agentapi.StatusOf(err) != http.StatusNotFound {
		return agentapi.EditResult{}, err
	}
	r := agentapi.EditResult{Command: req.Command, Path: req.Path, PrevExist: exists}
	switch req.Command {
	case "view":
		if !exists {
			return r, err
		}
		r.Output = old.Content
	case "create":
		if req.FileText == nil {
			return r, bad("file_text: missing")
		}
		if _, err := a.WriteFile(ctx, req.Path, *req.FileText); err != nil {
			return r, err
		}
		r.NewContent = req.FileText
		r.Output = "File created successfully at: " + req.Path
	case "str_replace":
		if !exists {
			return r, err
		}
		if req.OldStr == nil || req.NewStr == nil {
			return r, bad("old_str and new_str: missing")
		}
		if n := strings.Count(old.Content, *req.OldStr); n != 1 {
			return r, bad(fmt.Sprintf("old_str occurs %d times in %s, not once", n, req.Path))
		}
		updated := strings.Replace(old.Content, *req.OldStr, *req.NewStr, 1)
		if _, err := a.WriteFile(ctx, req.Path, updated); err != nil {
			return r, err
		}
		r.OldContent, r.NewContent = &old.Content, &updated
		r.Output = "The file " + req.Path + " has been edited."
	default:
		return r, bad("command " + req.Command + " is not supported here")
	}
	return r, nil
}

func bad(detail string) error {
	return &agentapi.HTTPError{Status: http.StatusBadRequest, Detail: detail}
}

// Glob lists the files under req.Dir whose path relative to it matches
// req.Pattern ("**/" matches any folders), sorted by path.
func (a *Agent) Glob(_ context.Context, req agentapi.GlobRequest) (agentapi.GlobResult, error) {
	var files []string
	for _, p := range a.paths(req.Dir) {
		rel := strings.TrimPrefix(p, strings.TrimSuffix(req.Dir, "/")+"/")
		pat := req.Pattern
		if rest, ok := strings.CutPrefix(pat, "**/"); ok {
			pat, rel = rest, path.Base(rel)
		}
		if ok, _ := path.Match(pat, rel); ok {
			files = append(files, p)
		}
	}
	r := agentapi.GlobResult{Dir: req.Dir, Files: files}
	if req.Limit > 0 && len(files) > req.Limit {
		r.Files, r.Truncated = files[:req.Limit], true
	}
	return r, nil
}

// Grep finds the lines of the files under req.Path that match
// req.Pattern; FilesOnly gives one match a file.
func (a *Agent) Grep(ctx context.Context, req agentapi.GrepRequest) (agentapi.GrepResult, error) {
	re, err := regexp.Compile(req.Pattern)
	if err != nil {
		return agentapi.GrepResult{}, bad("pattern: " + err.Error())
	}
	var r agentapi.GrepResult
	for _, p := range a.paths(req.Path) {
		if req.Include != "" {
			if ok, _ := path.Match(req.Include, path.Base(p)); !ok {
				continue
			}
		}
		t, err := a.ReadFile(ctx, p, 0, -1)
		if err != nil {
			continue
		}
		for i, line := range strings.Split(t.Content, "\n") {
			if !re.MatchString(line) {
				continue
			}
			if req.MaxMatches > 0 && len(r.Matches) == req.MaxMatches {
				r.Truncated = true
				return r, nil
			}
			r.Matches = append(r.Matches, agentapi.Match{Path: p, Line: i + 1, Text: line})
			if req.FilesOnly {
				break
			}
		}
	}
	return r, nil
}

// paths returns the files under dir, sorted.
func (a *Agent) paths(dir string) []string {
	a.Files.mu.Lock()
	defer a.Files.mu.Unlock()
	prefix := strings.TrimSuffix(path.Clean(dir), "/") + "/"
	var out []string
	for p := range a.Files.files {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Browse serves a page of Pages; without a URL, the last page again from
// req.StartFromChar.
func (a *Agent) Browse(_ context.Context, req agentapi.BrowseRequest) (agentapi.BrowseResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.URL == "" {
		if a.last.URL == "" {
			return agentapi.BrowseResult{}, bad("no page was fetched yet")
		}
		r := a.last
		r.StartFromChar = min(req.StartFromChar, len(r.Content))
		r.Content, r.NextChar = r.Content[r.StartFromChar:], 0
		return r, nil
	}
	r, ok := a.Pages[req.URL]
	if !ok {
		r = agentapi.BrowseResult{URL: req.URL, Status: http.StatusNotFound, Content: "not found"}
	}
	if r.URL == "" {
		r.URL = req.URL
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	r.TotalChars = len(r.Content)
	a.last = r
	return r, nil
}
