package main

// Real-browser tests of rooms: people in two rooms as the lobby sees them,
// a move from one room to the other that the rooms tell and the lobby
// does not, and the lobby with several rooms in use, as the README's
// screenshot shows it. The harness is internal/browsertest, with the
// app's side in chromium_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"herenow/internal/browsertest"
	"herenow/internal/testkit"
)

// TestBrowserRooms puts alice in /r/standup with a guest watching it, bob
// in /r/design, and a guest in the lobby, each in their own Chromium. The
// lobby's Rooms panel shows both rooms with their counts and names; then
// alice moves to design. bob sees her join at once; the standup guest sees
// her leave once the grace period is over; the lobby's Rooms panel follows,
// but its count, list and log show nothing of her going or coming.
func TestBrowserRooms(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t, "bob")
	g := newBrowser(t, "lobby guest")
	a := newBrowser(t, "alice")
	s := newBrowser(t, "standup guest")
	b := newBrowser(t, "bob")

	// 1. The lobby, with no room in use.
	g.Navigate(t, app.base+"/")
	g.WaitJS(t, "the lobby guest's page runs the WebSocket transport", liveOverWebSocket)
	g.WaitJS(t, "the lobby counts 1 person online, itself among the guests", guestAlone)
	g.WaitJS(t, "the lobby's Rooms panel says no room is in use",
		`document.querySelector('#rooms-list')?.textContent.trim() === 'No rooms in use.'`)

	// 2. alice in standup, with a guest watching it; bob in design. Both
	// users land in the lobby when they log in, then go to their room.
	a.login(t, app.base)
	a.Navigate(t, app.base+"/r/standup")
	a.WaitJS(t, "alice's standup page runs the room's WebSocket", roomOverWebSocket("standup"))
	s.Navigate(t, app.base+"/r/standup")
	s.WaitJS(t, "the standup guest's page runs the room's WebSocket", roomOverWebSocket("standup"))
	s.WaitJS(t, "the standup guest's page lists alice, says she joined and counts 2 people",
		listedOnce("alice")+" && "+activityLogSays("alice joined")+" && "+countIs("2 people online"))
	b.loginAs(t, app.base, "bob")
	b.Navigate(t, app.base+"/r/design")
	b.WaitJS(t, "bob's design page runs the room's WebSocket", roomOverWebSocket("design"))
	b.WaitJS(t, "bob's design page lists bob alone and counts 1 person",
		listedOnce("bob")+" && !("+onlineUsersHasAlice+") && "+countIs("1 person online"))

	// 3. The lobby sees both rooms, busiest first, and everyone once.
	g.waitPanel(t, "the Rooms panel lists standup with alice and a guest, then design with bob", []panelRow{
		{Name: "standup", Href: "/r/standup", People: "2 people", Who: "alice and a guest"},
		{Name: "design", Href: "/r/design", People: "1 person", Who: "bob"},
	})
	g.WaitJS(t, "the lobby lists alice and bob once each and counts 4 people online",
		listedOnce("alice")+" && "+listedOnce("bob")+" && "+countIs("4 people online"))
	aliceInLobby := browsertest.Eval[[]string](t, g.Tab, logEntriesNaming("alice"))
	if len(aliceInLobby) != 1 || !strings.Contains(aliceInLobby[0], "came online") {
		t.Fatalf("before the move, the lobby's log names alice in %q, want one entry saying she came online", aliceInLobby)
	}

	// 4. alice moves to design: her standup page goes, her design page
	// connects. bob sees her join at once.
	opened, closed := app.liveConnections("user")
	moved := time.Now()
	a.Navigate(t, app.base+"/r/design")
	a.WaitJS(t, "alice's design page runs the room's WebSocket", roomOverWebSocket("design"))
	b.WaitJSWithin(t, arrivalLimit, "bob's design page lists alice, says she joined and counts 2 people",
		listedOnce("alice")+" && "+logStartsWith("alice joined")+" && "+countIs("2 people online"))
	a.WaitJS(t, "alice's design page lists bob and alice", listedOnce("bob")+" && "+listedOnce("alice"))
	testkit.WaitUntil(t, waitLimit, "the server saw alice's standup page go and her design page connect", func() bool {
		o, c := app.liveConnections("user")
		return o > opened && c > closed
	})

	// 5. The standup guest sees her leave, one grace period after she
	// went. To know that the lobby would have told her going by then,
	// without sleeping, a guest passes through the lobby after alice's
	// standup page went: its departure is logged one grace period after it
	// left, so later than alice's would have been.
	app.passingGuest(t)
	s.WaitJS(t, "the standup guest's page says alice left, no longer lists her and counts 1 person",
		logStartsWith("alice left")+" && !("+onlineUsersHasAlice+") && "+countIs("1 person online"))
	if since := time.Since(moved); since < testGrace {
		t.Errorf("the standup guest saw alice leave %v after she moved, within the grace period of %v", since, testGrace)
	}
	g.WaitJS(t, "the lobby's log says the passing guest went offline", activityLogSays("a guest went offline"))
	g.waitPanel(t, "the Rooms panel lists design with alice and bob, then standup with a guest", []panelRow{
		{Name: "design", Href: "/r/design", People: "2 people", Who: "alice and bob"},
		{Name: "standup", Href: "/r/standup", People: "1 person", Who: "a guest"},
	})

	// 6. The lobby showed nothing of alice's move.
	if got := browsertest.Eval[[]string](t, g.Tab, logEntriesNaming("alice")); !slices.Equal(got, aliceInLobby) {
		t.Errorf("after alice moved, the lobby's log names her in %q, want only what it said before: %q", got, aliceInLobby)
	}
	if got := browsertest.Eval[string](t, g.Tab, countText); got != "4 people online" {
		t.Errorf("after alice moved, the lobby counts %q, want the unchanged \"4 people online\"", got)
	}
	if !browsertest.Eval[bool](t, g.Tab, listedOnce("alice")+" && "+listedOnce("bob")) {
		t.Errorf("after alice moved, the lobby lists %v, want alice and bob once each", browsertest.Eval[any](t, g.Tab, onlineUsers))
	}

	g.Screenshot(t, "rooms-lobby-after-move")
	for _, br := range []*browser{g, a, s, b} {
		br.AssertStrictPage(t)
		br.AssertConsole(t, nil)
	}
}

