package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
	"github.com/gohands/gohands/skills"
	"github.com/gohands/gohands/tools"
)

// loadTimeout bounds reading the workspace's guidance, skills and hooks.
const loadTimeout = 30 * time.Second

// loadRepo reads what the workspace tells the agent (guidance, skills,
// hooks), inside the sandbox, and adds the server's skills. A workspace
// that cannot be read leaves the run without them: the agent can still
// work.
func (r *run) loadRepo(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	var set skills.Set
	err := r.conv.ToolWorkspace().WithAgent(ctx, func(a tools.Agent) error {
		var err error
		set, err = skills.Load(ctx, a, r.s.Workspace.WorkingDir)
		return err
	})
	if err != nil {
		r.log.Info("workspace guidance not read", "err", err)
	}
	for _, p := range set.Problems {
		r.log.Info("workspace skill not read", "problem", p)
	}
	set.Skills = append(set.Skills, r.c.opts.ServerSkills...)
	r.repo = set
	if len(set.Hooks) > 0 {
		cfg, err := security.ParseHookConfig(set.Hooks)
		if err != nil {
			r.log.Warn("the workspace's hooks file is not valid; its hooks do not run", "err", err)
			return
		}
		r.repoHooks = cfg
	}
}

// hookRun is what the repository's hooks of one event came to.
type hookRun struct {
	blocked bool
	reason  string
	// context is the text the hooks asked to add for the model.
	context []string
}

// runRepoHooks runs the repository's hooks of an event that apply to a
// tool, in the sandbox, in order, until one blocks; each run is recorded
// as a HookExecutionEvent.
func (r *run) runRepoHooks(ctx context.Context, ev, tool string, in security.RepoHookInput, actionID, messageID string) (hookRun, error) {
	var out hookRun
	defs := r.repoHooks.Matching(ev, tool)
	if len(defs) == 0 {
		return out, nil
	}
	in.EventType, in.ToolName, in.SessionID, in.WorkingDir = ev, tool, r.conv.ID(), r.s.Workspace.WorkingDir
	if in.Metadata == nil {
		in.Metadata = map[string]any{}
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		return out, fmt.Errorf("encode the hook input: %w", err)
	}
	for _, d := range defs {
		e := &event.HookExecution{HookEventType: ev, HookCommand: d.Command, ToolName: tool, ActionID: actionID,
			MessageID: messageID, HookInput: recordedInput(stdin, in)}
		e.Source = event.SourceHook
		if d.Type != "command" {
			e.ExitCode, e.Error = -1, "GoHands runs hooks of type command only; this "+d.Type+" hook was not run"
			if d.Command == "" {
				e.HookCommand = d.Type + "-hook"
			}
		} else {
			res, runErr := r.execHook(ctx, d, ev, tool, stdin)
			j := security.JudgeRepoHook(res.ExitCode, res.Stdout, res.Stderr, runErr)
			e.Success, e.Blocked, e.ExitCode = j.Success, j.Blocked, res.ExitCode
			e.Stdout, e.Stderr = clipText(res.Stdout, 4096), clipText(res.Stderr, 4096)
			e.Reason, e.AdditionalContext, e.Error = j.Reason, j.AdditionalContext, j.Error
		}
		if err := r.conv.Append(e); err != nil {
			return out, err
		}
		if e.AdditionalContext != "" {
			out.context = append(out.context, e.AdditionalContext)
		}
		if e.Blocked {
			out.blocked, out.reason = true, e.Reason
			if out.reason == "" {
				out.reason = "the hook " + d.Command + " blocked it"
			}
			return out, nil
		}
	}
	return out, nil
}

// execHook runs one command hook in the sandbox with sh, in the
// workspace, its input on standard input and the SDK's variables in its
// environment.
func (r *run) execHook(ctx context.Context, d security.HookDefinition, ev, tool string, stdin []byte) (agentapi.RunResult, string) {
	wd := r.s.Workspace.WorkingDir
	args := []string{"env", "OPENHANDS_PROJECT_DIR=" + wd, "OPENHANDS_SESSION_ID=" + r.conv.ID(), "OPENHANDS_EVENT_TYPE=" + ev}
	if tool != "" {
		args = append(args, "OPENHANDS_TOOL_NAME="+tool)
	}
	args = append(args, "sh", "-c", d.Command)
	var res agentapi.RunResult
	err := r.conv.ToolWorkspace().WithAgent(ctx, func(a tools.Agent) error {
		var err error
		res, err = a.Run(ctx, agentapi.RunRequest{Args: args, Dir: wd, Stdin: string(stdin), Timeout: float64(d.Timeout), MaxOutput: 1 << 20})
		return err
	})
	switch {
	case err != nil:
		return agentapi.RunResult{ExitCode: -1}, "the hook could not run: " + err.Error()
	case res.TimedOut:
		return res, fmt.Sprintf("timed out after %d seconds", d.Timeout)
	}
	return res, ""
}

// recordedInput is the hook's input as recorded: all of it when small,
// without the tool's input and result otherwise.
func recordedInput(stdin []byte, in security.RepoHookInput) map[string]any {
	if len(stdin) > 16<<10 {
		in.ToolInput, in.ToolResponse = nil, nil
		in.Message = clipText(in.Message, 4096)
		stdin, _ = json.Marshal(in)
	}
	var m map[string]any
	json.Unmarshal(stdin, &m)
	return m
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[cut]"
}

// userTurns handles the user messages the agent has not answered yet:
// the repository's UserPromptSubmit hooks run on each, and the skills
// whose trigger words it holds are recorded with their text
// (SkillActivatedEvent) for the model to see after it. It reports a
// message a hook blocked.
func (r *run) userTurns(ctx context.Context) (blocked string, err error) {
	evs, err := r.seen.refresh(r.conv)
	if err != nil {
		return "", err
	}
	handled := map[string]bool{}
	activated := map[string]bool{}
	start := 0
	for i, e := range evs {
		switch e := e.(type) {
		case *event.SkillActivated:
			handled[e.MessageID] = true
			for _, s := range e.Skills {
				activated[s] = true
			}
		case *event.HookExecution:
			if e.MessageID != "" {
				handled[e.MessageID] = true
			}
		}
		if e.Meta().Source == event.SourceAgent && e.Kind() != event.KindSystemPrompt {
			start = i + 1 // the agent has acted since the messages before
		}
	}
	for _, e := range evs[start:] {
		m, ok := e.(*event.Message)
		if !ok || m.Source != event.SourceUser || handled[m.ID] {
			continue
		}
		text := m.LLMMessage.Content.Text()
		hr, err := r.runRepoHooks(ctx, security.HookUserPromptSubmit, "", security.RepoHookInput{Message: text}, "", m.ID)
		if err != nil {
			return "", err
		}
		if hr.blocked {
			return hr.reason, nil
		}
		var names []string
		var content event.ContentList
		for _, act := range skills.Triggered(r.repo, text) {
			if activated[act.Skill.Name] {
				continue
			}
			activated[act.Skill.Name] = true
			names = append(names, act.Skill.Name)
			content = append(content, event.Content{Type: event.ContentText, Text: act.Text()})
		}
		if len(names) == 0 {
			continue
		}
		sa := &event.SkillActivated{MessageID: m.ID, Skills: names, Content: content}
		sa.Source = event.SourceEnvironment
		if err := r.conv.Append(sa); err != nil {
			return "", err
		}
	}
	return "", nil
}

// hookNote is the text hooks added, for the model.
func hookNote(ev string, texts []string) string {
	return fmt.Sprintf("[the repository's %s hook adds: %s]", ev, strings.Join(texts, "\n"))
}
