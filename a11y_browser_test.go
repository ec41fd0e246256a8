package main

// Real-browser checks of what a visitor meets: an automated accessibility
// audit with axe-core, and the page on a 390 px phone in light and in dark
// mode. They run on the harness of the other browser tests
// (internal/browsertest, and startApp, newBrowser and login in
// chromium_test.go) and, like those tests, skip without Chromium except
// under CI.
//
// axe-core is a devDependency of static/package.json: `npm ci --prefix
// static` installs it next to the libraries the binary embeds, but the app
// never serves it. The tests read it from disk and evaluate it in the page
// over the DevTools protocol, which the page's Content-Security-Policy does
// not govern; AssertConsole then proves that no CSP violation was logged.

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"herenow/internal/browsertest"
)

// axePath is axe-core's browser bundle, installed by npm ci --prefix static.
const axePath = "static/node_modules/axe-core/axe.min.js"

// TestBrowserAccessibilityAudit runs axe-core in the real page on the index
// page as a guest and as alice, and on the login page before and after a
// failed attempt. Serious and critical violations fail the test; moderate
// and minor ones are logged.
func TestBrowserAccessibilityAudit(t *testing.T) {
	browsertest.RequireChromium(t)
	axe := readAxe(t)
	base := startApp(t)
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")

	// The guest's page counts the guest from the start; its activity log
	// learns of the guest's arrival from a frame.
	g.Navigate(t, base+"/")
	g.WaitJS(t, "the guest's page runs the WebSocket transport", liveOverWebSocket)
	g.WaitJS(t, "the guest's page counts 1 person online",
		`document.querySelector('#online-count')?.textContent.replace(/\s+/g, ' ').trim() === '1 person online'`)
	// Audit a page at rest: nothing more will change until alice arrives.
	g.WaitJS(t, "the guest's activity log says a guest came online", activityLogSays("a guest came online"))
	g.audit(t, axe, "the index page as a guest")

	a.Navigate(t, base+"/login")
	a.audit(t, axe, "the login page")

	a.failLogin(t, base)
	a.audit(t, axe, "the login page after a failed login")

	a.login(t, base)
	a.WaitJS(t, "alice's page runs the WebSocket transport", liveOverWebSocket)
	// alice's page counts and lists her from the start; her arrival in
	// the log comes from a frame.
	a.WaitJS(t, "alice's list names alice, so it has items", onlineUsersHasAlice)
	a.WaitJS(t, "alice's page counts 2 people online",
		`document.querySelector('#online-count')?.textContent.replace(/\s+/g, ' ').trim() === '2 people online'`)
	a.WaitJS(t, "alice's activity log says alice came online", activityLogSays("alice came online"))
	a.audit(t, axe, "the index page as alice")

	g.AssertConsole(t, nil)
	a.AssertConsole(t, []browsertest.ConsoleRule{failedLoginStatus})
}

// failedLoginStatus allows the one console message a failed login brings:
// Chromium logs the 401 with which the login page answers a wrong password.
var failedLoginStatus = browsertest.ConsoleRule{
	Why:    "Chromium logs the 401 of the failed login",
	Type:   chromedp.ConsoleError,
	Source: "network",
	Text:   regexp.MustCompile(`^Failed to load resource: the server responded with a status of 401 \(Unauthorized\)$`),
	URL:    regexp.MustCompile(`^http://127\.0\.0\.1:\d+/login$`),
}

