package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds each browser step: a wait for text, a click, a screenshot.
const stepTimeout = 20 * time.Second

// browser is a headless Chromium on one tab of the console, driven with chromedp.
type browser struct {
	ctx   context.Context
	base  string // http://127.0.0.1:port
	shots string // where screenshots go

	mu       sync.Mutex
	problems []string // uncaught exceptions, console errors and CSP violations of the pages
}

// chromium finds Debian's chromium (scripts/test.sh installs it); a missing browser fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not on PATH (scripts/test.sh installs Debian's chromium)")
	return ""
}

// newBrowser starts a headless Chromium for the console at base, with a 1280x860 window. Screenshots
// go to WHARF_SCREENSHOTS (relative to the repository's root), else to a temporary directory.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("lang", "en-US"), chromedp.Flag("proxy-server", "direct://"),
		chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	shots := os.Getenv("WHARF_SCREENSHOTS")
	switch {
	case shots == "":
		shots = t.TempDir()
	case !filepath.IsAbs(shots):
		shots = filepath.Join("..", shots) // go test runs in e2e/
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{ctx: ctx, base: base, shots: shots}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 860)); err != nil { // the first Run starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// Failed requests (a 403 of a denied call, the 401 of a signed-out session) are the
			// console's expected answers; exceptions, errors it logs and refused content are not.
			if m.IsException() || m.Type == chromedp.ConsoleError && !strings.Contains(m.Text, "Failed to load resource") ||
				strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("in the page: %s", p)
		}
	})
	return b
}

// js wraps an expression with the helpers the steps use in the page: norm (white space folded),
// visible, the accessible name of an element, find (a visible control by its name, in an open dialog
// first) and control (a form control by its label's text).
func js(expr string) string {
	return `(() => {
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const visible = el => !!(el && (el.offsetWidth || el.offsetHeight || el.getClientRects().length));
const named = el => norm(el.getAttribute('aria-label') || el.textContent || el.value || el.title);
const scope = () => document.querySelector('dialog[open]') || document;
const find = (sel, text) => {
  const all = [...scope().querySelectorAll(sel)].filter(visible);
  return all.find(el => named(el) === text) || all.find(el => norm(el.textContent) === text) ||
    all.find(el => named(el).toLowerCase().startsWith(text.toLowerCase()));
};
const control = label => {
  const l = [...scope().querySelectorAll('label')].filter(visible)
    .find(l => norm(l.textContent).toLowerCase().startsWith(label.toLowerCase()));
  const byAria = [...scope().querySelectorAll('input, select, textarea')].find(el => norm(el.getAttribute('aria-label')).toLowerCase() === label.toLowerCase());
  if (!l) return byAria || null;
  return l.htmlFor ? document.getElementById(l.htmlFor) : l.querySelector('input, select, textarea');
};
return (` + expr + `);
})()`
}

// q quotes a Go string for JavaScript.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eval evaluates an expression (with the js helpers) in the page, awaiting a promise.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js(expr), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("in the page: %v\n%s", err, expr)
	}
	return v
}

// waitFor waits until the expression is truthy in the page; what is for the failure's message.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!"+js(expr)))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			b.failureShot(t)
			t.Fatalf("waited %s for %s; the page %s shows:\n%s", stepTimeout, what, b.hash(t), b.mainText(t))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *browser) hash(t *testing.T) string {
	v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("location.hash"))
	return v
}

