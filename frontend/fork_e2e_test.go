package frontend_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/checkpoint"
	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// TestForkAndRewind drives fork and rewind from the timeline against real
// sandboxes with checkpoints: a conversation writes a.txt, then b.txt;
// "Fork from here" on the first action opens a fork listed under its
// parent whose sandbox has a.txt and not b.txt; "Rewind to here" dims the
// later events and removes b.txt, and "Return here" brings both back; two
// forks at once open side by side.
func TestForkAndRewind(t *testing.T) {
	t.Parallel()
	writeA := llmtest.Call{Name: "terminal", Args: `{"command":"cd /workspace && git init -q && echo A > a.txt"}`}
	writeB := llmtest.Call{Name: "terminal", Args: `{"command":"echo B > /workspace/b.txt"}`}
	finish := llmtest.Call{Name: "finish", Args: `{"message":"a.txt and b.txt written."}`}
	g := startGoHandsWith(t, true, func(o *session.Options) {
		cks, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cks.Close() }) // after the manager's close, which runs first
		o.Checkpoints, o.CheckpointsDefault = cks, true
	},
		llmtest.Reply{ToolCalls: []llmtest.Call{writeA}},
		llmtest.Reply{ToolCalls: []llmtest.Call{writeB}},
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}},
	)
	b := newBrowser(t)
	g.model.SetDefault(llmtest.Reply{Text: "Nothing more to do."})

	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"title":"two files","agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}},`+
		`"initial_message":{"role":"user","content":[{"type":"text","text":"write a.txt, then b.txt"}],"run":true}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	id := info.ID
	b.open(g, "#/c/"+id)
	b.wait("the finished status", `document.querySelector('#conv-status').dataset.status === 'finished'`, 3*time.Minute)
	b.wait("two actions with their results, their buttons enabled",
		`document.querySelectorAll('#timeline li[data-kind=ActionEvent] button[data-branch=fork]:not(:disabled)').length === 3`, 10*time.Second)
	actions := eval[[]string](b, `[...document.querySelectorAll('#timeline li[data-kind=ActionEvent]')].map(e => e.dataset.id)`)
	first := actions[0]
	later := afterAnswer(t, g, id, first)
	if len(later) == 0 {
		b.fail("no events after the first action's result")
	}
	if n := eval[int](b, `document.querySelectorAll('#timeline li.ev-off').length`); n != 0 {
		b.fail("%d events dimmed before any rewind", n)
	}

	// Fork from the first action: the fork opens, says where it came
	// from, lists under its parent, and has a.txt but not b.txt.
	forkButton := fmt.Sprintf(`#timeline li[data-id="%s"] button[data-branch=fork]`, first)
	b.do("fork from the first action", chromedp.Click(chromedp.CSS(forkButton)))
	b.wait("the fork dialog", `document.querySelector('#fork-dialog') && document.querySelector('#fork-dialog').open`, 5*time.Second)
	if v := eval[string](b, `document.querySelector('#fork-count').value`); v != "1" {
		b.fail("the dialog asks for %q forks, want 1 by default", v)
	}
	b.do("make one fork", chromedp.Click(chromedp.ID("fork-go")))
	b.wait("the fork's view", fmt.Sprintf(`location.hash.startsWith('#/c/') && location.hash !== '#/c/%s' && document.querySelector('#conv-origin') && !document.querySelector('#conv-origin').hidden`, id), 3*time.Minute)
	fork := convID(b)
	if href := eval[string](b, `document.querySelector('#conv-origin a').getAttribute('href')`); href != "#/c/"+id {
		b.fail("the fork's origin links to %q, want #/c/%s", href, id)
	}
	b.wait("the fork under its parent in the list", fmt.Sprintf(`(() => {
		const p = document.querySelector('#conv-list li[data-id="%s"]');
		const f = document.querySelector('#conv-list li[data-id="%s"]');
		return p && f && p.nextElementSibling === f && f.dataset.depth === '1' && f.dataset.forkedFrom === '%s' && p.dataset.depth === '0';
	})()`, id, fork, id), 15*time.Second)
	b.wait("the fork's copy of the history", fmt.Sprintf(`document.querySelector('#timeline li[data-id="%s"]')`, first), 15*time.Second)
	if got := listing(t, g, fork); got != "a.txt" {
		b.fail("the fork's workspace holds %q, want a.txt alone", got)
	}
	if got := listing(t, g, id); got != "a.txt b.txt" {
		b.fail("the original's workspace holds %q after the fork, want a.txt b.txt", got)
	}
	b.screenshot("fork")

	// Rewind the original to the first action: the later events are
	// dimmed, b.txt goes; "Return here" brings both back.
	b.do("back to the original", chromedp.Click(chromedp.CSS(`#conv-origin a`)))
	b.wait("the original's timeline", fmt.Sprintf(`location.hash === '#/c/%s' && document.querySelector('#timeline li[data-id="%s"] button[data-branch=rewind]:not(:disabled)')`, id, first), 15*time.Second)
	b.do("rewind to the first action",
		chromedp.Evaluate[chromedp.Void](`window.confirm = (m) => (window.confirmed = m, true)`),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#timeline li[data-id="%s"] button[data-branch=rewind]`, first))))
	b.wait("the head move", `document.querySelector('#timeline li[data-kind=HeadMovedEvent]')`, time.Minute)
	if msg := eval[string](b, `window.confirmed || ''`); !strings.Contains(msg, "Rewind") {
		b.fail("no confirmation asked before the rewind (%q)", msg)
	}
	b.wait("the later events dimmed", fmt.Sprintf(`%s.every(s => document.querySelector('#timeline li[data-seq="' + s + '"]').classList.contains('ev-off'))`, jsInts(later)), 10*time.Second)
	if n := eval[int](b, `document.querySelectorAll('#timeline li.ev-off').length`); n != len(later) {
		b.fail("%d events dimmed, want the %d after the first action's result", n, len(later))
	}
	if eval[bool](b, fmt.Sprintf(`document.querySelector('#timeline li[data-id="%s"]').classList.contains('ev-off')`, first)) {
		b.fail("the first action is dimmed")
	}
	if got := listing(t, g, id); got != "a.txt" {
		b.fail("after the rewind the workspace holds %q, want a.txt alone", got)
	}
	b.wait("Return here", `!document.querySelector('#timeline li[data-kind=HeadMovedEvent] button[data-branch=return]').hidden`, 5*time.Second)
	b.screenshot("rewound")
	b.do("return", chromedp.Click(chromedp.CSS(`#timeline li[data-kind=HeadMovedEvent] button[data-branch=return]`)))
	b.wait("nothing dimmed after the return", `document.querySelectorAll('#timeline li[data-kind=HeadMovedEvent]').length === 2 && document.querySelectorAll('#timeline li.ev-off').length === 0`, time.Minute)
	if got := listing(t, g, id); got != "a.txt b.txt" {
		b.fail("after the return the workspace holds %q, want a.txt b.txt", got)
	}
	b.wait("no Return here left", `[...document.querySelectorAll('#timeline button[data-branch=return]')].every(b => b.hidden)`, 5*time.Second)
	// A second rewind to the same place: one "Return here", on the latest move.
	b.do("rewind again", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#timeline li[data-id="%s"] button[data-branch=rewind]`, first))))
	b.wait("the third head move", `document.querySelectorAll('#timeline li[data-kind=HeadMovedEvent]').length === 3 && document.querySelectorAll('#timeline li.ev-off').length > 0`, time.Minute)
	b.wait("one Return here, on the latest move", `(() => {
		const shown = [...document.querySelectorAll('#timeline button[data-branch=return]')].filter(b => !b.hidden);
		return shown.length === 1 && shown[0].closest('li') === [...document.querySelectorAll('#timeline li[data-kind=HeadMovedEvent]')].pop();
	})()`, 5*time.Second)
	b.do("return again", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#timeline li[data-kind=HeadMovedEvent]')].pop().querySelector('button[data-branch=return]').click()`))
	b.wait("nothing dimmed after the second return", `document.querySelectorAll('#timeline li[data-kind=HeadMovedEvent]').length === 4 && document.querySelectorAll('#timeline li.ev-off').length === 0`, time.Minute)

	// Two forks at once from the second action: side by side.
	second := actions[1]
	b.do("fork twice from the second action", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#timeline li[data-id="%s"] button[data-branch=fork]`, second))))
	b.wait("the fork dialog", `document.querySelector('#fork-dialog') && document.querySelector('#fork-dialog').open`, 5*time.Second)
	b.do("ask for two", chromedp.SetValue(chromedp.ID("fork-count"), "2"), chromedp.Click(chromedp.ID("fork-go")))
	b.wait("the side-by-side view", `location.hash.startsWith('#/compare/') && document.querySelectorAll('#compare-grid .compare-card').length === 2`, 3*time.Minute)
	b.wait("both forks' last observation and changed files", `[...document.querySelectorAll('#compare-grid .compare-card')].every(c =>
		c.querySelector('.compare-observation').textContent.includes('echo B > /workspace/b.txt') && c.querySelector('.compare-observation').textContent.includes('(no output)') &&
		c.querySelector('.compare-changes li.change-added[data-path="b.txt"]') && c.querySelector('.compare-changes li.change-added[data-path="a.txt"]'))`, time.Minute)
	b.wait("a compare link under the parent", fmt.Sprintf(`document.querySelector('#conv-list li[data-id="%s"] a.compare-link')`, id), 15*time.Second)
	b.screenshot("compare")
}

// listing runs ls in a conversation's workspace and returns its names,
// space-separated.
func listing(t *testing.T, g *gohands, id string) string {
	t.Helper()
	cmd, _ := json.Marshal(map[string]string{"command": "ls /workspace"})
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
		Stderr   string `json:"stderr"`
	}
	if st := g.do("POST", "/api/conversations/"+id+"/bash/execute_bash_command", string(cmd), &res); st != http.StatusOK || res.ExitCode != 0 {
		t.Fatalf("ls in %s: status %d, %+v", id, st, res)
	}
	return strings.Join(strings.Fields(res.Stdout), " ")
}

// afterAnswer lists the seqs of the events on a branch that follow the
// answer of the action actionID (all but state and sandbox updates).
func afterAnswer(t *testing.T, g *gohands, id, actionID string) []int {
	t.Helper()
	var page struct {
		Items []struct {
			Kind     string `json:"kind"`
			Seq      int    `json:"seq"`
			ActionID string `json:"action_id"`
		} `json:"items"`
	}
	g.do("GET", "/api/conversations/"+id+"/events/search?limit=100", "", &page)
	answer := 0
	var out []int
	for _, e := range page.Items {
		switch {
		case answer == 0:
			if e.ActionID == actionID {
				answer = e.Seq
			}
		case e.Kind != "ConversationStateUpdateEvent" && e.Kind != "SandboxStatusEvent":
			out = append(out, e.Seq)
		}
	}
	if answer == 0 {
		t.Fatalf("no answer to action %s in %s", actionID, id)
	}
	return out
}

// jsInts writes a list of numbers as a JavaScript array.
func jsInts(xs []int) string {
	b, _ := json.Marshal(xs)
	return string(b)
}
