package skills

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The types of a skill, as the SDK's SkillInfo names them.
const (
	// TypeRepo is guidance always in the model's context (AGENTS.md and
	// its kin, or a skill without triggers in the older format).
	TypeRepo = "repo"
	// TypeKnowledge is a skill in the older format with trigger words.
	TypeKnowledge = "knowledge"
	// TypeAgentSkills is a SKILL.md skill: listed by name and
	// description, read on demand, and injected when triggered.
	TypeAgentSkills = "agentskills"
)

// Where skills come from.
const (
	SourceProject = "project" // the workspace
	SourceServer  = "server"  // the server's skills folder
)

// Limits on what is read and kept.
const (
	MaxGuidanceBytes = 64 << 10 // of a guidance file at the workspace root
	MaxNestedBytes   = 16 << 10 // of a nested AGENTS.md
	MaxSkillBytes    = 32 << 10 // of a SKILL.md
	MaxSkills        = 100      // skills kept per source
	MaxNested        = 20       // nested guidance files kept
	maxTriggers      = 32
	maxNameLen       = 64
	maxDescLen       = 1024
)

// Skill is one guidance file or skill.
type Skill struct {
	Name        string
	Description string
	// Triggers are words that, in a user's message, inject the skill.
	Triggers []string
	// Content is the text without its front matter.
	Content string
	// Path is where it was read: inside the sandbox for a workspace's.
	Path string
	// Source is SourceProject or SourceServer.
	Source string
	// Type is TypeRepo, TypeKnowledge or TypeAgentSkills.
	Type string
	// Scope, for a nested guidance file, is the folder (relative to the
	// workspace) whose files it is about.
	Scope string
	// Truncated says the file was longer than what was read.
	Truncated bool
	// MCPServers are the MCP servers the skill brings, as JSON: the
	// front matter's mcp_tools (an mcpServers map, or the bare map of
	// servers) for a skill in the older format, the .mcp.json file
	// beside a SKILL.md for one in the newer, as the SDK reads them. The
	// conversation's MCP client checks them.
	MCPServers json.RawMessage
}

// ErrFrontMatter is the error of front matter that cannot be read.
var ErrFrontMatter = errors.New("skills: front matter")

// Parse reads a skill file. file is its path (the name of a SKILL.md
// skill defaults to its folder's name, that of another file to its base
// name without .md); data is its text. A file without front matter is a
// skill without name, description or triggers from its file name.
func Parse(file string, data []byte) (Skill, error) {
	s := Skill{Path: file}
	body := data
	if fm, rest, ok := splitFrontMatter(data); ok {
		if err := s.readFrontMatter(fm); err != nil {
			return Skill{}, fmt.Errorf("%s: %w", file, err)
		}
		body = rest
	}
	s.Content = strings.TrimSpace(validText(body))
	if s.Name == "" {
		base := path.Base(file)
		if strings.EqualFold(base, "SKILL.md") {
			base = path.Base(path.Dir(file))
		}
		s.Name = strings.TrimSuffix(base, ".md")
	}
	s.Name = clip(oneLine(s.Name), maxNameLen)
	s.Description = clip(oneLine(s.Description), maxDescLen)
	switch {
	case strings.EqualFold(path.Base(file), "SKILL.md"):
		s.Type = TypeAgentSkills
	case len(s.Triggers) > 0:
		s.Type = TypeKnowledge
	default:
		s.Type = TypeRepo
	}
	return s, nil
}

// splitFrontMatter splits "---\n...\n---\n" from the start of data.
func splitFrontMatter(data []byte) (fm, rest []byte, ok bool) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	first, after, found := bytes.Cut(data, []byte("\n"))
	if !found || string(bytes.TrimRight(first, " \r")) != "---" {
		return nil, data, false
	}
	for off := 0; off < len(after); {
		line, _, _ := bytes.Cut(after[off:], []byte("\n"))
		if string(bytes.TrimRight(line, " \r")) == "---" {
			end := off + len(line)
			if end < len(after) {
				end++
			}
			return after[:off], after[end:], true
		}
		off += len(line) + 1
	}
	return nil, data, false
}

