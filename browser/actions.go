package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/gohands/gohands/webtext"
)

// elementsJS numbers the page's visible interactive elements from 1 and
// keeps them in the page (window.__gohands), so that a later call finds
// element N again, or finds it gone.
const elementsJS = `(() => {
  const sel = 'a[href],button,input,select,textarea,summary,[onclick],[role=button],[role=link],[role=checkbox],' +
    '[role=radio],[role=tab],[role=menuitem],[role=option],[role=switch],[role=textbox],[role=combobox],' +
    '[contenteditable=""],[contenteditable=true],[tabindex]:not([tabindex="-1"])';
  const keep = ['type', 'name', 'href', 'placeholder', 'aria-label', 'title', 'alt', 'id'];
  const els = [], out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.type === 'hidden') continue;
    const r = el.getBoundingClientRect(), st = getComputedStyle(el);
    if ((r.width === 0 && r.height === 0) || st.visibility === 'hidden' || st.display === 'none') continue;
    if (els.length >= 1000) break;
    els.push(el);
    const attrs = {};
    for (const a of keep) { const v = el.getAttribute(a); if (v) attrs[a] = v.slice(0, 200); }
    if (el.tagName === 'A' && el.href) attrs.href = el.href.slice(0, 300);
    if ('value' in el && el.tagName !== 'BUTTON' && el.value) attrs.value = String(el.value).slice(0, 200);
    if (el.disabled) attrs.disabled = 'true';
    let text = (el.tagName === 'SELECT') ? Array.from(el.options).map(o => o.text).join(' | ') : (el.innerText || el.textContent || '');
    out.push({index: els.length, tag: el.tagName.toLowerCase(), role: el.getAttribute('role') || '',
      text: text.replace(/\s+/g, ' ').trim().slice(0, 200), attrs});
  }
  window.__gohands = els;
  return out;
})()`

// pointJS finds element %d again, scrolls it into view, and returns where
// to click it, or null when it is gone.
const pointJS = `((i) => {
  const el = (window.__gohands || [])[i - 1];
  if (!el || !el.isConnected) return null;
  el.scrollIntoView({block: 'center', inline: 'center'});
  const r = el.getBoundingClientRect();
  return {x: r.left + r.width / 2, y: r.top + r.height / 2, href: (el.tagName === 'A' && el.href) || ''};
})(%d)`

// focusJS readies element %d for typing: focused and emptied. A select
// gets its option chosen here (by text or value) and reports "select".
const focusJS = `((i, text) => {
  const el = (window.__gohands || [])[i - 1];
  if (!el || !el.isConnected) return null;
  el.scrollIntoView({block: 'center'});
  if (el.tagName === 'SELECT') {
    const o = Array.from(el.options).find(o => o.text.trim() === text.trim() || o.value === text);
    if (!o) return 'nooption';
    el.value = o.value;
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
    return 'select';
  }
  el.focus();
  if ('value' in el) { el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); }
  else if (el.isContentEditable) { el.textContent = ''; }
  return 'text';
})(%d, %q)`

type point struct {
	X, Y float64
	Href string
}

// Navigate opens url in the active tab, or in a new tab that becomes the
// active one, and waits for it to load.
func (b *Browser) Navigate(ctx context.Context, rawURL string, newTab bool) (State, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return State{}, fmt.Errorf("navigate: %q is not an absolute URL", rawURL)
	}
	switch u.Scheme {
	case "http", "https", "about", "data":
	default:
		return State{}, fmt.Errorf("navigate: %s URLs are not opened; use http or https", u.Scheme)
	}
	var st State
	err = b.call(ctx, func(ctx context.Context, inst *instance) error {
		if newTab {
			tctx, err := b.newTab(ctx, inst)
			if err != nil {
				return err
			}
			ctx = tctx
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
			return fmt.Errorf("navigate to %s: %w", u, err)
		}
		st, err = b.state(ctx, inst, false)
		return err
	})
	return st, err
}

