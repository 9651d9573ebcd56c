package skills

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// Runner runs a program in a sandbox; *agentapi.Client has it.
type Runner interface {
	Run(ctx context.Context, req agentapi.RunRequest) (agentapi.RunResult, error)
}

// Set is what a workspace offers its agent.
type Set struct {
	// Guidance is the guidance files at the workspace root, always in
	// context.
	Guidance []Skill
	// Nested is the AGENTS.md files of sub-folders, each about its Scope.
	Nested []Skill
	// Skills are the skills of the workspace, then the server's.
	Skills []Skill
	// Hooks is the text of .openhands/hooks.json, if there is one.
	Hooks []byte
	// Problems says what could not be read, one line each.
	Problems []string
}

// GuidanceFiles are the names of the guidance files read at the root of a
// workspace, in the order they are shown.
var GuidanceFiles = []string{"AGENTS.md", "CLAUDE.md", "GEMINI.md", ".cursorrules"}

// SkillFolders are the folders of a workspace whose sub-folders hold a
// SKILL.md.
var SkillFolders = []string{".agents/skills", ".openhands/skills", ".openhands/microagents"}

// MCPFile, beside a SKILL.md, holds the MCP servers the skill brings: an
// mcpServers map, where ${SKILL_ROOT} is the skill's folder.
const MCPFile = ".mcp.json"

// HooksFile is the workspace's hooks file.
const HooksFile = ".openhands/hooks.json"

// MaxHooksBytes bounds the hooks file read.
const MaxHooksBytes = 256 << 10

// loadScript lists and prints the files, each after a line with a marker
// no file can forge (a nonce chosen per call), its kind and its path. It
// gets the workspace and the nonce as arguments and never interpolates
// them. Symbolic links are skipped: a file must be what it says it is.
// find prunes hidden folders, node_modules and vendor below the root, and
// head bounds both the number of files and the bytes of each.
const loadScript = `
cd "$1" 2>/dev/null || exit 0
n=$2
emit() { [ -f "$3" ] && [ ! -L "$3" ] || return 0; printf '\n%s %s %s\n' "$n" "$1" "$3"; head -c "$2" -- "$3" 2>/dev/null; }
for f in AGENTS.md CLAUDE.md GEMINI.md .cursorrules; do emit guidance ` + guidanceRead + ` "$f"; done
find . -maxdepth 5 \( -name '.?*' -o -name node_modules -o -name vendor \) -prune -o -type f -name AGENTS.md -path './*/*' -print 2>/dev/null |
  head -n ` + maxNestedFiles + ` | while IFS= read -r f; do emit nested ` + nestedRead + ` "$f"; done
for d in .agents/skills .openhands/skills .openhands/microagents; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  find "$d" -mindepth 1 -maxdepth 2 -type f \( -path "$d/*/SKILL.md" -o -path ".openhands/microagents/*.md" ! -path ".openhands/microagents/*/*" \) -print 2>/dev/null |
    head -n ` + maxSkillFiles + ` | while IFS= read -r f; do emit skill ` + skillRead + ` "$f"; done
  find "$d" -mindepth 2 -maxdepth 2 -type f -path "$d/*/` + MCPFile + `" -print 2>/dev/null |
    head -n ` + maxSkillFiles + ` | while IFS= read -r f; do emit mcp ` + skillRead + ` "$f"; done
done
emit hooks ` + hooksRead + ` .openhands/hooks.json
`

// The bounds in the script: one byte more than is kept, to tell a cut
// file.
const (
	guidanceRead   = "65537"
	nestedRead     = "16385"
	skillRead      = "32769"
	hooksRead      = "262145"
	maxNestedFiles = "20"
	maxSkillFiles  = "100"
	maxLoadOutput  = 8 << 20
)

// Load reads what the workspace at root offers, inside its sandbox
// through r. Files that cannot be parsed are left out and named in
// Problems.
func Load(ctx context.Context, r Runner, root string) (Set, error) {
	var b [12]byte
	rand.Read(b[:])
	nonce := "--gohands-" + hex.EncodeToString(b[:]) + "--"
	res, err := r.Run(ctx, agentapi.RunRequest{Args: []string{"sh", "-c", loadScript, "sh", root, nonce},
		Dir: "/", Timeout: 20, MaxOutput: maxLoadOutput})
	if err != nil {
		return Set{}, fmt.Errorf("skills: read the workspace %s: %w", root, err)
	}
	if res.TimedOut {
		return Set{}, fmt.Errorf("skills: reading the workspace %s took too long", root)
	}
	return parseListing(root, res.Stdout, nonce), nil
}