// TestBrowserLobbyListsRoomsBusiestFirst fills four rooms with users and
// guests (alice in two of them), each an open live connection, and shows
// the lobby in a 1280 px wide window: its Rooms panel lists the rooms
// busiest first with their counts and first names, and its list names each
// user once. It saves the screenshot lobby-rooms.png as a test artifact
// (go test -artifacts), which docs/lobby-rooms.png is a copy of.
func TestBrowserLobbyListsRoomsBusiestFirst(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t, "bob", "carol")
	v := newBrowser(t, "lobby guest")
	// Without scrollbars (Bulma's html always has one), so that the page
	// and its screenshot are the window's full 1280 px.
	v.Run(t, "emulate a 1280×640 window without scrollbars", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.EmulateViewport(1280, 640), hideScrollbars())
	})
	v.Navigate(t, app.base+"/")
	v.WaitJS(t, "the lobby guest's page runs the WebSocket transport", liveOverWebSocket)
	v.WaitJS(t, "the lobby counts 1 person online, itself among the guests", guestAlone)

	alice, bob, carol := app.cookiesOf(t, "alice"), app.cookiesOf(t, "bob"), app.cookiesOf(t, "carol")
	var guest http.Header
	// A room names its users by name, whatever order they came in.
	for _, c := range []struct {
		room    string
		cookies http.Header
	}{
		{"standup", alice}, {"standup", carol}, {"standup", guest}, {"standup", guest},
		{"design", bob}, {"design", alice}, {"design", guest},
		{"retro", guest}, {"retro", guest},
		{"release-2.0", guest},
	} {
		app.stayIn(t, c.room, c.cookies)
	}

	v.waitPanel(t, "the Rooms panel lists the four rooms busiest first, with their counts and first names", []panelRow{
		{Name: "standup", Href: "/r/standup", People: "4 people", Who: "alice, carol and 2 guests"},
		{Name: "design", Href: "/r/design", People: "3 people", Who: "alice, bob and a guest"},
		{Name: "retro", Href: "/r/retro", People: "2 people", Who: "2 guests"},
		{Name: "release-2.0", Href: "/r/release-2.0", People: "1 person", Who: "a guest"},
	})
	v.WaitJS(t, "the lobby lists alice, carol and bob once each, and counts 10 people online, 7 of them guests",
		listedOnce("alice")+" && "+listedOnce("carol")+" && "+listedOnce("bob")+" && "+countIs("10 people online")+
			` && document.querySelector('#online-rest')?.textContent.trim() === 'and 7 guests'`)
	v.WaitJS(t, "no CSS transition or animation is running", noAnimationRunning)
	v.Screenshot(t, "lobby-rooms")

	v.AssertStrictPage(t)
	v.AssertConsole(t, nil)
}