// newTab opens a blank tab, makes it the active one, and returns its
// context bounded like ctx.
func (b *Browser) newTab(ctx context.Context, inst *instance) (context.Context, error) {
	t := &tab{}
	tctx, cancel := chromedp.NewContext(inst.bctx, chromedp.WithListener(b.listener(inst, t)))
	t.ctx, t.cancel = tctx, cancel
	// The first Run attaches the tab; it must get the tab's own context.
	stop := context.AfterFunc(ctx, cancel)
	err := chromedp.Do(tctx)
	if !stop() || err != nil {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("open a tab: %w", err)
	}
	id := chromedp.FromContext(tctx).Target.TargetID
	inst.tabs[id] = t
	inst.active = id
	return bounded(tctx, ctx), nil
}

// bounded returns a child of t that ends when bound does.
func bounded(t, bound context.Context) context.Context {
	ctx, cancel := context.WithCancel(t)
	context.AfterFunc(bound, cancel)
	return ctx
}

// Click clicks element index with the mouse, and waits for a page it
// opens to load. With newTab, a link opens in a new tab instead.
func (b *Browser) Click(ctx context.Context, index int, newTab bool) (State, error) {
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		p, err := chromedp.Run(ctx, chromedp.Evaluate[*point](fmt.Sprintf(pointJS, index)))
		if err != nil {
			return fmt.Errorf("click element %d: %w", index, err)
		}
		if p == nil {
			return noElement(index)
		}
		if newTab && p.Href != "" {
			tctx, err := b.newTab(ctx, inst)
			if err != nil {
				return err
			}
			if err := chromedp.Do(tctx, chromedp.Navigate(p.Href)); err != nil {
				return fmt.Errorf("open %s in a new tab: %w", p.Href, err)
			}
			st, err = b.state(tctx, inst, false)
			return err
		}
		if err := clickAndSettle(ctx, p.X, p.Y); err != nil {
			return fmt.Errorf("click element %d: %w", index, err)
		}
		// A click can open a tab (target=_blank, window.open): follow it.
		b.adoptOpened(ctx, inst)
		st, err = b.state(b.activeCtx(ctx, inst), inst, false)
		return err
	})
	return st, err
}

// settleWait is how long a click is given to start a navigation.
const settleWait = 60 * time.Millisecond

// clickAndSettle clicks at x,y, and when that starts loading a page,
// waits for it to finish loading.
func clickAndSettle(ctx context.Context, x, y float64) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		started, cancel := t.Subscribe("Page.frameStartedLoading")
		defer cancel()
		if _, err := chromedp.MouseClickXY(x, y)(ctx, t); err != nil {
			return err
		}
		select {
		case <-started:
		case <-time.After(settleWait):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		return waitReady(ctx, t)
	}))
}

// waitReady polls until the document of t has loaded.
func waitReady(ctx context.Context, t *chromedp.Target) error {
	for {
		state, err := chromedp.Evaluate[string](`document.readyState`)(ctx, t)
		if err == nil && state == "complete" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// adoptOpened makes a tab the page opened meanwhile the active one.
func (b *Browser) adoptOpened(ctx context.Context, inst *instance) {
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return
	}
	for _, ti := range infos {
		if ti.Type == "page" && inst.tabs[ti.TargetID] == nil && ti.OpenerID == inst.active {
			if _, err := b.attach(ctx, inst, ti.TargetID); err == nil {
				return
			}
		}
	}
}

// attach attaches to tab id, if not yet, and makes it the active one.
func (b *Browser) attach(ctx context.Context, inst *instance, id target.ID) (context.Context, error) {
	if t := inst.tabs[id]; t != nil {
		inst.active = id
		return bounded(t.ctx, ctx), nil
	}
	t := &tab{}
	tctx, cancel := chromedp.NewContext(inst.bctx, chromedp.WithTargetID(id), chromedp.WithListener(b.listener(inst, t)))
	t.ctx, t.cancel = tctx, cancel
	stop := context.AfterFunc(ctx, cancel)
	err := chromedp.Do(tctx)
	if !stop() || err != nil {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("attach to tab %s: %w", id, err)
	}
	inst.tabs[id] = t
	inst.active = id
	return bounded(tctx, ctx), nil
}

// activeCtx is the active tab's context bounded like ctx.
func (b *Browser) activeCtx(ctx context.Context, inst *instance) context.Context {
	return bounded(inst.tabCtx(), ctx)
}

// Type types text into element index, replacing what it held; for a
// select, it chooses the option with that text or value.
func (b *Browser) Type(ctx context.Context, index int, text string) (State, error) {
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		how, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf(focusJS, index, text)))
		if err != nil {
			return fmt.Errorf("type into element %d: %w", index, err)
		}
		switch {
		case how == nil:
			return noElement(index)
		case *how == "nooption":
			return fmt.Errorf("type into element %d: the select has no option %q", index, text)
		case *how == "text" && text != "":
			if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
				return fmt.Errorf("type into element %d: %w", index, err)
			}
		}
		st, err = b.state(ctx, inst, false)
		return err
	})
	return st, err
}