// readFrontMatter reads the keys GoHands uses from YAML front matter: a
// small subset of YAML (key: value, quoted or plain, block scalars with
// | or >, lists as "- item" lines or [a, b]). Other keys are skipped.
func (s *Skill) readFrontMatter(fm []byte) error {
	lines := strings.Split(strings.ReplaceAll(validText(fm), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") || line[0] == ' ' || line[0] == '\t' {
			continue // blank, comment, or inside a key this reader skips
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%w: line %d: %q is not key: value", ErrFrontMatter, i+1, clip(line, 60))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		// The indented lines that follow belong to this key.
		var block []string
		for i+1 < len(lines) && (lines[i+1] == "" || lines[i+1][0] == ' ' || lines[i+1][0] == '\t' || strings.HasPrefix(lines[i+1], "- ")) {
			i++
			block = append(block, lines[i])
		}
		switch key {
		case "name", "description":
			v, err := scalar(value, block)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrFrontMatter, key, err)
			}
			if key == "name" {
				s.Name = v
			} else {
				s.Description = v
			}
		case "mcp_tools":
			raw, err := yamlObject(key, value, block)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrFrontMatter, key, err)
			}
			s.MCPServers = raw
		case "triggers", "keywords":
			l, err := list(value, block)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrFrontMatter, key, err)
			}
			for _, t := range l {
				if t = strings.TrimSpace(t); t != "" && len(s.Triggers) < maxTriggers {
					s.Triggers = append(s.Triggers, clip(t, 100))
				}
			}
		}
	}
	return nil
}

// yamlObject reads the value of key, a mapping, with a YAML library: the
// reader above knows no nested mappings, and an MCP server's settings are
// one. The mapping is returned as JSON.
func yamlObject(key, value string, block []string) (json.RawMessage, error) {
	text := key + ": " + value + "\n" + strings.Join(block, "\n")
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	v, ok := doc[key].(map[string]any)
	if !ok {
		return nil, errors.New("want a mapping of MCP servers")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// scalar reads a one-line value, quoted or plain, or a block scalar.
func scalar(value string, block []string) (string, error) {
	switch {
	case value == "|" || value == ">" || strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">"):
		var parts []string
		for _, l := range block {
			parts = append(parts, strings.TrimSpace(l))
		}
		sep := "\n"
		if value[0] == '>' {
			sep = " "
		}
		return strings.TrimSpace(strings.Join(parts, sep)), nil
	case strings.HasPrefix(value, `"`):
		if len(value) < 2 || !strings.HasSuffix(value, `"`) {
			return "", errors.New("unterminated quote")
		}
		return strings.ReplaceAll(value[1:len(value)-1], `\"`, `"`), nil
	case strings.HasPrefix(value, "'"):
		if len(value) < 2 || !strings.HasSuffix(value, "'") {
			return "", errors.New("unterminated quote")
		}
		return strings.ReplaceAll(value[1:len(value)-1], "''", "'"), nil
	}
	v := value
	for _, l := range block { // a plain scalar may go on over indented lines
		if t := strings.TrimSpace(l); t != "" {
			v += " " + t
		}
	}
	return v, nil
}

// list reads [a, b] or "- a" lines.
func list(value string, block []string) ([]string, error) {
	if strings.HasPrefix(value, "[") {
		if !strings.HasSuffix(value, "]") {
			return nil, errors.New("unterminated [")
		}
		var out []string
		for _, item := range strings.Split(value[1:len(value)-1], ",") {
			v, err := scalar(strings.TrimSpace(item), nil)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	if value != "" {
		v, err := scalar(value, nil)
		return []string{v}, err
	}
	var out []string
	for _, l := range block {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		item, ok := strings.CutPrefix(t, "-")
		if !ok {
			return nil, fmt.Errorf("%q is not a list item", clip(t, 60))
		}
		v, err := scalar(strings.TrimSpace(item), nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Matched returns the first of the skill's triggers that the message
// holds as a word of its own (letters and digits around it do not count:
// "git" is not in "github"), ignoring case, or "".
func (s Skill) Matched(message string) string {
	lower := strings.ToLower(message)
	for _, t := range s.Triggers {
		if containsWord(lower, strings.ToLower(t)) {
			return t
		}
	}
	return ""
}

func containsWord(text, word string) bool {
	if word == "" {
		return false
	}
	for from := 0; from <= len(text)-len(word); {
		i := strings.Index(text[from:], word)
		if i < 0 {
			return false
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i+len(word):])
		if !isWordRune(before) && !isWordRune(after) {
			return true
		}
		from = i + 1
	}
	return false
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

var blanks = regexp.MustCompile(`\s+`)

func oneLine(s string) string { return strings.TrimSpace(blanks.ReplaceAllString(s, " ")) }

// validText returns data as valid UTF-8.
func validText(data []byte) string { return strings.ToValidUTF8(string(data), "\uFFFD") }

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
