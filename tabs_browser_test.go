package main

// One truth across a person's tabs, in a real browser: what one tab does
// to the session (logging out) the others show within a bound, over either
// transport, and the login page tells a signed-in person so.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"herenow/internal/browsertest"
)

// regreetLimit is how soon after alice logs out in one tab her other tabs
// must stop greeting her by name.
const regreetLimit = 2 * time.Second

// The navbar's greeting, read from the page.
const (
	greetsAlice  = `/Hello\s+alice/.test(document.getElementById('greeting')?.textContent ?? '')`
	greetsAGuest = `(() => {
		const g = document.getElementById('greeting');
		return !!g && !!g.querySelector('a[href="/login"]') && !/Hello|alice/.test(document.querySelector('nav').textContent);
	})()`
	// liveConnected: a live connection's first heartbeat, which follows its
	// snapshot and greeting, has replaced the page's "Connecting…".
	liveConnected = `!!document.querySelector('#live-state') && !document.querySelector('#live-state.is-connecting')`
)

// TestBrowserLogoutReachesEveryTab: alice has two tabs open on the lobby and
// logs out in the first. Within regreetLimit the second no longer greets
// her and offers to log in, over WebSocket (the logout closes its socket
// with 1012 and the extension reconnects within a second, as a guest) and
// over SSE behind a proxy that refuses WebSockets (the stream greets a
// guest as the logout ends it).
func TestBrowserLogoutReachesEveryTab(t *testing.T) {
	browsertest.RequireChromium(t)
	for _, sse := range []bool{false, true} {
		name := "websocket"
		if sse {
			name = "sse"
		}
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t)
			base, transport, allowed := app.base, liveOverWebSocket, []browsertest.ConsoleRule(nil)
			if sse {
				base, _ = startNoWebSocketProxy(t, app.base)
				transport, allowed = liveOverSSE, wsRefusedConsole
			}
			a := newBrowser(t, "alice")
			a.login(t, base)
			a.WaitJS(t, "alice's first tab greets her", greetsAlice)
			a2 := a.newTab(t, "alice's second tab")
			a2.Navigate(t, base+"/")
			a2.WaitJS(t, "alice's second tab greets her", greetsAlice)
			for _, b := range []*browser{a, a2} {
				b.WaitJS(t, b.Name+" runs the "+name+" transport", transport)
				b.WaitJS(t, b.Name+" has its live connection", liveConnected)
			}

			start := time.Now()
			a.logout(t)
			a.WaitJS(t, "alice's first tab, where she logged out, greets a guest", greetsAGuest)
			a2.WaitJSWithin(t, regreetLimit-time.Since(start), "alice's second tab no longer greets her, and offers to log in", greetsAGuest)
			t.Logf("%s: the second tab stopped greeting alice %v after she clicked Log out in the first",
				name, time.Since(start).Round(time.Millisecond))
			a2.WaitJS(t, "alice's second tab still runs the "+name+" transport", transport)

			for _, b := range []*browser{a, a2} {
				b.AssertStrictPage(t)
				b.AssertConsole(t, allowed)
			}
		})
	}
}

// TestBrowserLoginPageWhenSignedIn: alice, signed in, opens /login: it says
// she is signed in, shows no login form, and its Log out button logs her
// out (a same-origin POST, which the cross-origin protection lets through)
// and lands on the lobby as a guest.
func TestBrowserLoginPageWhenSignedIn(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t)
	a := newBrowser(t, "alice")
	a.login(t, app.base)
	a.Navigate(t, app.base+"/login")
	a.WaitJS(t, "the login page says alice is signed in, with no form to log in", `(() => {
		const main = document.querySelector('main');
		return /You are signed in as alice\./.test(main.textContent.replace(/\s+/g, ' ')) &&
			!main.querySelector('form[action="/login"], input[type=password]');
	})()`)
	a.Run(t, "click the page's Log out button", func(ctx context.Context) error {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`main form[action="/logout"] button[type=submit]`)))
		if err == nil && (resp.Status != http.StatusOK || resp.URL != app.base+"/") {
			err = fmt.Errorf("the logout landed on %s with status %d, want %s/ with 200", resp.URL, resp.Status, app.base)
		}
		return err
	})
	a.WaitJS(t, "the lobby greets a guest", greetsAGuest)
	a.Navigate(t, app.base+"/login")
	a.WaitJS(t, "the login page shows the form again", `!!document.querySelector('main form[action="/login"] input[type=password]')`)
	a.AssertStrictPage(t)
	a.AssertConsole(t, nil)
}