// Scroll scrolls the page by most of a screen, down or up.
func (b *Browser) Scroll(ctx context.Context, down bool) (State, error) {
	dir := "-"
	if down {
		dir = ""
	}
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.scrollBy(0, `+dir+`window.innerHeight * 0.8); window.scrollY`)); err != nil {
			return fmt.Errorf("scroll: %w", err)
		}
		var err error
		st, err = b.state(ctx, inst, false)
		return err
	})
	return st, err
}

// Back goes back one page in the active tab's history.
func (b *Browser) Back(ctx context.Context) (State, error) {
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		if err := goBack(ctx); err != nil {
			return fmt.Errorf("go back: %w", err)
		}
		var err error
		st, err = b.state(ctx, inst, false)
		return err
	})
	return st, err
}

// goBack goes to the previous history entry and waits until it shows
// and has loaded. (A page restored from the back-forward cache fires no
// load event, so this polls instead.)
func goBack(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if h.CurrentIndex <= 0 || int(h.CurrentIndex) >= len(h.Entries) {
			return errors.New("there is no earlier page in this tab")
		}
		prev := h.Entries[h.CurrentIndex-1]
		if _, err := cdp.Call(ctx, t, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev.ID}); err != nil {
			return err
		}
		for {
			h, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
			if err == nil && int(h.CurrentIndex) < len(h.Entries) && h.Entries[h.CurrentIndex].ID == prev.ID {
				return waitReady(ctx, t)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(25 * time.Millisecond):
			}
		}
	}))
}

// State returns the active tab's state, with a screenshot when asked.
func (b *Browser) State(ctx context.Context, screenshot bool) (State, error) {
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		var err error
		st, err = b.state(ctx, inst, screenshot)
		return err
	})
	return st, err
}

// state reads the state of the tab of ctx.
func (b *Browser) state(ctx context.Context, inst *instance, screenshot bool) (State, error) {
	var st State
	var err error
	if st.Elements, err = chromedp.Run(ctx, chromedp.Evaluate[[]Element](elementsJS)); err != nil {
		return st, fmt.Errorf("read the page: %w", err)
	}
	if st.URL, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
		return st, fmt.Errorf("read the page: %w", err)
	}
	if st.Title, err = chromedp.Run(ctx, chromedp.Title()); err != nil {
		return st, fmt.Errorf("read the page: %w", err)
	}
	if st.Tabs, err = tabs(ctx, inst); err != nil {
		return st, err
	}
	if screenshot {
		if st.Screenshot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
			return st, fmt.Errorf("screenshot: %w", err)
		}
	}
	st.Text = describe(st, b.takeNotes())
	return st, nil
}

// Content returns the active page as Markdown-like text (headings, lists,
// links numbered with extractLinks), from startFromChar, at most max
// characters (DefaultContentMax when max <= 0).
func (b *Browser) Content(ctx context.Context, extractLinks bool, startFromChar, max int) (string, error) {
	if max <= 0 {
		max = DefaultContentMax
	}
	if startFromChar < 0 {
		startFromChar = 0
	}
	var out string
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement ? document.documentElement.outerHTML : ''`))
		if err != nil {
			return fmt.Errorf("read the page: %w", err)
		}
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			return fmt.Errorf("read the page: %w", err)
		}
		base, _ := url.Parse(loc)
		pg, err := webtext.Extract(strings.NewReader(html), "text/html", base, webtext.Options{Links: extractLinks})
		if err != nil {
			return fmt.Errorf("read the page: %w", err)
		}
		text := []rune(pg.Text)
		if pg.Title != "" {
			text = []rune("# " + pg.Title + "\n\n" + pg.Text)
		}
		total := len(text)
		start := min(startFromChar, total)
		end := min(start+max, total)
		out = string(text[start:end])
		if start > 0 || end < total {
			out += fmt.Sprintf("\n\n(characters %d to %d of %d; ask again with start_from_char=%d for more)", start, end, total, end)
		}
		return nil
	})
	return out, err
}

