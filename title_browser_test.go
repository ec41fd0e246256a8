package main

// Real-browser tests of the tab: its title counts the people online and
// follows them live over either transport, and its icon is served. The
// harness is internal/browsertest, with the app's side in chromium_test.go.

import (
	"net/http"
	"strconv"
	"testing"

	"herenow/internal/browsertest"
)

// TestBrowserTabTitleCountsPeople follows a guest's tab title as alice
// arrives, over WebSocket and, behind a proxy that refuses WebSockets,
// over SSE: "(1) Who is online · herenow", then "(2) …" within the
// arrival limit. Over WebSocket a room's title counts the room's people.
// The icon the page links to is an SVG the server serves.
func TestBrowserTabTitleCountsPeople(t *testing.T) {
	browsertest.RequireChromium(t)
	for _, sse := range []bool{false, true} {
		name := "WebSocket"
		if sse {
			name = "SSE"
		}
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t)
			base, transport, console := app.base, liveOverWebSocket, []browsertest.ConsoleRule(nil)
			if sse {
				base, _ = startNoWebSocketProxy(t, app.base)
				transport, console = liveOverSSE, wsRefusedConsole
			}
			g := newBrowser(t, "guest")
			a := newBrowser(t, "alice")

			g.Navigate(t, base+"/")
			g.WaitJS(t, "the guest's page runs over "+name, transport)
			g.WaitJS(t, "the guest's tab title counts 1 person", titleIs("(1) Who is online · herenow"))

			a.login(t, base)
			g.WaitJSWithin(t, arrivalLimit, "the guest's tab title counts 2 people once alice arrived",
				titleIs("(2) Who is online · herenow"))
			a.WaitJS(t, "alice's page runs over "+name, transport)
			a.WaitJS(t, "alice's tab title counts 2 people", titleIs("(2) Who is online · herenow"))
			g.WaitJS(t, "the guest's page still runs over "+name, transport)

			checkFavicon(t, g)

			browsers := []*browser{g, a}
			if !sse {
				// A room's title names the room and counts its people, not
				// the site's.
				r := g.newTab(t, "guest's standup tab")
				r.Navigate(t, base+"/r/standup")
				r.WaitJS(t, "the guest's standup page runs the room's WebSocket", roomOverWebSocket("standup"))
				r.WaitJS(t, "the standup tab's title counts 1 person", titleIs("(1) standup · herenow"))
				a.Navigate(t, base+"/r/standup")
				r.WaitJSWithin(t, arrivalLimit, "the standup tab's title counts 2 people once alice joined",
					titleIs("(2) standup · herenow"))
				browsers = append(browsers, r)
			}
			for _, b := range browsers {
				b.AssertStrictPage(t)
				b.AssertConsole(t, console)
			}
		})
	}
}

// titleIs: the tab's title reads text, and the page's one <title> is
// still the element with id page-title that frames swap into.
func titleIs(text string) string {
	return `(document.title === ` + strconv.Quote(text) + ` && document.querySelectorAll('title').length === 1 &&
		document.querySelector('head > title')?.id === 'page-title')`
}

// checkFavicon fetches, from Go, the icon the page links to: an SVG.
func checkFavicon(t *testing.T, b *browser) {
	t.Helper()
	href := browsertest.Eval[string](t, b.Tab, `document.querySelector('link[rel="icon"]')?.href ?? ''`)
	if href == "" {
		t.Fatalf("%s: the page links to no icon", b.Name)
	}
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("%s: the icon %s is %s, %q; want 200, image/svg+xml", b.Name, href, resp.Status, resp.Header.Get("Content-Type"))
	}
}
