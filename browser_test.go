package main

// Real-browser tests of the product's promise, that htmx and its ws and sse
// extensions do all the work in the page without a line of custom
// JavaScript: two people in two isolated headless Chromiums, the same over
// server-sent events when WebSockets are refused, and a server restart.
// The harness is internal/browsertest, with the app's side in
// chromium_test.go.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"herenow/internal/browsertest"
	"herenow/internal/testkit"
)

// arrivalLimit is how soon after alice's login the guest must see her.
const arrivalLimit = 2 * time.Second

// TestBrowserTwoPeopleOverWebSocket follows a guest and alice, each in their
// own Chromium, over WebSocket: the guest sees itself, then alice arrive,
// open a second tab, reload without leaving, and log out. Every response and
// page is checked for a strict CSP, and the consoles must stay silent.
func TestBrowserTwoPeopleOverWebSocket(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t)
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")

	// 1. The guest alone.
	g.Navigate(t, app.base+"/")
	g.WaitJS(t, "the guest's page runs the WebSocket transport", liveOverWebSocket)
	g.WaitJS(t, "the guest's page counts 1 person online, itself among the guests, and lists no one", guestAlone)

	// 2. alice logs in through the form.
	a.login(t, app.base)
	g.WaitJSWithin(t, arrivalLimit, "the guest's list names alice, its log starts with \"alice came online\" and it counts 2 people",
		aliceArrived)
	a.WaitJS(t, "alice's page greets her", `/Hello\s+alice/.test(document.querySelector('nav').textContent)`)
	a.WaitJS(t, "alice's page runs the WebSocket transport", liveOverWebSocket)

	// 3. alice opens a second tab.
	a2 := a.newTab(t, "alice's second tab")
	a2.Navigate(t, app.base+"/")
	a2.WaitJS(t, "alice's second tab greets her", `/Hello\s+alice/.test(document.querySelector('nav').textContent)`)
	g.WaitJS(t, "the guest's list names alice once, with a badge of 2 tabs", aliceListedOnce("2 tabs"))
	if got := browsertest.Eval[string](t, g.Tab, countText); got != "2 people online" {
		t.Errorf("with alice's second tab open the guest's page counts %q, want the unchanged \"2 people online\"", got)
	}
	g.Screenshot(t, "guest-after-second-tab")
	a2.AssertStrictPage(t)
	a2.AssertConsole(t, nil)

	// 4. alice closes the second tab and reloads the first: she never
	// leaves, so the log gains no "went offline"/"came online" pair.
	a2.Close()
	g.WaitJS(t, "the guest's list names alice once, without a badge, after she closed a tab", aliceListedOnce(""))
	opened, closed := app.liveConnections("user")
	a.Reload(t)
	a.WaitJS(t, "alice's reloaded page runs the WebSocket transport", liveOverWebSocket)
	testkit.WaitUntil(t, waitLimit, "the server saw alice's old page go and her reloaded page connect", func() bool {
		o, c := app.liveConnections("user")
		return o > opened && c > closed
	})
	// The grace period hides a reload. To know it is over without sleeping,
	// let a guest come and go after alice's old page went: the guest's
	// departure is logged one grace period after it left, so later than
	// alice's would have been.
	app.passingGuest(t)
	g.WaitJS(t, "the guest's log says the passing guest went offline", activityLogSays("a guest went offline"))
	if got := browsertest.Eval[[]string](t, g.Tab, logEntriesNaming("alice")); len(got) != 1 || !strings.Contains(got[0], "alice came online") {
		t.Errorf("after alice reloaded, the guest's log names her in %q, want only her first \"alice came online\"", got)
	}
	g.WaitJS(t, "the guest's list still names alice once", aliceListedOnce(""))

	// 5. alice logs out.
	a.logout(t)
	a.WaitJS(t, "alice's page offers to log in again",
		`!!document.querySelector('nav a[href="/login"]') && !/Hello/.test(document.querySelector('nav').textContent)`)
	g.WaitJS(t, "the guest's list no longer names alice", "!("+onlineUsersHasAlice+")")
	g.WaitJS(t, "the guest's log says alice went offline", activityLogSays("alice went offline"))
	g.WaitJS(t, "the guest's page counts 2 people online, alice's browser now a guest", countIs("2 people online"))

	// #live swaps itself to SSE for good on the first WebSocket error, so a
	// page still on WebSocket got every update above over WebSocket.
	g.WaitJS(t, "the guest's page still runs the WebSocket transport", liveOverWebSocket)
	a.WaitJS(t, "alice's page still runs the WebSocket transport", liveOverWebSocket)

	// 8 and 9. A strict CSP throughout, and with the WebSocket working a
	// silent console: no CSP violation, no error, no exception, nothing.
	for _, b := range []*browser{g, a} {
		b.AssertStrictPage(t)
		b.AssertConsole(t, nil)
	}
}

