package main

// The page's connection state in a real browser: the banner that says the
// page has no live connection, shown by CSS alone when heartbeats stop.

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"herenow/internal/browsertest"
)

// testHeartbeat is the --heartbeat of TestBrowserShowsALostConnection; the
// page must show a lost connection within twice that.
const testHeartbeat = time.Second

// The connection state (#live-state), read from the page: whether the
// stylesheet shows it, and whether it is a heartbeat (a live connection's
// frame, with its time) rather than the page's own "Connecting…".
const (
	liveStateShown = `(() => {
		const e = document.getElementById('live-state');
		if (!e) return false;
		return getComputedStyle(e).visibility === 'visible'; // at once; its opacity then fades in over 0.3 s
	})()`
	liveStateHiddenHeartbeat = `(() => {
		const e = document.getElementById('live-state');
		return !!e && !!e.querySelector('time') && getComputedStyle(e).visibility === 'hidden' &&
			+getComputedStyle(e).opacity === 0;
	})()`
	// liveStateCoversFigures: the layer lies over the count, the list and
	// the log, and is translucent.
	liveStateCoversFigures = `(() => {
		const o = document.getElementById('live-state').getBoundingClientRect();
		return ['online-count', 'online-users', 'activity-log'].every(id => {
			const c = document.getElementById(id).getBoundingClientRect();
			return o.top <= c.top && o.bottom >= c.bottom && o.left <= c.left && o.right >= c.right;
		}) && /^rgba\(.*, 0\.7\)$/.test(getComputedStyle(document.getElementById('live-state')).backgroundColor);
	})()`
	liveStateText = `document.getElementById('live-state').textContent.trim()`

	// noAnimationRunning: no CSS transition or animation is running but the
	// connection state's, which runs (in its delay, hidden) for as long as
	// the page is connected.
	noAnimationRunning = `document.getAnimations().every(a => a.playState !== 'running' || a.animationName === 'herenow-live-state-reveal')`
)

// TestBrowserShowsALostConnection stops the server under a page: within
// twice the heartbeat its banner says "Reconnecting… last updated …" over
// greyed-out figures; started again, the page reconnects and the banner
// goes. While connected, the banner stays hidden for longer than that
// delay: the heartbeats keep replacing it. The same over SSE, behind a
// proxy that refuses WebSockets.
func TestBrowserShowsALostConnection(t *testing.T) {
	browsertest.RequireChromium(t)
	t.Run("websocket", func(t *testing.T) { testShowsALostConnection(t, false) })
	t.Run("over SSE", func(t *testing.T) { testShowsALostConnection(t, true) })
}

func testShowsALostConnection(t *testing.T, sse bool) {
	app := newTestAppWith(t, []string{"--heartbeat", testHeartbeat.String()})
	base, transport, allowed := app.base, liveOverWebSocket, restartConsole(false)
	if sse {
		base, _ = startNoWebSocketProxy(t, app.base)
		transport, allowed = liveOverSSE, append(slices.Clone(wsRefusedConsole), sseRestartConsole)
	}
	g := newBrowser(t, "guest")

	g.Navigate(t, base+"/")
	g.WaitJS(t, "the guest's page runs its transport", transport)
	g.WaitJS(t, "a heartbeat replaced the page's \"Connecting…\", hidden", liveStateHiddenHeartbeat)
	time.Sleep(2*testHeartbeat + testHeartbeat/2)
	if !browsertest.Eval[bool](t, g.Tab, liveStateHiddenHeartbeat) {
		t.Fatalf("connected for %v, longer than 2 × the heartbeat, the page shows its connection state: %s",
			2*testHeartbeat+testHeartbeat/2, browsertest.Eval[string](t, g.Tab, liveStateText))
	}

	// The server sends heartbeats until its connections close, during
	// its shutdown: the bound runs from its stop, when they are closed.
	stopping := time.Now()
	app.stop()
	stopped := time.Now()
	// The last heartbeat may have come just before the stop; the margin
	// is for polling the page on a loaded machine.
	g.WaitJSWithin(t, 2*testHeartbeat+500*time.Millisecond, "the banner shows within 2 × the heartbeat of the server stopping", liveStateShown)
	t.Logf("the banner showed %v after the server stopped (%v after it began to; heartbeat %v)",
		time.Since(stopped).Round(10*time.Millisecond), time.Since(stopping).Round(10*time.Millisecond), testHeartbeat)
	if text := browsertest.Eval[string](t, g.Tab, liveStateText); !regexp.MustCompile(`^Reconnecting… last updated \d\d:\d\d:\d\d UTC$`).MatchString(text) {
		t.Errorf("the banner says %q, want \"Reconnecting… last updated HH:MM:SS UTC\"", text)
	}
	g.WaitJS(t, "the banner has faded in", `+getComputedStyle(document.getElementById('live-state')).opacity === 1`)
	if !browsertest.Eval[bool](t, g.Tab, liveStateCoversFigures) {
		t.Error("the connection state does not lie, translucent, over the count, the list and the log")
	}
	g.Screenshot(t, "connection-lost")

	app.start()
	g.WaitJSWithin(t, restartLimit, "after the restart, a new connection's heartbeat hides the banner", liveStateHiddenHeartbeat)
	t.Logf("the page came back over %s", browsertest.Eval[string](t, g.Tab, liveTransport))
	g.WaitJS(t, "the page counts the guest again", countIs("1 person online"))
	time.Sleep(2*testHeartbeat + testHeartbeat/2)
	if !browsertest.Eval[bool](t, g.Tab, liveStateHiddenHeartbeat) {
		t.Errorf("reconnected for %v, the page shows its connection state again: %s",
			2*testHeartbeat+testHeartbeat/2, browsertest.Eval[string](t, g.Tab, liveStateText))
	}

	g.AssertStrictPage(t)
	g.AssertConsole(t, allowed)
}
