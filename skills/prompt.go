package skills

import (
	"fmt"
	"strings"
)

// Prompt renders what the model is always shown of a set: the guidance
// files in full (cut to their bounds), the nested ones with the folder
// they are about, and a list of the skills by name and description with
// the file to read for the rest. A server skill, whose file the sandbox
// cannot read, is shown in full unless it has triggers. Prompt is "" for
// an empty set.
func Prompt(set Set) string {
	var b strings.Builder
	if len(set.Guidance) > 0 {
		b.WriteString("\n<REPO_GUIDANCE>\nThe repository gives these instructions for working in it. Follow them unless the user says otherwise.\n")
		for _, g := range set.Guidance {
			fmt.Fprintf(&b, "\n--- %s ---\n%s\n", g.Path, g.Content)
			if g.Truncated {
				fmt.Fprintf(&b, "[%s is longer; only its start is shown. View the file for the rest.]\n", g.Path)
			}
		}
		b.WriteString("</REPO_GUIDANCE>\n")
	}
	if len(set.Nested) > 0 {
		b.WriteString("\n<FOLDER_GUIDANCE>\nThese instructions apply only to the files under the folder named; follow them when you work there.\n")
		for _, g := range set.Nested {
			fmt.Fprintf(&b, "\n--- %s (for %s/) ---\n%s\n", g.Path, g.Scope, g.Content)
			if g.Truncated {
				fmt.Fprintf(&b, "[cut; view %s for the rest]\n", g.Path)
			}
		}
		b.WriteString("</FOLDER_GUIDANCE>\n")
	}
	var listed, inline []Skill
	for _, s := range set.Skills {
		if s.Source == SourceServer && len(s.Triggers) == 0 {
			inline = append(inline, s)
		} else {
			listed = append(listed, s)
		}
	}
	if len(listed) > 0 {
		b.WriteString("\n<SKILLS>\nSkills you can use. When one fits the task, read its file (file_editor view) before you start; it may point to scripts and references next to it.\n")
		for _, s := range listed {
			desc := s.Description
			if desc == "" {
				desc = "(no description)"
			}
			if s.Source == SourceServer {
				fmt.Fprintf(&b, "- %s: %s (given in full when the user's message names it)\n", s.Name, desc)
				continue
			}
			fmt.Fprintf(&b, "- %s: %s (file: %s)\n", s.Name, desc, s.Path)
		}
		b.WriteString("</SKILLS>\n")
	}
	for _, s := range inline {
		fmt.Fprintf(&b, "\n<SKILL name=%q>\n%s\n</SKILL>\n", s.Name, s.Content)
	}
	return b.String()
}

// Activation is a skill a message triggered, and the word that did.
type Activation struct {
	Skill   Skill
	Trigger string
}

// Triggered returns the skills with triggers that the message holds, in
// the set's order.
func Triggered(set Set, message string) []Activation {
	var out []Activation
	for _, s := range set.Skills {
		if t := s.Matched(message); t != "" {
			out = append(out, Activation{Skill: s, Trigger: t})
		}
	}
	return out
}

// Text is what the model is shown of an activated skill.
func (a Activation) Text() string {
	return fmt.Sprintf("The user's message names %q, so the skill %s applies:\n<SKILL name=%q path=%q>\n%s\n</SKILL>",
		a.Trigger, a.Skill.Name, a.Skill.Name, a.Skill.Path, a.Skill.Content)
}
