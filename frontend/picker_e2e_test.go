package frontend_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/llm"
)

// TestModelPicker checks the new-conversation form's model picker: it
// offers the models of GET /api/llm/models, filtered by provider, and the
// model chosen is the one the conversation is created with. Without the
// catalogue the form still takes a model typed by hand.
func TestModelPicker(t *testing.T) {
	t.Parallel()
	anthropic := llm.CatalogueModels("anthropic")
	if len(anthropic) == 0 || len(llm.CatalogueModels("openai")) == 0 {
		t.Fatal("the catalogue lists no anthropic or openai models")
	}
	known := anthropic[len(anthropic)-1]
	g := startGoHands(t, false)
	b := newBrowser(t)

	b.open(g, "#/new")
	b.wait("the form", `document.querySelector('#new-form')`, 5*time.Second)
	b.wait("the provider filter", `!document.querySelector('#f-provider-row').hidden`, 15*time.Second)
	b.wait("the catalogue's models", fmt.Sprintf(`[...document.querySelectorAll('#models option')].some(o => o.value === %q)`, known), 5*time.Second)
	providers := eval[[]string](b, `[...document.querySelectorAll('#f-provider option')].map(o => o.value)`)
	if !slices.Contains(providers, "anthropic") || !slices.Contains(providers, "openai") || providers[0] != "" {
		b.fail("provider choices %q, want any provider first, then anthropic and openai among them", providers)
	}
	all := eval[[]string](b, `[...document.querySelectorAll('#models option')].map(o => o.value)`)
	if len(all) != len(llm.CatalogueModels("")) {
		b.fail("the picker offers %d models, the catalogue has %d", len(all), len(llm.CatalogueModels("")))
	}

	b.do("choose a provider", chromedp.SetValue(chromedp.ID("f-provider"), "anthropic"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-provider').dispatchEvent(new Event('change'))`))
	b.wait("the anthropic models only", `[...document.querySelectorAll('#models option')].every(o => o.value.startsWith('anthropic/'))`, 5*time.Second)
	if got := eval[[]string](b, `[...document.querySelectorAll('#models option')].map(o => o.value)`); !slices.Equal(got, anthropic) {
		b.fail("with provider anthropic the picker offers %q, want %q", got, anthropic)
	}
	b.screenshot("picker")

	b.do("choose the model and start", chromedp.SendKeys(chromedp.ID("f-model"), known), chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the conversation view", `location.hash.startsWith('#/c/') && document.querySelector('#timeline')`, 15*time.Second)
	first := convID(b)
	if got := createdModel(t, g, first); got != known {
		b.fail("the conversation was created with model %q, want %q", got, known)
	}

	// The catalogue cannot be read: the model field stays free text, with
	// the models in use as its suggestions.
	const refuse = `(() => {
		const real = window.fetch.bind(window);
		window.catalogueRefused = 0;
		window.fetch = (url, init) => {
			if (String(url).includes('/api/llm/')) {
				window.catalogueRefused++;
				return Promise.reject(new TypeError('Failed to fetch'));
			}
			return real(url, init);
		};
	})();`
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: refuse}); err != nil {
		t.Fatal(err)
	}
	b.do("open the form again", chromedp.Navigate(g.url+"/#/new"), chromedp.Reload())
	b.wait("the form", `document.querySelector('#new-form')`, 15*time.Second)
	b.wait("the catalogue refused", `window.catalogueRefused >= 2`, 15*time.Second)
	b.wait("the model in use suggested", fmt.Sprintf(`[...document.querySelectorAll('#models option')].some(o => o.value === %q)`, known), 15*time.Second)
	time.Sleep(time.Second) // the page tries a failed GET again
	if !eval[bool](b, `document.querySelector('#f-provider-row').hidden`) {
		b.fail("the provider filter shows without a catalogue")
	}
	if got := eval[[]string](b, `[...document.querySelectorAll('#models option')].map(o => o.value)`); !slices.Equal(got, []string{known}) {
		b.fail("without a catalogue the picker offers %q, want only the model in use", got)
	}
	const typed = "local/a-model-of-my-own"
	b.do("type a model and start", chromedp.SendKeys(chromedp.ID("f-model"), typed), chromedp.Click(chromedp.ID("f-submit")))
	b.wait("the new conversation", fmt.Sprintf(`location.hash.startsWith('#/c/') && location.hash !== '#/c/' + %q`, first), 15*time.Second)
	if got := createdModel(t, g, convID(b)); got != typed {
		b.fail("the conversation was created with model %q, want %q", got, typed)
	}
}

// createdModel is the model a conversation was created with.
func createdModel(t *testing.T, g *gohands, id string) string {
	t.Helper()
	var info struct {
		Agent struct {
			LLM struct {
				Model string `json:"model"`
			} `json:"llm"`
		} `json:"agent"`
	}
	if st := g.do("GET", "/api/conversations/"+id, "", &info); st != http.StatusOK {
		t.Fatalf("get conversation %s: status %d", id, st)
	}
	return info.Agent.LLM.Model
}
