package session

import (
	"context"
	"path"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// Stater is the call of an agent client that the workspace path policy
// needs: *agentapi.Client has it, and so does the fake of agentapitest.
type Stater interface {
	Stat(ctx context.Context, path string) (agentapi.FileEntry, error)
}

// WorkspacePath resolves a client's path for a file call of the
// conversation's sandbox, against its working directory; see
// ResolveWorkspacePath.
func (a *AgentSession) WorkspacePath(ctx context.Context, cl Stater, p string) (string, error) {
	return ResolveWorkspacePath(ctx, cl, a.Settings().Workspace.WorkingDir, p)
}

// ResolveWorkspacePath checks a client's path and returns it absolute and
// clean. Relative paths start at workspace. A path that starts in the
// workspace and leaves it, through ".." or a symbolic link, is refused
// (KindRejected); other absolute paths are the sandbox's own files. An
// error of the agent's Stat is returned as it is, for the caller to
// answer as it answers its other calls to the agent.
func ResolveWorkspacePath(ctx context.Context, cl Stater, workspace, p string) (string, error) {
	if p == "" {
		return "", invalid("path: missing")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", rejected("path: contains a NUL byte")
	}
	if len(p) > 4096 {
		return "", rejected("path: longer than 4096 bytes")
	}
	inside := func(x string) bool { return x == workspace || strings.HasPrefix(x, workspace+"/") }
	joined := p
	if !path.IsAbs(p) {
		joined = workspace + "/" + p
	}
	clean := path.Clean(joined)
	if inside(joined) && !inside(clean) {
		return "", rejected("path %q escapes the workspace %s", p, workspace)
	}
	if !inside(clean) {
		return clean, nil
	}
	// Follow symlinks: the agent reports where the path really leads. A
	// path that does not exist yet is judged by its folder.
	for probe := clean; inside(probe); probe = path.Dir(probe) {
		st, err := cl.Stat(ctx, probe)
		if agentapi.StatusOf(err) == 404 { // not found: judge its folder
			continue
		}
		if err != nil {
			return "", err
		}
		if st.Real != "" && !inside(st.Real) && !inside(path.Clean(st.Real)) {
			return "", rejected("path %q leads out of the workspace %s (to %s) through a symbolic link", p, workspace, st.Real)
		}
		break
	}
	return clean, nil
}

// WorkingDir is the conversation's working directory: where its
// terminals start and its workspace routes' relative paths begin.
func (a *AgentSession) WorkingDir() string { return a.Settings().Workspace.WorkingDir }
