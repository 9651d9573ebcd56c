package frontend_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gohands/gohands/llm/llmtest"
)

// TestStreamedTokens checks live tokens on the page: with agent.llm.stream
// the answer shows as it is typed, then the stored message takes its
// place, shown once, with no trace of the typing left.
func TestStreamedTokens(t *testing.T) {
	t.Parallel()
	const answer = "Streaming answers arrive one word at a time and then the stored message stays."
	g := startGoHands(t, false, llmtest.Reply{Text: answer, TokenDelay: 150 * time.Millisecond})
	b := newBrowser(t)
	var info struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"agent":{"llm":{"model":"openai/scripted","base_url":%q,"api_key":"test","stream":true}}}`, g.model.URL()+"/v1")
	if st := g.do("POST", "/api/conversations", body, &info); st != http.StatusCreated {
		t.Fatalf("create: status %d", st)
	}
	b.open(g, "#/c/"+info.ID)
	b.wait("the conversation", `document.querySelector('#conv-status')`, 15*time.Second)
	if st := g.do("POST", "/api/conversations/"+info.ID+"/events",
		`{"role":"user","content":[{"type":"text","text":"tell me about streaming"}],"run":true}`, nil); st != http.StatusOK {
		t.Fatalf("send: status %d", st)
	}
	b.wait("the answer being typed", `(document.querySelector('#typing .typing-text')?.textContent || '').split(' ').length >= 3`, 30*time.Second)
	partial := eval[string](b, `document.querySelector('#typing .typing-text').textContent`)
	if !strings.HasPrefix(answer, partial) || len(partial) >= len(answer) {
		b.fail("typed so far %q, want a beginning of %q", partial, answer)
	}
	b.screenshot("typing")
	b.wait("the stored answer", `[...document.querySelectorAll('#timeline li[data-kind=MessageEvent]')].some(e => e.textContent.includes('stored message stays'))`, time.Minute)
	b.wait("the typing gone", `!document.querySelector('#typing')`, 5*time.Second)
	if n := eval[int](b, `[...document.querySelectorAll('#timeline li')].filter(e => e.textContent.includes('stored message stays')).length`); n != 1 {
		b.fail("the answer is shown %d times, want once", n)
	}
	checkOnce(b, g, info.ID)
	b.screenshot("stored")
}
