package frontend_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestChangesAndPreview shows the workspace's git changes and a diff in
// the Changes pane, and a page the agent wrote in the Preview pane: the
// page's own script, a file the frame asks for with the workspace cookie,
// reports to the page that it ran.
func TestChangesAndPreview(t *testing.T) {
	t.Parallel()
	g := startGoHands(t, true)
	b := newBrowser(t)
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"title":"changes","agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test"}}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	script := `cd /workspace && git init -q && git config user.email a@b.c && git config user.name A && printf 'one\n' > a.txt && git add a.txt && git commit -qm first && printf 'two\n' >> a.txt && mkdir -p site && printf '<h1 id=t>preview ok</h1><script>parent.postMessage("inline " + document.getElementById("t").textContent, "*")</script><script src=app.js></script>' > site/index.html && printf 'parent.postMessage(document.getElementById("t").textContent, "*")' > site/app.js`
	cmd, _ := json.Marshal(map[string]string{"command": script})
	var res struct {
		ExitCode int `json:"exit_code"`
	}
	if st := g.do("POST", "/api/conversations/"+info.ID+"/bash/execute_bash_command", string(cmd), &res); st != http.StatusOK || res.ExitCode != 0 {
		t.Fatalf("prepare the workspace: %d %+v", st, res)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the conversation view", `document.querySelector('#tab-changes')`, 10*time.Second)
	b.do("open the changes", chromedp.Click(chromedp.ID("tab-changes")))
	b.wait("a.txt changed and site/ added", `document.querySelector('#change-list li.change-updated[data-path="a.txt"]') && document.querySelector('#change-list li.change-added[data-path="site/index.html"]')`, time.Minute)
	b.do("show the diff", chromedp.Click(chromedp.CSS(`#change-list li[data-path="a.txt"] button`)))
	b.wait("the added line", `[...document.querySelectorAll('#change-diff .diff-add')].some(e => e.textContent.includes('two'))`, 15*time.Second)
	b.screenshot("changes")

	b.do("open the preview", chromedp.Click(chromedp.ID("tab-preview")))
	eval[bool](b, `(window.previewSaid = [], addEventListener('message', (e) => window.previewSaid.push(e.data)), true)`)
	b.do("ask for the site",
		chromedp.SendKeys(chromedp.ID("preview-target"), "site/"),
		chromedp.KeyEvent("\r"))
	b.wait("the page's inline script ran in the frame", `window.previewSaid.includes('inline preview ok')`, 30*time.Second)
	b.wait("the page's script ran in the frame", `window.previewSaid.includes('preview ok')`, 30*time.Second)
	src := eval[string](b, `document.querySelector('#preview-frame').src`)
	if want := "/" + info.ID + "/workspace/site/"; !strings.HasPrefix(src, g.url+"/preview/") || !strings.HasSuffix(src, want) {
		b.fail("the frame shows %q, want …%s", src, want)
	}
	// The frame's page has an origin of its own: it cannot read the page's key.
	if eval[bool](b, `(() => { try { return !!document.querySelector('#preview-frame').contentWindow.localStorage; } catch { return false; } })()`) {
		b.fail("the previewed page runs as the server's origin")
	}
	b.screenshot("preview")
}