// TestBrowserFallsBackToSSE puts a proxy that refuses WebSocket handshakes
// in front of the app: every page must switch itself to server-sent events,
// and the guest must still see itself, alice arrive, and her second tab.
func TestBrowserFallsBackToSSE(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t)
	proxyURL, refused := startNoWebSocketProxy(t, app.base)
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")

	g.Navigate(t, proxyURL+"/")
	g.WaitJS(t, "the guest's page swapped #live to SSE", liveOverSSE)
	if refused.Load() == 0 {
		t.Fatal("the page runs over SSE, but the proxy never refused a WebSocket handshake")
	}
	g.WaitJS(t, "the guest's page counts 1 person online, itself among the guests, and lists no one", guestAlone)

	a.login(t, proxyURL)
	// The guest's page can learn of alice only through its event stream.
	g.WaitJSWithin(t, arrivalLimit, "over SSE, the guest's list names alice, its log starts with \"alice came online\" and it counts 2 people",
		aliceArrived)
	a.WaitJS(t, "alice's page greets her", `/Hello\s+alice/.test(document.querySelector('nav').textContent)`)
	a.WaitJS(t, "alice's page swapped #live to SSE", liveOverSSE)

	a2 := a.newTab(t, "alice's second tab")
	a2.Navigate(t, proxyURL+"/")
	a2.WaitJS(t, "alice's second tab swapped #live to SSE", liveOverSSE)
	g.WaitJS(t, "over SSE, the guest's list names alice once, with a badge of 2 tabs", aliceListedOnce("2 tabs"))
	if got := browsertest.Eval[string](t, g.Tab, countText); got != "2 people online" {
		t.Errorf("with alice's second tab open the guest's page counts %q, want the unchanged \"2 people online\"", got)
	}
	g.WaitJS(t, "the guest's page still runs over SSE", liveOverSSE)
	g.Screenshot(t, "guest-over-sse")

	for _, b := range []*browser{g, a, a2} {
		b.AssertStrictPage(t)
		b.AssertConsole(t, wsRefusedConsole)
	}
}

// restartLimit bounds how long the pages may take to come back after a
// restart: the WebSocket extension (htmx-ext-ws 2.0.4) retries after a
// random delay whose bound doubles with every refused attempt (up to
// 1 s × 2^attempt).
const restartLimit = 30 * time.Second

// TestBrowserReconnectsAfterRestart restarts the server on the same port
// under open pages. The shutdown closes their WebSockets with 1012 (service
// restart) and ends their event streams; each page must reconnect by
// itself and show the right state again. After a quick restart the pages'
// first retry finds the server back; after an outage their retries are
// refused first. Pages that fell back to SSE behind a proxy come back over
// SSE.
func TestBrowserReconnectsAfterRestart(t *testing.T) {
	browsertest.RequireChromium(t)
	for _, tc := range []struct {
		name        string
		outage, sse bool
	}{
		{name: "quick"},
		{name: "after an outage", outage: true},
		{name: "over SSE", sse: true},
	} {
		t.Run(tc.name, func(t *testing.T) { testReconnectsAfterRestart(t, tc.outage, tc.sse) })
	}
}

