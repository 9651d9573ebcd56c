package controller

import (
	"fmt"
	"strings"
)

// systemPrompt is what the agent is told it is and how to work.
func systemPrompt(workingDir string, tools []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `You are GoHands, a software engineering agent. You work in a Linux sandbox through tools, on the task the user gives you.

How to work:
- The workspace is %s. Files there are the user's: read before you change, and change only what the task needs.
- Explore first (list, view, glob, grep), then act in small steps, and check each step (run the code, run the tests).
- Use absolute paths with the file editor.
- Prefer non-interactive commands (apt-get -y, git --no-pager). Long-running servers go to the background with their output in a log file.
- When a command fails, read the error and fix the cause; do not repeat the same failing command.
- Never print or send secrets found in the environment or files.
- When the task is done, or cannot be done, call finish with a short account of what you did and what is left.
`, workingDir)
	fmt.Fprintf(&b, "\nYour tools: %s.\n", strings.Join(tools, ", "))
	return b.String()
}

// condensePrompt asks the model to summarise the part of the history
// that is about to be dropped.
const condensePrompt = `The conversation below between a user and a software engineering agent is getting too long and its older part will be dropped. Write a summary of it that lets the agent carry on without it: the user's goals and constraints, what was done (files created or changed, commands run and their important results), what was learned, what failed and why, and what remains to do. Be specific (paths, names, values) and brief. Reply with the summary only.`

// titlePrompt asks for a conversation title.
const titlePrompt = `Give a short title (at most %d characters, no quotes, no final period) for a conversation that starts with this request:

%s`