func (b *browser) mainText(t *testing.T) string {
	v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('dialog[open]') || document.querySelector('main') || document.body).innerText`))
	return v
}

// waitText waits until the page's main part (or its open dialog) shows every one of texts.
func (b *browser) waitText(t *testing.T, texts ...string) {
	t.Helper()
	for _, text := range texts {
		b.waitFor(t, fmt.Sprintf("%q", text), `(() => { const m = document.querySelector('dialog[open]') || document.querySelector('main');
			return m && norm(m.innerText).includes(norm(`+q(text)+`)) && !m.querySelector('[aria-busy=true]'); })()`)
	}
}

// settled waits until the page drew its heading and finished loading.
func (b *browser) settled(t *testing.T) {
	t.Helper()
	b.waitFor(t, "the page to load", `document.querySelector('main h1, dialog[open] h2') && !document.querySelector('[aria-busy=true]')`)
}

// open goes to a route of the console (its hash, "/repositories") and waits for it to load.
func (b *browser) open(t *testing.T, route string) {
	t.Helper()
	eval[chromedp.Void](t, b, `void (() => { document.querySelector('main h1')?.remove();
		if (location.hash === `+q("#"+route)+`) window.dispatchEvent(new HashChangeEvent('hashchange')); else location.hash = `+q("#"+route)+`; })()`)
	b.settled(t)
}

// navigate loads a page in the browser.
func (b *browser) navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
}

// page opens a route of the console and checks the console has a page for it.
func (b *browser) page(t *testing.T, route string) {
	t.Helper()
	b.open(t, route)
	if b.heading(t) == "Page not found" {
		t.Fatalf("the console has no page for %s", route)
	}
}

// tab opens a tab of a repository's page.
func (b *browser) tab(t *testing.T, tab, repo string) {
	t.Helper()
	b.page(t, "/repository/"+tab+"/"+repo)
}

// heading is the text of the page's h1.
func (b *browser) heading(t *testing.T) string {
	t.Helper()
	return eval[string](t, b, `norm(document.querySelector('main h1') ? document.querySelector('main h1').textContent : '')`)
}

// click clicks a visible button, link or tab by its accessible name, once it is there and enabled.
func (b *browser) click(t *testing.T, name string) {
	t.Helper()
	sel := `button, a, summary, [role=tab], [role=button], input[type=submit]`
	b.waitFor(t, fmt.Sprintf("a control named %q", name), `(() => { const el = find(`+q(sel)+`, `+q(name)+`); return el && !el.disabled; })()`)
	eval[chromedp.Void](t, b, `void find(`+q(sel)+`, `+q(name)+`).click()`)
}

// fill sets the control labelled label (a text field, text area or select) as a user would: its value,
// then its input and change events.
func (b *browser) fill(t *testing.T, label, value string) {
	t.Helper()
	b.waitFor(t, fmt.Sprintf("a field labelled %q", label), `control(`+q(label)+`)`)
	got := eval[string](t, b, `(() => { const el = control(`+q(label)+`); el.focus();
		if (el.tagName === 'SELECT' && ![...el.options].some(o => o.value === `+q(value)+`)) {
			const o = [...el.options].find(o => norm(o.textContent) === `+q(value)+`); if (o) el.value = o.value;
		} else el.value = `+q(value)+`;
		el.dispatchEvent(new Event('input', { bubbles: true })); el.dispatchEvent(new Event('change', { bubbles: true }));
		return el.tagName === 'SELECT' ? el.options[el.selectedIndex]?.value + '|' + norm(el.options[el.selectedIndex]?.textContent) : el.value; })()`)
	if got != value && !strings.Contains(got, "|"+value) && !strings.HasPrefix(got, value+"|") {
		t.Fatalf("the field %q holds %q, not %q", label, got, value)
	}
}

// typeInto types text into the control labelled label with the keyboard ("\r" is Enter).
func (b *browser) typeInto(t *testing.T, label, text string) {
	t.Helper()
	b.waitFor(t, fmt.Sprintf("a field labelled %q", label), `control(`+q(label)+`)`)
	id := eval[string](t, b, `control(`+q(label)+`).id`)
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID(id), text)); err != nil {
		t.Fatalf("typing into %q: %v", label, err)
	}
}

// check sets the checkbox labelled label.
func (b *browser) check(t *testing.T, label string, on bool) {
	t.Helper()
	b.waitFor(t, fmt.Sprintf("a checkbox labelled %q", label), `control(`+q(label)+`)`)
	eval[chromedp.Void](t, b, fmt.Sprintf(`void (() => { const el = control(%s); if (el.checked !== %t) el.click(); })()`, q(label), on))
}

// confirmIfAsked confirms the dialog a change may open (typing the word it asks for), if one opens.
func (b *browser) confirmIfAsked(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !eval[bool](t, b, `!!document.querySelector('dialog[open]')`) {
			continue
		}
		b.a11y(t)
		eval[chromedp.Void](t, b, `void (() => { const d = document.querySelector('dialog[open]'); const input = d.querySelector('input[type=text]');
			if (input) { const m = /“(.*)”/.exec(d.querySelector('label[for="' + input.id + '"]').textContent); input.value = m ? m[1] : '';
				input.dispatchEvent(new Event('input', { bubbles: true })); }
			d.querySelector('button[type=submit], button.danger, button.primary').click(); })()`)
		b.waitFor(t, "the dialog to close", `!document.querySelector('dialog[open]')`)
		return
	}
}

// alert is the text of the page's error box, once there is one.
func (b *browser) alert(t *testing.T) string {
	t.Helper()
	b.waitFor(t, "an error message", `[...document.querySelectorAll('[role=alert]')].some(visible)`)
	return eval[string](t, b, `norm([...document.querySelectorAll('[role=alert]')].filter(visible).map(e => e.innerText).join('\n'))`)
}

// a11yCheck is the accessibility check of a page: every form control has a label (label[for], an
// enclosing label, aria-label or aria-labelledby), every button an accessible name, every image an alt,
// and the page exactly one h1. Controls hidden from everyone (hidden, aria-hidden) need no label.
const a11yCheck = `(() => {
const out = [];
const what = el => el.outerHTML.slice(0, 120);
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden' || el.closest('[hidden], [aria-hidden="true"]')) continue;
  const labelled = (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) || el.closest('label') ||
    norm(el.getAttribute('aria-label')) || (el.getAttribute('aria-labelledby') || '').split(/\s+/).some(id => id && document.getElementById(id));
  if (!labelled) out.push('a form control without a label: ' + what(el));
}
for (const el of document.querySelectorAll('button, [role=button], input[type=submit], input[type=button]')) {
  if (!named(el) && !(el.getAttribute('aria-labelledby') || '').split(/\s+/).some(id => id && document.getElementById(id))) out.push('a button without a name: ' + what(el));
}
for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) out.push('an image without alt: ' + what(el));
const h1 = document.querySelectorAll('h1').length;
if (h1 !== 1) out.push(h1 + ' h1 elements, not one');
return out;
})()`

// a11y runs the accessibility check on the page as it is now; violations fail the test.
func (b *browser) a11y(t *testing.T) {
	t.Helper()
	for _, v := range eval[[]string](t, b, a11yCheck) {
		t.Errorf("accessibility of %s: %s", b.hash(t), v)
	}
}

// shot saves a PNG screenshot of the viewport as name.png, the page at its top.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	b.shotAt(t, name, "")
}

// shotAt saves a PNG screenshot of the viewport as name.png, the page scrolled to its h2 heading
// (none: the top).
func (b *browser) shotAt(t *testing.T, name, heading string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	// No caret, no focus ring of a control the test clicked, no notification.
	err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](js(`void (document.activeElement && document.activeElement.blur(),
		document.getElementById('toast')?.replaceChildren(), window.scrollTo(0, 0),
		`+q(heading)+` && [...document.querySelectorAll('main h2')].find(h => norm(h.textContent) === `+q(heading)+`)?.scrollIntoView())`)),
		chromedp.Sleep(150*time.Millisecond))
	png, err2 := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = err2
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
}

// viewport resizes the page's viewport.
func (b *browser) viewport(t *testing.T, w, h int64) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
}

// cookie is the value of the console's session cookie in the browser.
func (b *browser) cookie(t *testing.T, name string) string {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// failureShot saves the page as it is when a step failed, as failed-<test>.png, if it can.
func (b *browser) failureShot(t *testing.T) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		name := "failed-" + strings.NewReplacer("/", "-", " ", "-", "'", "").Replace(t.Name()) + ".png"
		os.WriteFile(filepath.Join(b.shots, name), png, 0o644)
		t.Logf("the page as it was: %s", filepath.Join(b.shots, name))
	}
}