func testReconnectsAfterRestart(t *testing.T, outage, sse bool) {
	app := newTestApp(t)
	base, transport := app.base, liveOverWebSocket
	allowed, newTabAllowed := restartConsole(outage), []browsertest.ConsoleRule(nil)
	if sse {
		base, _ = startNoWebSocketProxy(t, app.base)
		transport = liveOverSSE
		allowed = append(slices.Clone(wsRefusedConsole), sseRestartConsole)
		newTabAllowed = wsRefusedConsole
	}
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")

	g.Navigate(t, base+"/")
	g.WaitJS(t, "the guest's page runs its transport", transport)
	a.login(t, base)
	g.WaitJS(t, "the guest's list names alice, its log starts with \"alice came online\" and it counts 2 people", aliceArrived)
	a.WaitJS(t, "alice's page runs its transport", transport)

	if outage {
		app.stop()
		for _, b := range []*browser{g, a} {
			b.WaitConsole(t, restartLimit, "a refused reconnect", wsReconnectRefused.Matches)
		}
		app.start()
	} else {
		app.restart()
	}
	if !sse {
		if got := app.liveConnectionsClosedWith(1012); got != 2 {
			t.Errorf("the stopping server closed %d WebSockets with 1012 (service restart), want the 2 pages'", got)
		}
	}

	// The new server knows only the pages that came back. alice opens a
	// second tab on it: the guest sees her badge of 2 only once its own
	// page and alice's first tab have reconnected, and counts 2 people
	// only if it counts itself again.
	a2 := a.newTab(t, "alice's second tab")
	a2.Navigate(t, base+"/")
	// The badge is alice's alone to see: the guest's page has it, hidden.
	g.WaitJSWithin(t, restartLimit, "after the restart, the guest's list names alice once with a badge of 2 tabs, hidden, and it counts 2 people",
		aliceListedOnce("2 tabs")+" && "+badgeOf("alice")+` === 'hidden' && `+countIs("2 people online"))
	a.WaitJSWithin(t, restartLimit, "after the restart, alice's first tab shows her badge of 2 tabs",
		aliceListedOnce("2 tabs")+" && "+badgeOf("alice")+` === '2 tabs'`)
	for _, b := range []*browser{g, a} {
		t.Logf("%s's page came back over %s", b.Name, browsertest.Eval[string](t, b.Tab, liveTransport))
	}

	// And the pages follow what happens next.
	a2.AssertConsole(t, newTabAllowed)
	a2.Close()
	g.WaitJS(t, "the guest's list names alice without a badge once she closed her second tab", aliceListedOnce(""))
	a.WaitJS(t, "alice's first tab shows her without a badge once she closed her second tab", aliceListedOnce(""))

	for _, b := range []*browser{g, a} {
		b.AssertStrictPage(t)
		b.AssertConsole(t, allowed)
	}
}

// restartConsole names, one by one, the console messages a restart may
// bring, and nothing else. While the server is down, a page's WebSocket
// reconnect is refused; htmx logs the htmx:wsError, which makes #live fetch
// /live/sse-box to fall back to SSE; that fetch is refused too, and htmx
// logs the failed request as htmx:afterRequest and htmx:sendError (with
// the element, printed "[object HTMLDivElement]"). The fallback's "once" is
// then spent and the WebSocket extension keeps retrying, without end.
// A page whose first retry finds the server back logs none of them, so
// only the refused reconnect of an outage the test waited for is a must.
func restartConsole(outage bool) []browsertest.ConsoleRule {
	refused := wsReconnectRefused
	refused.Must = outage
	return []browsertest.ConsoleRule{
		refused,
		{
			Why:  "htmx logs the htmx:wsError event with console.error",
			Type: chromedp.ConsoleError,
			Text: regexp.MustCompile(`^\[object Event\]$`),
			URL:  regexp.MustCompile(`/htmx\.min\.js$`),
		},
		{
			Why:    "Chromium reports the refused fetch of /live/sse-box",
			Type:   chromedp.ConsoleError,
			Source: "network",
			Text:   regexp.MustCompile(`^Failed to load resource: net::ERR_CONNECTION_REFUSED$`),
			URL:    regexp.MustCompile(`^http://127\.0\.0\.1:\d+/live/sse-box(\?greets=[\w-]+)?$`),
		},
		{
			Why:  "htmx logs the refused fetch's htmx:afterRequest",
			Type: chromedp.ConsoleError,
			Text: regexp.MustCompile(`^htmx:afterRequest, \[object HTMLDivElement\]$`),
			URL:  regexp.MustCompile(`/htmx\.min\.js$`),
		},
		{
			Why:  "htmx logs the refused fetch's htmx:sendError",
			Type: chromedp.ConsoleError,
			Text: regexp.MustCompile(`^htmx:sendError, \[object HTMLDivElement\]$`),
			URL:  regexp.MustCompile(`/htmx\.min\.js$`),
		},
	}
}

