package session

import (
	"context"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// WorkspaceAgent is what the workspace operations need of a sandbox's
// agent; *agentapi.Client has it. A conversation's sandbox and a shared
// workspace sandbox answer through the same calls.
type WorkspaceAgent interface {
	Stater
	Run(ctx context.Context, req agentapi.RunRequest) (agentapi.RunResult, error)
	Download(ctx context.Context, path string, asTar bool) (io.ReadCloser, int64, error)
	ListFiles(ctx context.Context, path string, depth int) (agentapi.Listing, error)
}

// SandboxWorkspace is a folder of a sandbox that the workspace routes act on:
// the agent that reaches it and its root, where relative paths start and
// which the path policy keeps them in (see ResolveWorkspacePath).
type SandboxWorkspace struct {
	agent WorkspaceAgent
	root  string
}

// NewSandboxWorkspace returns the workspace at root, reached through agent.
func NewSandboxWorkspace(agent WorkspaceAgent, root string) SandboxWorkspace {
	return SandboxWorkspace{agent: agent, root: root}
}

// Root is the workspace's folder.
func (w SandboxWorkspace) Root() string { return w.root }

// Resolve checks a client's path under the path policy; an empty path is
// the root.
func (w SandboxWorkspace) Resolve(ctx context.Context, p string) (string, error) {
	if p == "" {
		p = w.root
	}
	return ResolveWorkspacePath(ctx, w.agent, w.root, p)
}

// resolveInside resolves p, which must stay inside the workspace: a path
// given relative to it (a leading "/" is taken as relative too), as the
// workspace's web view names its files.
func (w SandboxWorkspace) resolveInside(ctx context.Context, p string) (string, error) {
	rel := strings.TrimLeft(p, "/")
	full := w.root
	if rel != "" {
		full = w.root + "/" + rel
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", rejected("path: contains a NUL byte")
	}
	clean := path.Clean(full)
	if clean != w.root && !strings.HasPrefix(clean, w.root+"/") {
		return "", rejected("path %q escapes the workspace %s", p, w.root)
	}
	return ResolveWorkspacePath(ctx, w.agent, w.root, full)
}

// WithWorkspace calls fn with the conversation's workspace, in its
// sandbox (see WithSandbox).
func (a *AgentSession) WithWorkspace(ctx context.Context, fn func(SandboxWorkspace) error) error {
	root := a.Settings().Workspace.WorkingDir
	return a.WithSandbox(ctx, func(cl *agentapi.Client) error { return fn(NewSandboxWorkspace(cl, root)) })
}

// run runs a program in the workspace's sandbox; a program that is not
// installed there is the caller's trouble (KindRefused), said so.
func (w SandboxWorkspace) run(ctx context.Context, dir string, maxOutput int64, args ...string) (agentapi.RunResult, error) {
	res, err := w.agent.Run(ctx, agentapi.RunRequest{Args: args, Dir: dir, MaxOutput: maxOutput})
	if agentapi.StatusOf(err) == agentapi.ProgramNotFound {
		return res, &Error{Kind: KindRefused, Detail: args[0] + " is not installed in the sandbox's image: use an image that has it",
			Err: &agentapi.HTTPError{Status: 422, Detail: "program not found"}}
	}
	return res, err
}

// isHidden reports whether a name is a dot file's.
func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// sortByName sorts entries case-insensitively by name.
func sortByName(es []agentapi.FileEntry) {
	slices.SortFunc(es, func(a, b agentapi.FileEntry) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
}