// hideScrollbars hides the tab's scrollbars, so that they take no room
// from the page.
func hideScrollbars() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})
}

// roomOverWebSocket: the page is the room's, and its live region runs the
// room's WebSocket (it has not fallen back to SSE).
func roomOverWebSocket(room string) string {
	return fmt.Sprintf(`(() => {
		const live = document.getElementById('live');
		return location.pathname === %s && !!live && (live.getAttribute('ws-connect') ?? '').split('?')[0] === %s && !live.hasAttribute('sse-connect');
	})()`, strconv.Quote("/r/"+room), strconv.Quote("/r/"+room+"/live/ws"))
}

// listedOnce: the list names the user exactly once.
func listedOnce(name string) string {
	return fmt.Sprintf(`(%s.filter(u => u.name === %s).length === 1)`, onlineUsers, strconv.Quote(name))
}

// panelRow is one room in the lobby's Rooms panel, as the page shows it.
type panelRow struct {
	Name   string `json:"name"`
	Href   string `json:"href"`
	People string `json:"people"`
	Who    string `json:"who"`
}

const panelRows = `[...document.querySelectorAll('#rooms-list li')].map(li => ({
	name: li.querySelector('a')?.textContent.trim() ?? '',
	href: li.querySelector('a')?.getAttribute('href') ?? '',
	people: li.querySelector('.tag')?.textContent.trim() ?? '',
	who: li.querySelector('span:not(.tag)')?.textContent.replace(/\s+/g, ' ').trim() ?? '',
}))`

// waitPanel polls the lobby's Rooms panel until it lists exactly want, in
// order, for at most waitLimit.
func (b *browser) waitPanel(t *testing.T, what string, want []panelRow) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := browsertest.Eval[[]panelRow](t, b.Tab, panelRows)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited %v for: %s\nthe panel lists %+v\nwant %+v", b.Name, waitLimit, what, got, want)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// cookiesOf signs a user that newTestApp added in through POST /login and
// returns the Cookie header their browser would send.
func (a *testApp) cookiesOf(t *testing.T, name string) http.Header {
	t.Helper()
	return loginCookies(t, a.addr, name, passwordOf(name))
}

// stayIn opens a live WebSocket to room as the person cookies sign in (a
// new guest when nil), as an open tab would, and returns once its first
// frame came: the person is then in the room. It keeps reading, as a page
// does, until the test ends.
func (a *testApp) stayIn(t *testing.T, room string, cookies http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+a.addr+"/r/"+room+"/live/ws", &websocket.DialOptions{HTTPHeader: cookies})
	if err != nil {
		t.Fatalf("a WebSocket to /r/%s: %v", room, err)
	}
	if _, _, err := conn.Read(ctx); err != nil {
		conn.CloseNow()
		t.Fatalf("the first frame of /r/%s: %v", room, err)
	}
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				return // closed
			}
		}
	})
	t.Cleanup(func() {
		conn.CloseNow()
		reader.Wait()
	})
}