// Tabs lists the browser's tabs.
func (b *Browser) Tabs(ctx context.Context) ([]Tab, error) {
	var out []Tab
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		var err error
		out, err = tabs(ctx, inst)
		return err
	})
	return out, err
}

func tabs(ctx context.Context, inst *instance) ([]Tab, error) {
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tabs: %w", err)
	}
	var out []Tab
	for _, ti := range infos {
		if ti.Type != "page" {
			continue
		}
		out = append(out, Tab{ID: string(ti.TargetID), URL: ti.URL, Title: ti.Title, Active: ti.TargetID == inst.active})
	}
	slices.SortStableFunc(out, func(a, b Tab) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// SwitchTab makes tab id the active one.
func (b *Browser) SwitchTab(ctx context.Context, id string) (State, error) {
	var st State
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		if err := knownTab(ctx, id); err != nil {
			return err
		}
		tctx, err := b.attach(ctx, inst, target.ID(id))
		if err != nil {
			return err
		}
		if _, err := chromedp.CallBrowser(tctx, target.ActivateTarget, target.ActivateTargetParams{TargetID: target.ID(id)}); err != nil {
			return fmt.Errorf("switch to tab %s: %w", id, err)
		}
		st, err = b.state(tctx, inst, false)
		return err
	})
	return st, err
}

// ErrNoTab is wrapped by the error of a tab id the browser does not have.
var ErrNoTab = errors.New("no such tab")

func knownTab(ctx context.Context, id string) error {
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return fmt.Errorf("list tabs: %w", err)
	}
	for _, ti := range infos {
		if ti.Type == "page" && string(ti.TargetID) == id {
			return nil
		}
	}
	return fmt.Errorf("tab %s is not open; list the tabs again: %w", id, ErrNoTab)
}

// CloseTab closes tab id. Closing the active tab makes another one active
// (a blank one when it was the last).
func (b *Browser) CloseTab(ctx context.Context, id string) ([]Tab, error) {
	var out []Tab
	err := b.call(ctx, func(ctx context.Context, inst *instance) error {
		if err := knownTab(ctx, id); err != nil {
			return err
		}
		tid := target.ID(id)
		if inst.active == tid {
			all, err := tabs(ctx, inst)
			if err != nil {
				return err
			}
			next := slices.IndexFunc(all, func(t Tab) bool { return t.ID != id })
			if next >= 0 {
				_, err = b.attach(ctx, inst, target.ID(all[next].ID))
			} else {
				_, err = b.newTab(ctx, inst)
			}
			if err != nil {
				return err
			}
		}
		// The first tab's context is the browser's own: closing the
		// target, not cancelling the context, keeps the browser.
		if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: tid}); err != nil {
			return fmt.Errorf("close tab %s: %w", id, err)
		}
		if t := inst.tabs[tid]; t != nil {
			if t.cancel != nil {
				t.cancel()
			}
			delete(inst.tabs, tid)
		}
		// Chromium closes the tab after it answers: wait until it is gone.
		for {
			var err error
			if out, err = tabs(ctx, inst); err != nil {
				return err
			}
			if !slices.ContainsFunc(out, func(t Tab) bool { return t.ID == id }) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return out, err
}