// TestBrowserMobileAndDarkMode shows alice's lobby, with a guest in room
// standup and some activity, on a 390×844 phone, in light and in dark mode,
// then the standup room's page: nothing may scroll or stick out sideways,
// the live region, "Log out", and the lobby's Rooms panel and room form
// must be on screen, and the colours must follow the system setting and
// stay readable. It saves full-page screenshots as test artifacts (go test
// -artifacts), mobile-light.png, mobile-dark.png and mobile-room.png, to be
// checked by eye.
func TestBrowserMobileAndDarkMode(t *testing.T) {
	browsertest.RequireChromium(t)
	axe := readAxe(t)
	base := startApp(t)
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")

	g.Navigate(t, base+"/r/standup")
	g.WaitJS(t, "the guest's standup page runs the room's WebSocket", roomOverWebSocket("standup"))
	g.WaitJS(t, "the guest's standup page counts 1 person online", countIs("1 person online"))

	// The emulation belongs to the tab and outlives navigations.
	a.Run(t, "emulate a 390×844 phone", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight,
			chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	})
	a.Run(t, "emulate prefers-color-scheme: light", func(ctx context.Context) error {
		return chromedp.Do(ctx, emulateColorScheme("light"))
	})
	a.login(t, base)
	a.WaitJS(t, "alice's page runs the WebSocket transport", liveOverWebSocket)
	// The page counts and lists alice from the start; her arrival in the
	// log comes from a frame, after which the page is at rest.
	a.WaitJS(t, "alice's list names alice", onlineUsersHasAlice)
	a.WaitJS(t, "alice's page counts 2 people online",
		`document.querySelector('#online-count')?.textContent.replace(/\s+/g, ' ').trim() === '2 people online'`)
	a.WaitJS(t, "alice's activity log says alice came online", activityLogSays("alice came online"))
	a.waitPanel(t, "alice's Rooms panel lists standup with a guest", []panelRow{
		{Name: "standup", Href: "/r/standup", People: "1 person", Who: "a guest"},
	})

	for _, scheme := range []string{"light", "dark"} {
		t.Run(scheme, func(t *testing.T) {
			// The phone switches mode under the open page, as when the
			// system goes dark at sunset. (Reloading instead would race
			// the new connection's first frame against the checks.)
			a.Run(t, "emulate prefers-color-scheme: "+scheme, func(ctx context.Context) error {
				return chromedp.Do(ctx, emulateColorScheme(scheme))
			})
			a.WaitJS(t, "the page sees prefers-color-scheme: "+scheme,
				fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches`, scheme))
			// Bulma fades colours (transition-duration 294ms); measure
			// them once they have settled.
			a.WaitJS(t, "no CSS transition or animation is running",
				noAnimationRunning)

			a.Screenshot(t, "mobile-"+scheme)

			var l mobileLayout
			a.Run(t, "measure the page", func(ctx context.Context) (err error) {
				l, err = chromedp.Run(ctx, chromedp.Evaluate[mobileLayout](measureMobileLayout))
				return err
			})
			l.check(t, scheme, true)

			// Every piece of text, not only the body's, must stay readable
			// in both schemes: axe's colour-contrast rule checks them all.
			a.auditRules(t, axe, "alice's page at 390 px in "+scheme+" mode", []string{"color-contrast"})
		})
	}

	t.Run("room", func(t *testing.T) {
		a.Run(t, "emulate prefers-color-scheme: light", func(ctx context.Context) error {
			return chromedp.Do(ctx, emulateColorScheme("light"))
		})
		a.Navigate(t, base+"/r/standup")
		a.WaitJS(t, "alice's standup page runs the room's WebSocket", roomOverWebSocket("standup"))
		a.WaitJS(t, "alice's standup page lists her and counts 2 people", listedOnce("alice")+" && "+countIs("2 people online"))
		a.WaitJS(t, "alice's standup log says alice joined", activityLogSays("alice joined"))
		a.WaitJS(t, "no CSS transition or animation is running",
			noAnimationRunning)
		a.Screenshot(t, "mobile-room")
		var l mobileLayout
		a.Run(t, "measure the page", func(ctx context.Context) (err error) {
			l, err = chromedp.Run(ctx, chromedp.Evaluate[mobileLayout](measureMobileLayout))
			return err
		})
		l.check(t, "light", false)
		a.auditRules(t, axe, "alice's standup page at 390 px", []string{"color-contrast"})
	})

	g.AssertConsole(t, nil)
	a.AssertConsole(t, nil)
}

// emulateColorScheme makes the tab's pages see the given
// prefers-color-scheme, as a phone set to light or dark mode would.
func emulateColorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// readAxe returns axe-core's source, or fails the test with how to install it.
func readAxe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("the accessibility audit needs axe-core at %s (%v); install it with `npm ci --prefix static`", axePath, err)
	}
	return string(src)
}

// axeViolation is one rule axe-core found broken, with the elements that
// break it.
type axeViolation struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"`
	Help   string    `json:"help"`
	URL    string    `json:"helpUrl"`
	Nodes  []axeNode `json:"nodes"`
}

type axeNode struct {
	Target  string `json:"target"`
	HTML    string `json:"html"`
	Summary string `json:"summary"`
}

// audit runs every axe-core rule on the page as it is now.
func (b *browser) audit(t *testing.T, axe, what string) {
	t.Helper()
	b.auditRules(t, axe, what, nil)
}

// auditRules runs axe-core on the page as it is now, limited to the given
// rules unless rules is nil. It fails the test, without stopping it, for
// each serious or critical violation and logs the others.
func (b *browser) auditRules(t *testing.T, axe, what string, rules []string) {
	t.Helper()
	b.Run(t, "load axe-core into "+what, func(ctx context.Context) error {
		typ, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`typeof window.axe === 'object' ? 'object' : (() => { `+axe+"\n; return typeof window.axe; })()"))
		if err == nil && typ != "object" {
			err = fmt.Errorf("after evaluating %s, typeof axe is %q", axePath, typ)
		}
		return err
	})
	options := `{resultTypes: ['violations']}`
	if rules != nil {
		options = fmt.Sprintf(`{resultTypes: ['violations'], runOnly: {type: 'rule', values: %s}}`, jsStrings(rules))
	}
	var violations []axeViolation
	b.Run(t, "audit "+what+" with axe-core", func(ctx context.Context) (err error) {
		violations, err = chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, `+options+`).then(r =>
			r.violations.map(v => ({
				id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
				nodes: v.nodes.map(n => ({
					target: n.target.map(s => [].concat(s).join(' >>> ')).join(', '),
					html: n.html,
					summary: n.failureSummary || '',
				})),
			})))`, chromedp.EvalAwaitPromise))
		return err
	})

	var bad, other strings.Builder
	for _, v := range violations {
		s := &other
		if v.Impact == "serious" || v.Impact == "critical" {
			s = &bad
		}
		fmt.Fprintf(s, "\n  %s (%s): %s\n    %s", v.ID, v.Impact, v.Help, v.URL)
		for _, n := range v.Nodes {
			fmt.Fprintf(s, "\n    - %s\n      %s", n.Target, n.HTML)
			if n.Summary != "" {
				fmt.Fprintf(s, "\n      %s", strings.ReplaceAll(n.Summary, "\n", "\n      "))
			}
		}
	}
	if other.Len() > 0 {
		t.Logf("%s: axe-core reports moderate or minor problems on %s:%s", b.Name, what, other.String())
	}
	if bad.Len() > 0 {
		t.Errorf("%s: axe-core finds serious or critical violations on %s:%s", b.Name, what, bad.String())
	}
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// failLogin submits the login form with alice's name and a wrong password and
// waits for the page to say so.
func (b *browser) failLogin(t *testing.T, base string) {
	t.Helper()
	b.Run(t, "log in as alice with a wrong password", func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("input#username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("input#password"), "not "+alicePassword),
		); err != nil {
			return err
		}
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
		if err != nil {
			return err
		}
		if resp.Status != http.StatusUnauthorized || resp.URL != base+"/login" {
			return fmt.Errorf("the failed login landed on %s with status %d, want %s/login with 401", resp.URL, resp.Status, base)
		}
		return nil
	})
	b.WaitJS(t, "the login page shows an error", `(() => {
		const alert = document.querySelector('main [role=alert]');
		return !!alert && alert.checkVisibility() && alert.textContent.trim() !== '';
	})()`)
}

// phoneWidth and phoneHeight are the emulated phone's screen, in CSS pixels.
const (
	phoneWidth  = 390
	phoneHeight = 844
)

// measureMobileLayout collects what the phone checks need, in CSS pixels.
// Elements are measured against the phone's width, not innerWidth: a page
// too wide for a phone makes the mobile browser zoom out, and innerWidth
// grows with it.
var measureMobileLayout = fmt.Sprintf(`(() => {
	const W = %d;
	const box = el => {
		if (!el) return null;
		const r = el.getBoundingClientRect();
		const x = Math.min(Math.max(r.left + r.width / 2, 0), W - 1);
		const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
		const hit = document.elementFromPoint(x, y);
		return {
			left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height,
			visible: el.checkVisibility({opacityProperty: true, visibilityProperty: true}),
			onTop: !!hit && (hit === el || el.contains(hit)),
		};
	};
	const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
		[...el.classList].map(c => '.' + c).join('');
	const sticking = [];
	for (const el of document.body.querySelectorAll('*')) {
		if (!el.checkVisibility()) continue;
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) continue;
		if (r.left < -0.5 || r.right > W + 0.5) {
			sticking.push(describe(el) + ' spans x ' + Math.round(r.left) + '..' + Math.round(r.right));
		}
	}
	const background = () => {
		for (const el of [document.body, document.documentElement]) {
			const c = getComputedStyle(el).backgroundColor;
			if (!/^rgba\(.*,\s*0\)$/.test(c) && c !== 'transparent') return c;
		}
		return 'rgb(255, 255, 255)'; // the canvas
	};
	return {
		innerWidth: innerWidth,
		innerHeight: innerHeight,
		scrollWidth: document.documentElement.scrollWidth,
		sticking: sticking,
		live: box(document.getElementById('live')),
		logout: box(document.querySelector('form[action="/logout"] button[type=submit]')),
		navbar: box(document.querySelector('nav.navbar')),
		brand: box(document.querySelector('nav.navbar .navbar-brand')),
		hello: box(document.querySelector('#greeting form > span')),
		rooms: box(document.getElementById('rooms-panel')),
		roomName: box(document.getElementById('room-name')),
		roomGo: box(document.querySelector('form[action="/r"] button[type=submit]')),
		allRooms: box(document.querySelector('main a[href="/"]')),
		background: background(),
		color: getComputedStyle(document.body).color,
	};
})()`, phoneWidth)

type mobileLayout struct {
	InnerWidth  float64  `json:"innerWidth"`
	InnerHeight float64  `json:"innerHeight"`
	ScrollWidth float64  `json:"scrollWidth"`
	Sticking    []string `json:"sticking"`
	Live        *elemBox `json:"live"`
	Logout      *elemBox `json:"logout"`
	Navbar      *elemBox `json:"navbar"`
	Brand       *elemBox `json:"brand"`    // "herenow", the navbar's first item
	Hello       *elemBox `json:"hello"`    // "Hello alice ·", before "Log out"
	Rooms       *elemBox `json:"rooms"`    // the lobby's Rooms panel
	RoomName    *elemBox `json:"roomName"` // the lobby's room form: its field
	RoomGo      *elemBox `json:"roomGo"`   // and its button
	AllRooms    *elemBox `json:"allRooms"` // a room's link back to the lobby
	Background  string   `json:"background"`
	Color       string   `json:"color"`
}

type elemBox struct {
	Left, Right, Top, Bottom, Width, Height float64
	Visible                                 bool
	OnTop                                   bool `json:"onTop"`
}

// check judges the layout of the lobby (with its Rooms panel and room
// form), or else of a room's page (with its link back to the lobby).
func (l mobileLayout) check(t *testing.T, scheme string, lobby bool) {
	t.Helper()
	if l.InnerWidth != phoneWidth || l.InnerHeight != phoneHeight {
		t.Errorf("the viewport is %v×%v CSS px, want %d×%d: the phone emulation did not take, or the page was too wide and "+
			"the browser zoomed out to fit it", l.InnerWidth, l.InnerHeight, phoneWidth, phoneHeight)
	}
	if l.ScrollWidth > phoneWidth {
		t.Errorf("the page scrolls sideways: its scrollWidth is %v px on a %d px wide phone", l.ScrollWidth, phoneWidth)
	}
	if len(l.Sticking) > 0 {
		t.Errorf("elements stick out of the %d px wide phone screen, so they are cut off or scroll sideways:\n  %s",
			phoneWidth, strings.Join(l.Sticking, "\n  "))
	}
	type shown struct {
		what string
		box  *elemBox
		top  bool // must be on the first screen, without scrolling
	}
	boxes := []shown{
		{"the live region #live", l.Live, false},
		{`the "Log out" button`, l.Logout, true},
	}
	if lobby {
		boxes = append(boxes,
			shown{"the Rooms panel", l.Rooms, false},
			shown{`the "Go to a room" field`, l.RoomName, false},
			shown{`the "Go to a room" button`, l.RoomGo, false})
	} else {
		boxes = append(boxes, shown{`the "All rooms" link`, l.AllRooms, true})
	}
	if f := l.RoomName; lobby && f != nil && f.Width < phoneWidth/2 {
		t.Errorf(`the "Go to a room" field is %v px wide, want at least half the %d px screen to type a name in`, f.Width, phoneWidth)
	}
	for _, e := range boxes {
		switch b := e.box; {
		case b == nil:
			t.Errorf("%s is missing", e.what)
		case !b.Visible || b.Width == 0 || b.Height == 0:
			t.Errorf("%s is not visible (%+v)", e.what, *b)
		case b.Left < 0 || b.Right > phoneWidth:
			t.Errorf("%s spans x %v..%v, outside the %d px wide screen", e.what, b.Left, b.Right, phoneWidth)
		case e.top && (b.Top < 0 || b.Bottom > phoneHeight):
			t.Errorf("%s spans y %v..%v, off the first %d px high screen", e.what, b.Top, b.Bottom, phoneHeight)
		case e.top && !b.OnTop:
			t.Errorf("%s is covered by another element", e.what)
		}
	}

	l.checkNavbar(t)

	bg, err := parseRGB(l.Background)
	if err != nil {
		t.Fatalf("the page's background colour: %v", err)
	}
	fg, err := parseRGB(l.Color)
	if err != nil {
		t.Fatalf("the body's text colour: %v", err)
	}
	lum := relativeLuminance(bg)
	switch scheme {
	case "dark":
		if lum >= 0.2 {
			t.Errorf("in dark mode the page's background is %s (luminance %.2f), want a dark one (below 0.2): "+
				"the page does not follow the system's dark setting", l.Background, lum)
		}
	case "light":
		if lum <= 0.5 {
			t.Errorf("in light mode the page's background is %s (luminance %.2f), want a light one (above 0.5)", l.Background, lum)
		}
	}
	if ratio := contrastRatio(fg, bg); ratio < 4.5 {
		t.Errorf("in %s mode the body text %s on the background %s has a contrast of %.2f:1, want at least 4.5:1",
			scheme, l.Color, l.Background, ratio)
	} else {
		t.Logf("%s mode: body text %s on %s, contrast %.1f:1", scheme, l.Color, l.Background, ratio)
	}
}

// navbarLine is the most a navbar of one line may be high: Bulma's
// --bulma-navbar-height, 3.25rem.
const navbarLine = 52

// checkNavbar requires the navbar on one line: "herenow", "Hello alice ·"
// and "Log out" side by side, not stacked, and the navbar no higher than
// one line.
func (l mobileLayout) checkNavbar(t *testing.T) {
	t.Helper()
	if l.Navbar == nil || l.Brand == nil || l.Hello == nil || l.Logout == nil {
		t.Errorf("the navbar, its brand, its greeting or its Log out button is missing: %+v %+v %+v %+v", l.Navbar, l.Brand, l.Hello, l.Logout)
		return
	}
	t.Logf("navbar: %v px high; brand y %v..%v, greeting y %v..%v x %v..%v, Log out y %v..%v x %v..%v",
		l.Navbar.Height, l.Brand.Top, l.Brand.Bottom, l.Hello.Top, l.Hello.Bottom, l.Hello.Left, l.Hello.Right,
		l.Logout.Top, l.Logout.Bottom, l.Logout.Left, l.Logout.Right)
	if l.Navbar.Height > navbarLine+0.5 {
		t.Errorf("the navbar is %v px high on a %d px wide phone, want one line (%d px): it wraps", l.Navbar.Height, phoneWidth, navbarLine)
	}
	middle := func(b *elemBox) float64 { return (b.Top + b.Bottom) / 2 }
	for _, e := range []struct {
		what string
		b    *elemBox
	}{{`"Hello alice"`, l.Hello}, {`"Log out"`, l.Logout}} {
		if d := math.Abs(middle(e.b) - middle(l.Brand)); d > 4 {
			t.Errorf(`%s is %v px off the line of "herenow" in the navbar, want beside it`, e.what, d)
		}
	}
	if l.Hello.Right > l.Logout.Left+0.5 || l.Brand.Right > l.Hello.Left+0.5 {
		t.Error(`the navbar's "herenow", "Hello alice" and "Log out" overlap, or are not in that order`)
	}
}

