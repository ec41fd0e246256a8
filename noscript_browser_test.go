package main

// The page in a browser with JavaScript off: it says that live updates
// need JavaScript, and does not pretend to be connecting.

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"herenow/internal/browsertest"
)

// noLiveUpdatesShown: the <noscript> notice is an element, and shown.
const noLiveUpdatesShown = `(() => {
	const n = document.querySelector('#live > noscript > .no-live-updates');
	return !!n && n.checkVisibility() && /Live updates need JavaScript/.test(n.textContent);
})()`

// TestBrowserWithoutJavaScript: with scripts off the lobby shows the
// <noscript> notice, counts its viewer, and never raises "Connecting…"
// (which the page shows after 1 s of no connection); with scripts on the
// notice is not there.
func TestBrowserWithoutJavaScript(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t)
	off := newBrowser(t, "a guest without JavaScript")
	off.Run(t, "turn JavaScript off", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	})
	off.Navigate(t, app.base+"/")
	off.WaitJS(t, "the page says live updates need JavaScript", noLiveUpdatesShown)
	off.WaitJS(t, "the page counts its viewer", countIs("1 person online"))
	time.Sleep(1500 * time.Millisecond) // past the 1 s after which "Connecting…" shows
	if browsertest.Eval[bool](t, off.Tab, `document.getElementById('live-state').checkVisibility({visibilityProperty: true})`) {
		t.Error(`without JavaScript the page shows "Connecting…", which never ends, beside the notice`)
	}
	if browsertest.Eval[bool](t, off.Tab, `typeof htmx !== 'undefined'`) {
		t.Fatal("htmx ran: JavaScript is not off")
	}
	off.Screenshot(t, "no-javascript")

	on := newBrowser(t, "a guest with JavaScript")
	on.Navigate(t, app.base+"/")
	on.WaitJS(t, "the page runs the WebSocket transport", liveOverWebSocket)
	on.WaitJS(t, "the page has its live connection", liveConnected)
	if browsertest.Eval[bool](t, on.Tab, `!!document.querySelector('.no-live-updates')`) {
		t.Error("with JavaScript on, the page shows the notice that live updates need it")
	}
	on.AssertConsole(t, nil)
}
