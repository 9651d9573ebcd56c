// Package skills reads what a repository tells its agent: guidance files
// (AGENTS.md, CLAUDE.md, GEMINI.md, .cursorrules) and skills, folders
// with a SKILL.md in the AgentSkills format (YAML front matter with name,
// description and optional triggers, then the text). It parses them,
// matches a user's message against the skills' trigger words, and
// renders what the model is shown.
//
// Workspace files are read inside the sandbox, through the runtime-agent
// (see Load), in one bounded call: a huge AGENTS.md is cut, a repository
// with thousands of skill folders yields the first ones. A server's own
// skills folder is read on the server (LoadDir).
package skills
