package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// fetcher (the browser tool) fetches pages from inside the sandbox, so
// that the sandbox's network rules apply to the agent's browsing too.
type fetcher struct{}

func (fetcher) Spec() Spec {
	return Spec{Name: event.ToolBrowser, Kind: "BrowserToolSet",
		Actions: []string{"BrowserNavigateAction", "BrowserGetContentAction"},
		Description: "Fetch a web page (url) from inside the sandbox and read it as text. Without url, read more " +
			"of the last page from start_from_char. extract_links lists the page's links.",
		Parameters: schema(`{"type":"object","properties":{
			"url":{"type":"string"},
			"start_from_char":{"type":"integer"},
			"extract_links":{"type":"boolean"}}}`),
	}
}

// Decode makes a navigation of a call with a url and a read of the last
// page of one without.
func (fetcher) Decode(args []byte) (event.ToolAction, error) {
	var a struct {
		URL           string `json:"url"`
		StartFromChar int    `json:"start_from_char"`
		ExtractLinks  bool   `json:"extract_links"`
		NewTab        bool   `json:"new_tab"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.URL != "" {
		if !strings.HasPrefix(a.URL, "http://") && !strings.HasPrefix(a.URL, "https://") {
			return nil, fmt.Errorf("url: %q is not an http(s) URL", a.URL)
		}
		return &event.BrowserNavigateAction{URL: a.URL, NewTab: a.NewTab}, nil
	}
	return &event.BrowserGetContentAction{StartFromChar: a.StartFromChar, ExtractLinks: a.ExtractLinks}, nil
}

func (t fetcher) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	var req agentapi.BrowseRequest
	switch x := act.(type) {
	case *event.BrowserNavigateAction:
		req.URL = x.URL
	case *event.BrowserGetContentAction:
		req.StartFromChar, req.ExtractLinks = x.StartFromChar, x.ExtractLinks
	}
	return withAgent(ctx, ws, func(ag Agent) (event.ToolObservation, error) {
		r, err := ag.Browse(ctx, req)
		if err != nil {
			return agentFailure(t, act, err)
		}
		return page(r), nil
	})
}

// page renders a fetched page for the model.
func page(r agentapi.BrowseResult) *event.BrowserObservation {
	var b strings.Builder
	if r.Title != "" {
		fmt.Fprintf(&b, "# %s\n", r.Title)
	}
	fmt.Fprintf(&b, "URL: %s (HTTP %d)\n\n", r.URL, r.Status)
	b.WriteString(r.Content)
	if r.NextChar > 0 {
		fmt.Fprintf(&b, "\n\n[%d of %d characters shown; call browser with start_from_char %d for more]",
			r.NextChar-r.StartFromChar, r.TotalChars, r.NextChar)
	}
	if len(r.Links) > 0 {
		b.WriteString("\n\nLinks:\n")
		for i, l := range r.Links {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, l)
		}
	}
	o := &event.BrowserObservation{URL: r.URL}
	o.Content = event.Text(b.String())
	o.IsError = r.Status >= 400
	return o
}

func (fetcher) Failed(act event.ToolAction, msg string) event.ToolObservation {
	o := &event.BrowserObservation{}
	if x, ok := act.(*event.BrowserNavigateAction); ok {
		o.URL = x.URL
	}
	return fail(o, msg)
}

func (fetcher) Texts(act event.ToolAction) []string {
	if x, ok := act.(*event.BrowserNavigateAction); ok {
		return []string{x.URL}
	}
	return nil
}

func (fetcher) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: event.ToolBrowser, Fields: []string{"url", "new_tab", "extract_links", "start_from_char", security.SecretField}}
}