// sseRestartConsole is the one more console message that a restart may
// bring to a page on SSE behind the proxy: if the browser retries the event
// stream while the server is down, the proxy answers 502. (htmx then logs
// the htmx:sseError event as "[object Event]", which wsRefusedConsole's
// rule for the same text allows.)
var sseRestartConsole = browsertest.ConsoleRule{
	Why:    "Chromium reports the 502 that the proxy answered for the event stream while the server was down",
	Type:   chromedp.ConsoleError,
	Source: "network",
	Text:   regexp.MustCompile(`^Failed to load resource: the server responded with a status of 502 \(Bad Gateway\)$`),
	URL:    regexp.MustCompile(`^http://127\.0\.0\.1:\d+/live/events(\?greets=[\w-]+)?$`),
}

// wsReconnectRefused is Chromium's report of a WebSocket reconnect that
// found nobody listening.
var wsReconnectRefused = browsertest.ConsoleRule{
	Why:    "Chromium reports a WebSocket reconnect refused while the server was down",
	Type:   chromedp.ConsoleError,
	Source: "network",
	Text:   regexp.MustCompile(`^WebSocket connection to 'ws://127\.0\.0\.1:\d+/live/ws(\?greets=[\w-]+)?' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED$`),
	URL:    regexp.MustCompile(`/ws\.min\.js$`),
}

// wsRefusedConsole names, one by one, the console messages that a refused
// WebSocket handshake brings (in Chromium, with htmx-ext-ws 2.0.4), and
// nothing else: Chromium reports the refusal, and htmx's triggerErrorEvent
// logs the htmx:wsError event's error, an Event, with console.error, which
// prints "[object Event]" once per failed handshake (the first, and
// possibly one that a reconnect timer already pending when #live was
// swapped starts).
var wsRefusedConsole = []browsertest.ConsoleRule{
	{
		Why:    "Chromium reports the WebSocket handshake the proxy refused",
		Type:   chromedp.ConsoleError,
		Source: "network",
		Text:   regexp.MustCompile(`^WebSocket connection to 'ws://127\.0\.0\.1:\d+/live/ws(\?greets=[\w-]+)?' failed: Error during WebSocket handshake: Unexpected response code: 403$`),
		URL:    regexp.MustCompile(`/ws\.min\.js$`),
		Must:   true,
	},
	{
		// A handshake retry that the WebSocket extension had already
		// scheduled (its timer does not check that the element is still
		// in the page) can be in flight when #live is swapped; removing
		// the element closes that socket while it connects, and Chromium
		// warns. Whether this happens depends on
		// the extension's random reconnect delay.
		Why:    "Chromium warns of the retried handshake that the swap cut short",
		Type:   chromedp.ConsoleWarning,
		Source: "network",
		Text:   regexp.MustCompile(`^WebSocket connection to 'ws://127\.0\.0\.1:\d+/live/ws(\?greets=[\w-]+)?' failed: WebSocket is closed before the connection is established\.$`),
		URL:    regexp.MustCompile(`/ws\.min\.js$`),
	},
	{
		Why:  "htmx logs the htmx:wsError event with console.error",
		Type: chromedp.ConsoleError,
		Text: regexp.MustCompile(`^\[object Event\]$`),
		URL:  regexp.MustCompile(`/htmx\.min\.js$`),
		Must: true,
	},
}

