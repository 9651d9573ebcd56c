package skills

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// shell runs requests with the host's sh, standing in for a sandbox.
type shell struct{}

func (shell) Run(ctx context.Context, req agentapi.RunRequest) (agentapi.RunResult, error) {
	cmd := exec.CommandContext(ctx, req.Args[0], req.Args[1:]...)
	cmd.Dir = req.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := agentapi.RunResult{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.ExitCode = ee.ExitCode()
	} else if err != nil {
		return res, err
	}
	if int64(len(res.Stdout)) > req.MaxOutput {
		res.Stdout, res.Truncated = res.Stdout[:req.MaxOutput], true
	}
	return res, nil
}

func write(t *testing.T, root, rel, text string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, "AGENTS.md", "Run make test.\n")
	write(t, root, ".cursorrules", "Tabs.")
	write(t, root, "api/AGENTS.md", "Keep the API stable.")
	write(t, root, "node_modules/x/AGENTS.md", "not this")
	write(t, root, ".git/sub/AGENTS.md", "not this")
	write(t, root, ".agents/skills/release/SKILL.md", "---\nname: release\ndescription: Cut a release\ntriggers: [release]\n---\nTag vX.Y.Z.")
	write(t, root, ".agents/skills/release/references/notes.md", "not a skill")
	write(t, root, ".openhands/microagents/docker.md", "---\ntriggers: [docker]\n---\nUse compose.")
	write(t, root, ".openhands/microagents/deep/x.md", "not a skill")
	write(t, root, ".openhands/skills/bad/SKILL.md", "---\nname: \"open\n---\n")
	write(t, root, ".openhands/hooks.json", `{"PreToolUse": []}`)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "CLAUDE.md")); err != nil {
		t.Fatal(err)
	}
	set, err := Load(context.Background(), shell{}, root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range set.Guidance {
		got = append(got, "guidance "+strings.TrimPrefix(g.Path, root)+": "+g.Content)
	}
	for _, g := range set.Nested {
		got = append(got, "nested "+g.Scope+": "+g.Content)
	}
	for _, s := range set.Skills {
		got = append(got, fmt.Sprintf("skill %s %s %v: %s", s.Name, s.Type, s.Triggers, s.Content))
	}
	want := []string{
		"guidance /AGENTS.md: Run make test.",
		"guidance /.cursorrules: Tabs.",
		"nested api: Keep the API stable.",
		"skill release agentskills [release]: Tag vX.Y.Z.",
		"skill docker knowledge [docker]: Use compose.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Load found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if string(set.Hooks) != `{"PreToolUse": []}` {
		t.Errorf("Hooks = %q", set.Hooks)
	}
	if len(set.Problems) != 1 || !strings.Contains(set.Problems[0], "bad/SKILL.md") {
		t.Errorf("Problems = %q, want the bad skill", set.Problems)
	}
	p := Prompt(set)
	for _, s := range []string{"Run make test.", "Keep the API stable.", "(for api/)", "- release: Cut a release (file: " + root + "/.agents/skills/release/SKILL.md)"} {
		if !strings.Contains(p, s) {
			t.Errorf("Prompt lacks %q:\n%s", s, p)
		}
	}
	if strings.Contains(p, "Tag vX.Y.Z.") {
		t.Errorf("Prompt holds a skill's text, which is read on demand:\n%s", p)
	}
	acts := Triggered(set, "Prepare the RELEASE please")
	if len(acts) != 1 || acts[0].Skill.Name != "release" || !strings.Contains(acts[0].Text(), "Tag vX.Y.Z.") {
		t.Errorf("Triggered = %+v", acts)
	}
}

// TestLoadBounds checks that a huge guidance file is read only in part
// and that thousands of skill folders yield the first MaxSkills, fast.
func TestLoadBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,000 folders")
	}
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "AGENTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // 100 MB, sparse
		t.Fatal(err)
	}
	f.Close()
	for i := range 10000 {
		write(t, root, fmt.Sprintf(".agents/skills/s%05d/SKILL.md", i), fmt.Sprintf("---\nname: s%05d\ndescription: d\n---\nx", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set, err := Load(ctx, shell{}, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Guidance) != 1 || !set.Guidance[0].Truncated || len(set.Guidance[0].Content) > MaxGuidanceBytes {
		t.Errorf("guidance: %d files, truncated %v", len(set.Guidance), len(set.Guidance) > 0 && set.Guidance[0].Truncated)
	}
	if len(set.Skills) != MaxSkills {
		t.Errorf("%d skills, want %d", len(set.Skills), MaxSkills)
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "style/SKILL.md", "---\nname: style\ndescription: House style\n---\nShort names.")
	write(t, dir, "triage.md", "---\ntriggers: [triage]\n---\nLabel it.")
	write(t, dir, "README.md", "not a skill")
	write(t, dir, "empty/other.txt", "no SKILL.md here")
	got, problems, err := LoadDir(dir)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	if len(got) != 2 || got[0].Name != "style" || got[1].Name != "triage" || got[0].Source != SourceServer {
		t.Fatalf("LoadDir = %+v", got)
	}
	p := Prompt(Set{Skills: got})
	if !strings.Contains(p, "Short names.") || strings.Contains(p, "Label it.") || !strings.Contains(p, "- triage:") {
		t.Errorf("Prompt of server skills:\n%s", p)
	}
}
