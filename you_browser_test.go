package main

// "You" in a real browser: the viewer's own row marked "(you)", "Only you
// are here" when alone, a guest marked among the guests, and the "N tabs"
// badge shown to its owner alone. Frames are the same bytes for every
// viewer; the marking comes from the per-viewer stylesheet (/me.css) and
// from #live-you, which each connection is sent alone once it is counted.
// The page has no script of its own: the test reads what the stylesheets
// make of the page through computed styles.

import (
	"fmt"
	"strconv"
	"testing"

	"herenow/internal/browsertest"
)

// youMarks maps each listed user's name to the content the stylesheets put
// after it: "\" (you)\"" on the viewer's own row, "none" on the others.
const youMarks = `Object.fromEntries([...document.querySelectorAll('#online-users > li > .user-name')]
	.map(e => [e.textContent, getComputedStyle(e, '::after').content]))`

// onlyYouShown: the page shows "Only you are here.".
const onlyYouShown = `(() => {
	const e = document.querySelector('#online-rest .only-you');
	return !!e && getComputedStyle(e).display !== 'none' && e.textContent.trim() === 'Only you are here.';
})()`

// guestsMark is what the stylesheets put after the guests' count ("1
// guest"), or "missing" when no guest is counted.
const guestsMark = `(() => {
	const e = document.querySelector('#online-rest .online-guests');
	return e ? getComputedStyle(e, '::after').content : 'missing';
})()`

// badgeOf is the badge the page shows on name's row: its text, "hidden"
// when the row has one that the stylesheets hide, "none" without one.
func badgeOf(name string) string {
	return fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll('#online-users > li')].find(li => li.querySelector('.user-name')?.textContent === %s);
		const b = li?.querySelector('.tabs-badge');
		return !b ? 'none' : getComputedStyle(b).display === 'none' ? 'hidden' : b.innerText.trim();
	})()`, strconv.Quote(name))
}

// marksAre: the list marks exactly the user named you "(you)", of the
// names given, all of which it lists.
func marksAre(you string, names ...string) string {
	expr := `(() => { const m = ` + youMarks + `; return true`
	for _, n := range names {
		want := "none"
		if n == you {
			want = `" (you)"`
		}
		expr += fmt.Sprintf(` && m[%s] === %s`, strconv.Quote(n), strconv.Quote(want))
	}
	return expr + `; })()`
}

// TestBrowserMarksYou: a guest alone in the lobby reads "Only you are here"
// and "1 guest (you)"; alice arrives, and each page marks its own viewer
// alone: alice's row "(you)" on her page and not on the guest's, bob's on
// his. alice opens a second tab: her badge "2 tabs" shows on her pages and
// on no one else's. bob alone in a room reads "Only you are here" there.
func TestBrowserMarksYou(t *testing.T) {
	browsertest.RequireChromium(t)
	app := newTestApp(t, "bob")
	g := newBrowser(t, "guest")
	a := newBrowser(t, "alice")
	b := newBrowser(t, "bob")

	g.Navigate(t, app.base+"/")
	g.WaitJS(t, "the guest's page runs the WebSocket transport", liveOverWebSocket)
	g.WaitJS(t, "the guest, alone, reads \"Only you are here\" and is marked among the guests",
		guestAlone+" && "+onlyYouShown+" && "+guestsMark+` === '" (you)"'`)
	// Before its connection is counted, a page shows neither: the one
	// person a snapshot counts may be someone else. (#live-you as the page
	// renders it and as every snapshot resets it, put back here by hand.)
	if got := browsertest.Eval[[]any](t, g.Tab, `(() => {
		const you = document.getElementById('live-you');
		you.classList.remove('is-counted');
		const got = [`+onlyYouShown+`, `+guestsMark+`];
		you.classList.add('is-counted');
		return got;
	})()`); got[0] != false || got[1] != "none" {
		t.Errorf("with #live-you not counted, the guest's page shows \"Only you are here\": %v, and after the guests %v; want neither", got[0], got[1])
	}
	if heading := browsertest.Eval[string](t, g.Tab, `document.querySelector('h1')?.innerText.trim() + ' / ' + document.querySelector('h1 + .subtitle')?.innerText.trim()`); heading != "Who is online / Everyone on the site right now, whichever room they are in, and who came and went; the rooms in use are below." {
		t.Errorf("the lobby's heading and line read %q", heading)
	}

	a.login(t, app.base)
	a.WaitJS(t, "alice's page runs the WebSocket transport", liveOverWebSocket)
	a.WaitJS(t, "alice's page marks her row \"(you)\", counts 2 people and does not say she is alone",
		marksAre("alice", "alice")+" && "+countIs("2 people online")+" && !"+onlyYouShown+" && "+guestsMark+" === 'none'")
	g.WaitJS(t, "the guest's page lists alice unmarked, and no longer says the guest is alone",
		marksAre("", "alice")+" && "+countIs("2 people online")+" && !"+onlyYouShown+" && "+guestsMark+` === '" (you)"'`)

	b.loginAs(t, app.base, "bob")
	b.WaitJS(t, "bob's page marks his row and not alice's", marksAre("bob", "alice", "bob"))
	a.WaitJS(t, "alice's page marks her row and not bob's", marksAre("alice", "alice", "bob"))
	g.WaitJS(t, "the guest's page marks neither", marksAre("", "alice", "bob")+" && "+guestsMark+` === '" (you)"'`)

	// alice's second tab: her badge, for her eyes only.
	a2 := a.newTab(t, "alice's second tab")
	a2.Navigate(t, app.base+"/")
	a.WaitJS(t, "alice's first tab shows her badge of 2 tabs", badgeOf("alice")+` === '2 tabs'`)
	a2.WaitJS(t, "alice's second tab shows her badge of 2 tabs and marks her row", badgeOf("alice")+` === '2 tabs' && `+marksAre("alice", "alice", "bob"))
	for _, other := range []*browser{b, g} {
		other.WaitJS(t, "alice's row has the badge, hidden: one person, not two tabs", aliceListedOnce("2 tabs")+" && "+badgeOf("alice")+` === 'hidden'`)
	}

	// bob alone in a room.
	b.Navigate(t, app.base+"/r/standup")
	b.WaitJS(t, "bob's standup page runs the room's WebSocket", roomOverWebSocket("standup"))
	b.WaitJS(t, "bob, alone in standup, reads \"Only you are here\" and his row marked",
		countIs("1 person online")+" && "+onlyYouShown+" && "+marksAre("bob", "bob"))
	if heading := browsertest.Eval[string](t, b.Tab, `document.querySelector('h1')?.innerText.trim()`); heading != "Who is in standup" {
		t.Errorf("the room's heading reads %q, want \"Who is in standup\"", heading)
	}

	for _, br := range []*browser{g, a, a2, b} {
		br.AssertStrictPage(t)
		br.AssertConsole(t, nil)
	}
}