var rgbPattern = regexp.MustCompile(`^rgba?\(\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\s*\)$`)

// parseRGB reads a computed colour, "rgb(r, g, b)" or "rgba(r, g, b, a)";
// it requires an opaque one.
func parseRGB(s string) ([3]float64, error) {
	m := rgbPattern.FindStringSubmatch(s)
	if m == nil {
		return [3]float64{}, fmt.Errorf("cannot read the colour %q", s)
	}
	if m[4] != "" {
		if a, _ := strconv.ParseFloat(m[4], 64); a < 1 {
			return [3]float64{}, fmt.Errorf("the colour %q is not opaque", s)
		}
	}
	var c [3]float64
	for i := range c {
		c[i], _ = strconv.ParseFloat(m[i+1], 64)
	}
	return c, nil
}

// relativeLuminance is WCAG 2's relative luminance of an sRGB colour.
func relativeLuminance(c [3]float64) float64 {
	var l [3]float64
	for i, v := range c {
		v /= 255
		if v <= 0.04045 {
			l[i] = v / 12.92
		} else {
			l[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

// contrastRatio is WCAG 2's contrast ratio of two colours.
func contrastRatio(a, b [3]float64) float64 {
	la, lb := relativeLuminance(a), relativeLuminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestBrowserKeyboardOnly signs in and out without a mouse: Tab moves the
// focus through the page's controls in a sensible order, Enter activates
// them.
func TestBrowserKeyboardOnly(t *testing.T) {
	browsertest.RequireChromium(t)
	base := startApp(t)
	b := newBrowser(t, "keyboard user")
	b.Navigate(t, base+"/")
	b.WaitJS(t, "the page runs the WebSocket transport", liveOverWebSocket)

	focused := `(document.activeElement?.textContent ?? '').replace(/\s+/g, ' ').trim()`
	// tabTo presses Tab until the focused control reads label, at most a
	// few times: a control that cannot be reached in a few steps is lost.
	tabTo := func(label string) {
		t.Helper()
		for range 6 {
			b.Run(t, "press Tab", func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)) })
			if browsertest.Eval[string](t, b.Tab, focused) == label {
				return
			}
		}
		t.Fatalf("%q not reached within 6 presses of Tab", label)
	}
	enter := func() {
		t.Helper()
		b.Run(t, "press Enter", func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter)) })
	}

	tabTo("Log in")
	enter()
	b.WaitJS(t, "the login form is shown with the name field focusable", `location.pathname === '/login' && !!document.querySelector('input#username')`)
	b.Run(t, "fill the form from the keyboard", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Focus(chromedp.CSS("input#username")),
			chromedp.KeyEvent("alice"),
			chromedp.KeyEvent(kb.Tab),
			chromedp.KeyEvent(alicePassword),
			chromedp.KeyEvent(kb.Enter),
		)
	})
	b.WaitJS(t, "alice is signed in", `/Hello\s+alice/.test(document.querySelector('nav')?.textContent ?? '')`)
	tabTo("Log out")
	enter()
	b.WaitJS(t, "alice is signed out", `!!document.querySelector('a[href="/login"]') && !/Hello/.test(document.querySelector('nav').textContent)`)
}
