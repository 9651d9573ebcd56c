package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/security"
)

// maxContent bounds the characters of the page one browser_get_content
// observation shows.
const maxContent = 20000

// browserTool is one tool of the browser tool set: upstream's name, one
// action kind, and how to run it on the conversation's Page.
type browserTool struct {
	name, kind, class string
	description       string
	params            string
	decode            func(args []byte) (event.ToolAction, error)
	run               func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error)
	// fetch says the text fetcher runs the action where the deployment
	// has no browser.
	fetch bool
	// fields are what security rules may name of the action.
	fields []string
	texts  func(act event.ToolAction) []string
}

// browserSet are the tools of the browser tool set, in
// event.BrowserTools' order.
var browserSet = []browserTool{
	{
		name: event.ToolBrowserNavigate, kind: "BrowserNavigateAction", class: "BrowserNavigateTool", fetch: true,
		description: "Open a URL in the browser (a real Chromium that shares the sandbox's network: localhost is " +
			"the sandbox). new_tab opens it in a new tab. Answers with the page's state: its numbered interactive elements.",
		params: `{"type":"object","properties":{
			"url":{"type":"string","description":"The URL to open."},
			"new_tab":{"type":"boolean","description":"Open it in a new tab (default false)."}},"required":["url"]}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserNavigateAction](args, func(a *event.BrowserNavigateAction) error {
				if a.URL == "" {
					return errors.New("url: missing")
				}
				return nil
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserNavigateAction)
			return stateObservation(p.Navigate(ctx, x.URL, x.NewTab))
		},
		fields: []string{"url", "new_tab", security.SecretField},
		texts:  func(act event.ToolAction) []string { return []string{act.(*event.BrowserNavigateAction).URL} },
	},
	{
		name: event.ToolBrowserClick, kind: "BrowserClickAction", class: "BrowserClickTool",
		description: "Click the element of an index from the last browser_get_state. new_tab opens a link it " +
			"follows in a new tab. Use only indices of the current state.",
		params: `{"type":"object","properties":{
			"index":{"type":"integer","minimum":0,"description":"The element's index, from browser_get_state."},
			"new_tab":{"type":"boolean","description":"Open a navigation the click starts in a new tab (default false)."}},"required":["index"]}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserClickAction](args, func(a *event.BrowserClickAction) error {
				return nonNegative(a.Index)
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserClickAction)
			return stateObservation(p.Click(ctx, x.Index, x.NewTab))
		},
		fields: []string{"index", "new_tab"},
	},
	{
		name: event.ToolBrowserGetState, kind: "BrowserGetStateAction", class: "BrowserGetStateTool",
		description: "Show the page's state: URL, title, open tabs and its interactive elements, numbered for " +
			"browser_click and browser_type. include_screenshot adds a PNG of the page, saved in the sandbox.",
		params: `{"type":"object","properties":{
			"include_screenshot":{"type":"boolean","description":"Add a screenshot of the page (default false)."}}}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserGetStateAction](args, nil)
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserGetStateAction)
			return stateObservation(p.State(ctx, x.IncludeScreenshot))
		},
		fields: []string{"include_screenshot"},
	},
	{
		name: event.ToolBrowserGetContent, kind: "BrowserGetContentAction", class: "BrowserGetContentTool", fetch: true,
		description: "Read the page as Markdown, from start_from_char on when an earlier read was cut short. " +
			"extract_links keeps the links' URLs.",
		params: `{"type":"object","properties":{
			"extract_links":{"type":"boolean","description":"Keep the links' URLs (default false)."},
			"start_from_char":{"type":"integer","minimum":0,"description":"Where to start in the page's Markdown (default 0)."}}}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserGetContentAction](args, func(a *event.BrowserGetContentAction) error {
				return nonNegative(a.StartFromChar)
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserGetContentAction)
			md, err := p.Content(ctx, x.ExtractLinks, x.StartFromChar, maxContent)
			if err != nil {
				return nil, err
			}
			o := &event.BrowserObservation{}
			if len([]rune(md)) >= maxContent {
				md += fmt.Sprintf("\n\n[cut at %d characters; call %s with start_from_char %d for more]",
					maxContent, event.ToolBrowserGetContent, x.StartFromChar+maxContent)
			}
			o.Content = event.Text(md)
			return o, nil
		},
		fields: []string{"extract_links", "start_from_char"},
	},
	{
		name: event.ToolBrowserType, kind: "BrowserTypeAction", class: "BrowserTypeTool",
		description: "Type text into the input element of an index from the last browser_get_state.",
		params: `{"type":"object","properties":{
			"index":{"type":"integer","minimum":0,"description":"The input element's index, from browser_get_state."},
			"text":{"type":"string","description":"The text to type."}},"required":["index","text"]}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserTypeAction](args, func(a *event.BrowserTypeAction) error {
				return nonNegative(a.Index)
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserTypeAction)
			return stateObservation(p.Type(ctx, x.Index, x.Text))
		},
		fields: []string{"index", "text", security.SecretField},
		texts:  func(act event.ToolAction) []string { return []string{act.(*event.BrowserTypeAction).Text} },
	},
	{
		name: event.ToolBrowserScroll, kind: "BrowserScrollAction", class: "BrowserScrollTool",
		description: "Scroll the page a screen down (the default) or up, to reach elements out of view.",
		params: `{"type":"object","properties":{
			"direction":{"type":"string","enum":["up","down"],"description":"Which way to scroll (default down)."}}}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserScrollAction](args, func(a *event.BrowserScrollAction) error {
				switch a.Direction {
				case "":
					a.Direction = event.ScrollDown
				case event.ScrollUp, event.ScrollDown:
				default:
					return fmt.Errorf("direction: %q is neither up nor down", a.Direction)
				}
				return nil
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			x := act.(*event.BrowserScrollAction)
			return stateObservation(p.Scroll(ctx, x.Direction != event.ScrollUp))
		},
		fields: []string{"direction"},
	},
	{
		name: event.ToolBrowserGoBack, kind: "BrowserGoBackAction", class: "BrowserGoBackTool",
		description: "Go back to the previous page of the tab, as the browser's back button does.",
		params:      `{"type":"object","properties":{}}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserGoBackAction](args, nil)
		},
		run: func(ctx context.Context, p Page, _ event.ToolAction) (*event.BrowserObservation, error) {
			return stateObservation(p.Back(ctx))
		},
	},
	{
		name: event.ToolBrowserListTabs, kind: "BrowserListTabsAction", class: "BrowserListTabsTool",
		description: "List the browser's open tabs with their ids, titles and URLs, for browser_switch_tab and browser_close_tab.",
		params:      `{"type":"object","properties":{}}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserListTabsAction](args, nil)
		},
		run: func(ctx context.Context, p Page, _ event.ToolAction) (*event.BrowserObservation, error) {
			tabs, err := p.Tabs(ctx)
			return tabsObservation(tabs, err)
		},
	},
	{
		name: event.ToolBrowserSwitchTab, kind: "BrowserSwitchTabAction", class: "BrowserSwitchTabTool",
		description: "Switch to the tab of an id from browser_list_tabs; the other browser tools then act on it.",
		params: `{"type":"object","properties":{
			"tab_id":{"type":"string","description":"The tab's id, from browser_list_tabs."}},"required":["tab_id"]}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserSwitchTabAction](args, func(a *event.BrowserSwitchTabAction) error {
				return tabID(a.TabID)
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			return stateObservation(p.SwitchTab(ctx, act.(*event.BrowserSwitchTabAction).TabID))
		},
		fields: []string{"tab_id"},
	},
	{
		name: event.ToolBrowserCloseTab, kind: "BrowserCloseTabAction", class: "BrowserCloseTabTool",
		description: "Close the tab of an id from browser_list_tabs.",
		params: `{"type":"object","properties":{
			"tab_id":{"type":"string","description":"The tab's id, from browser_list_tabs."}},"required":["tab_id"]}`,
		decode: func(args []byte) (event.ToolAction, error) {
			return decodeInto[event.BrowserCloseTabAction](args, func(a *event.BrowserCloseTabAction) error {
				return tabID(a.TabID)
			})
		},
		run: func(ctx context.Context, p Page, act event.ToolAction) (*event.BrowserObservation, error) {
			tabs, err := p.CloseTab(ctx, act.(*event.BrowserCloseTabAction).TabID)
			return tabsObservation(tabs, err)
		},
		fields: []string{"tab_id"},
	},
}

func nonNegative(n int) error {
	if n < 0 {
		return fmt.Errorf("%d is not an index: indices start at 0", n)
	}
	return nil
}

func tabID(id string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("tab_id: missing")
	}
	return nil
}

func (t browserTool) Spec() Spec {
	return Spec{Name: t.name, Kind: t.class, Description: t.description, Parameters: schema(t.params),
		Actions: []string{t.kind}}
}

func (t browserTool) Decode(args []byte) (event.ToolAction, error) { return t.decode(args) }

// Run runs the action on the conversation's browser. Where the
// deployment has none, navigate and get_content fetch the page as text
// and the other tools say that they cannot run.
func (t browserTool) Run(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	bw, ok := browserOf(ws)
	if !ok {
		return t.withoutBrowser(ctx, ws, act)
	}
	var o *event.BrowserObservation
	err := bw.WithBrowser(ctx, func(p Page) error {
		var err error
		o, err = t.run(ctx, p, act)
		return err
	})
	switch {
	case errors.Is(err, ErrNoBrowser):
		return t.withoutBrowser(ctx, ws, act)
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil:
		return t.Failed(act, browserFailure(act, err)), nil
	}
	if o.ScreenshotData != "" {
		saveScreenshot(ctx, ws, o)
	}
	return o, nil
}

// withoutBrowser runs an action where the deployment has no browser.
func (t browserTool) withoutBrowser(ctx context.Context, ws Workspace, act event.ToolAction) (event.ToolObservation, error) {
	if t.fetch {
		return fetcher{}.Run(ctx, ws, act)
	}
	return t.Failed(act, fmt.Sprintf("%s cannot run: this deployment has no browser. %s and %s still read pages as text.",
		t.name, event.ToolBrowserNavigate, event.ToolBrowserGetContent)), nil
}

// browserFailure says, for the model, why a browser action failed.
func browserFailure(act event.ToolAction, err error) string {
	switch {
	case errors.Is(err, ErrNoElement):
		index := -1
		switch x := act.(type) {
		case *event.BrowserClickAction:
			index = x.Index
		case *event.BrowserTypeAction:
			index = x.Index
		}
		if index >= 0 {
			return fmt.Sprintf("Element %d is not on the page (the page may have changed); call %s for the current indices.",
				index, event.ToolBrowserGetState)
		}
		return fmt.Sprintf("That element is not on the page; call %s for the current indices. (%v)", event.ToolBrowserGetState, err)
	case errors.Is(err, ErrTimeout):
		return "The page did not load in time; it may be slow or unreachable from the sandbox. (" + err.Error() + ")"
	case errors.Is(err, ErrCrashed):
		return "The browser crashed; it restarts on the next browser action, with no tabs open. (" + err.Error() + ")"
	}
	return "Browser operation failed: " + err.Error()
}

func (t browserTool) Failed(act event.ToolAction, msg string) event.ToolObservation {
	o := &event.BrowserObservation{}
	if x, ok := act.(*event.BrowserNavigateAction); ok {
		o.URL = x.URL
	}
	return fail(o, msg)
}

func (t browserTool) Texts(act event.ToolAction) []string {
	if t.texts == nil {
		return nil
	}
	return t.texts(act)
}

func (t browserTool) SecurityFields() security.ToolFields {
	return security.ToolFields{Tool: t.name, Fields: t.fields}
}

// stateObservation is the observation of an action that answers with the
// page's state.
func stateObservation(st PageState, err error) (*event.BrowserObservation, error) {
	if err != nil {
		return nil, err
	}
	o := &event.BrowserObservation{URL: st.URL}
	text := st.Text
	if text == "" {
		text = stateText(st)
	}
	o.Content = event.Text(text)
	if len(st.Screenshot) > 0 {
		o.ScreenshotData = encodePNG(st.Screenshot)
	}
	return o, nil
}

// stateText writes a state that came without its text.
func stateText(st PageState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "URL: %s\nTitle: %s\n", st.URL, st.Title)
	if len(st.Elements) > 0 {
		b.WriteString("\nInteractive elements:\n")
	}
	for _, e := range st.Elements {
		fmt.Fprintf(&b, "[%d] <%s> %s\n", e.Index, e.Tag, e.Text)
	}
	return b.String()
}

// tabsObservation lists tabs.
func tabsObservation(tabs []PageTab, err error) (*event.BrowserObservation, error) {
	if err != nil {
		return nil, err
	}
	o := &event.BrowserObservation{}
	var b strings.Builder
	if len(tabs) == 0 {
		b.WriteString("No tabs are open.")
	}
	for _, t := range tabs {
		mark := ""
		if t.Active {
			mark = " (current)"
			o.URL = t.URL
		}
		fmt.Fprintf(&b, "[%s] %s - %s%s\n", t.ID, t.Title, t.URL, mark)
	}
	o.Content = event.Text(b.String())
	return o, nil
}