// JavaScript expressions on the live region.
const (
	liveOverWebSocket = `(() => {
		const live = document.getElementById('live');
		return !!live && (live.getAttribute('ws-connect') ?? '').split('?')[0] === '/live/ws' && !live.hasAttribute('sse-connect');
	})()`
	liveOverSSE = `(() => {
		const live = document.getElementById('live');
		return !!live && (live.getAttribute('sse-connect') ?? '').split('?')[0] === '/live/events' && live.getAttribute('hx-ext') === 'sse' &&
			!live.hasAttribute('ws-connect');
	})()`
	// onlineUsers lists the signed-in users the page shows, each with the
	// text of their badge ('' without one).
	onlineUsers = `[...document.querySelectorAll('#online-users > li')].map(li => ({
		name: li.querySelector('.user-name')?.textContent.trim() ?? '',
		badge: li.querySelector('.tag')?.textContent.trim() ?? '',
	}))`
	onlineUsersHasAlice = onlineUsers + `.some(u => u.name === 'alice')`
	liveTransport       = `(() => {
		const live = document.getElementById('live');
		return live?.hasAttribute('ws-connect') ? 'WebSocket' : live?.hasAttribute('sse-connect') ? 'SSE' : 'nothing';
	})()`
	countText = `(document.querySelector('#online-count')?.textContent.replace(/\s+/g, ' ').trim() ?? '')`
	// guestAlone: the page counts one person, itself, as a guest. (The
	// guests have a span of their own in #online-rest, beside "Only you
	// are here.")
	guestAlone = `(` + countText + ` === '1 person online' &&
		document.querySelector('#online-rest .online-guests')?.textContent.trim() === '1 guest' &&
		document.querySelectorAll('#online-users > li').length === 0)`
)

// aliceArrived: the guest sees alice listed, her arrival at the top of the
// log, and two people online.
var aliceArrived = onlineUsersHasAlice + ` && ` + logStartsWith("alice came online") + ` && ` + countIs("2 people online")

func countIs(text string) string {
	return countText + ` === ` + strconv.Quote(text)
}

// aliceListedOnce: alice is in the list exactly once, with that badge.
func aliceListedOnce(badge string) string {
	return fmt.Sprintf(`(() => {
		const rows = %s.filter(u => u.name === 'alice');
		return rows.length === 1 && rows[0].badge === %s;
	})()`, onlineUsers, strconv.Quote(badge))
}

const logEntries = `[...document.querySelectorAll('#activity-log > li')].map(li => li.textContent.replace(/\s+/g, ' ').trim())`

func activityLogSays(text string) string {
	return fmt.Sprintf(`%s.some(e => e.includes(%s))`, logEntries, strconv.Quote(text))
}

func logStartsWith(text string) string {
	return fmt.Sprintf(`(%s[0] ?? '').startsWith(%s)`, logEntries, strconv.Quote(text))
}

func logEntriesNaming(name string) string {
	return fmt.Sprintf(`%s.filter(e => e.includes(%s))`, logEntries, strconv.Quote(name))
}

// startNoWebSocketProxy serves a reverse proxy to base that answers every
// WebSocket handshake with 403, as some corporate proxies do, and streams
// everything else unbuffered. It returns the proxy's URL and a count of the
// handshakes it refused.
func startNoWebSocketProxy(t *testing.T, base string) (string, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	refused := &atomic.Int64{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // as a typical proxy passes the Host on
		},
		FlushInterval: -1, // flush at once: the SSE stream must not be buffered
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "the server is down", http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live/ws" {
			refused.Add(1)
			http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, refused
}