// parseListing reads the script's output.
func parseListing(root, out, nonce string) Set {
	var set Set
	mcp := make(map[string]string) // .mcp.json files by folder
	chunks := strings.Split(out, "\n"+nonce+" ")
	for _, c := range chunks[1:] {
		head, body, _ := strings.Cut(c, "\n")
		kind, rel, _ := strings.Cut(head, " ")
		rel = strings.TrimPrefix(rel, "./")
		file := path.Join(root, rel)
		switch kind {
		case "guidance":
			s, cut := guidance(file, body, MaxGuidanceBytes)
			s.Truncated = cut
			set.Guidance = append(set.Guidance, s)
		case "nested":
			if len(set.Nested) >= MaxNested {
				continue
			}
			s, cut := guidance(file, body, MaxNestedBytes)
			s.Truncated, s.Scope = cut, path.Dir(rel)
			set.Nested = append(set.Nested, s)
		case "skill":
			if len(set.Skills) >= MaxSkills {
				continue
			}
			data, cut := bound(body, MaxSkillBytes)
			s, err := Parse(file, []byte(data))
			if err != nil {
				set.Problems = append(set.Problems, err.Error())
				continue
			}
			s.Source, s.Truncated = SourceProject, cut
			set.Skills = append(set.Skills, s)
		case "mcp":
			data, cut := bound(body, MaxSkillBytes)
			if cut {
				set.Problems = append(set.Problems, fmt.Sprintf("%s: longer than %d bytes, not read", file, MaxSkillBytes))
				continue
			}
			mcp[path.Dir(file)] = data
		case "hooks":
			data, cut := bound(body, MaxHooksBytes)
			if cut {
				set.Problems = append(set.Problems, fmt.Sprintf("%s: longer than %d bytes, not read", file, MaxHooksBytes))
				continue
			}
			set.Hooks = []byte(data)
		}
	}
	set.Problems = append(set.Problems, attachMCP(set.Skills, func(dir string) (string, bool) {
		data, ok := mcp[dir]
		return data, ok
	})...)
	return set
}

// attachMCP gives each SKILL.md skill the MCP servers of the .mcp.json in
// its folder, if any (mcpFile returns its text), with ${SKILL_ROOT} as
// the folder. It returns what could not be read.
func attachMCP(skills []Skill, mcpFile func(dir string) (string, bool)) []string {
	var problems []string
	for i, s := range skills {
		if s.Type != TypeAgentSkills {
			continue
		}
		dir := path.Dir(s.Path)
		data, ok := mcpFile(dir)
		if !ok {
			continue
		}
		data = strings.ReplaceAll(data, "${SKILL_ROOT}", dir)
		if !json.Valid([]byte(data)) {
			problems = append(problems, fmt.Sprintf("%s: not valid JSON", path.Join(dir, MCPFile)))
			continue
		}
		skills[i].MCPServers = json.RawMessage(data)
	}
	return problems
}

func guidance(file, body string, limit int) (Skill, bool) {
	text, cut := bound(body, limit)
	return Skill{Name: path.Base(file), Content: strings.TrimSpace(validText([]byte(text))), Path: file,
		Source: SourceProject, Type: TypeRepo}, cut
}

// bound cuts s to limit bytes, reporting whether it did.
func bound(s string, limit int) (string, bool) {
	if len(s) > limit {
		return clip(s, limit), true
	}
	return s, false
}

// LoadDir reads the skills of a server's folder: each sub-folder with a
// SKILL.md, and .md files at its top, at most MaxSkills, each cut at
// MaxSkillBytes. Symbolic links are followed: the folder is the
// server's own.
func LoadDir(dir string) ([]Skill, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("skills: read %s: %w", dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []Skill
	var problems []string
	for _, e := range entries {
		if len(out) >= MaxSkills {
			break
		}
		file := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(file); err == nil && fi.IsDir() {
			file = filepath.Join(file, "SKILL.md")
		} else if !strings.HasSuffix(e.Name(), ".md") || strings.EqualFold(e.Name(), "README.md") {
			continue
		}
		data, cut, err := readBounded(file, MaxSkillBytes)
		if err != nil {
			if !os.IsNotExist(err) {
				problems = append(problems, err.Error())
			}
			continue
		}
		s, err := Parse(filepath.ToSlash(file), data)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s.Source, s.Truncated = SourceServer, cut
		out = append(out, s)
	}
	problems = append(problems, attachMCP(out, func(dir string) (string, bool) {
		data, cut, err := readBounded(filepath.Join(filepath.FromSlash(dir), MCPFile), MaxSkillBytes)
		if err != nil || cut {
			return "", false
		}
		return string(data), true
	})...)
	return out, problems, nil
}

func readBounded(file string, limit int64) ([]byte, bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}
