package session

import (
	"context"
	"strings"

	"github.com/gohands/gohands/skills"
)

// Repository reads what the workspace folder dir (the workspace itself
// when empty) offers its agent: guidance files, skills and the hooks
// file, inside the sandbox. dir must be in the workspace.
func (w SandboxWorkspace) Repository(ctx context.Context, dir string) (skills.Set, error) {
	p, err := w.Resolve(ctx, dir)
	if err != nil {
		return skills.Set{}, err
	}
	if p != w.root && !strings.HasPrefix(p, w.root+"/") {
		return skills.Set{}, rejected("project_dir %q is outside the workspace %s", dir, w.root)
	}
	return skills.Load(ctx, w.agent, p)
}
