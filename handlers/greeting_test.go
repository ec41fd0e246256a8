package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/hub"
	"herenow/internal/wstest"
)

// greetingPrefix starts the navbar's greeting as a live connection sends
// it: by id, out of band.
const greetingPrefix = `<div id="greeting" class="navbar-item" hx-swap-oob="true">`

// isGreeting reports whether a frame is the navbar's greeting alone.
func isGreeting(frame string) bool {
	return strings.HasPrefix(frame, greetingPrefix) && strings.Count(frame, `id=`) == 1
}

// greetsAlice and greetsAGuest tell whose greeting a frame is.
func greetsAlice(frame string) bool {
	return isGreeting(frame) && strings.Contains(frame, "Hello <strong>alice</strong>") &&
		strings.Contains(frame, `<form method="post" action="/logout">`)
}

func greetsAGuest(frame string) bool {
	return isGreeting(frame) && strings.Contains(frame, `href="/login"`) && !strings.Contains(frame, "Hello")
}

// TestEveryLiveConnectionGreetsItsOwnVisitor: right after its snapshot,
// each live connection sends the navbar's greeting for the session it was
// opened with, on either transport, in the lobby and in a room: alice's
// says her name and offers to log out, a guest's offers to log in.
func TestEveryLiveConnectionGreetsItsOwnVisitor(t *testing.T) {
	a := newApp(t)
	a = serveApp(t, a.store, a.store, a.alice, nil, nil, func(*hub.SiteConfig) {}) // with rooms
	alice := a.login(t, "alice", "correct horse")
	for _, path := range []string{"/live/ws", "/live/events", "/r/standup/live/ws", "/r/standup/live/events"} {
		for _, who := range []struct {
			name   string
			header http.Header
			greets func(string) bool
		}{
			{"alice", a.cookieHeader(alice), greetsAlice},
			{"a guest", nil, greetsAGuest},
		} {
			t.Run(path+" "+who.name, func(t *testing.T) {
				var l live
				if strings.HasSuffix(path, "/ws") {
					l = a.dialWSAt(t, path, who.header)
				} else {
					l = a.dialSSEAt(t, path, who.header)
				}
				defer l.close()
				if snap := l.next(t); !strings.Contains(snap, `id="online-count"`) || strings.Contains(snap, "greeting") {
					t.Fatalf("the first frame is not the snapshot alone:\n%s", snap)
				}
				if g := nextNotCounted(t, l); !who.greets(g) {
					t.Errorf("the frame after the snapshot is not %s's greeting:\n%s", who.name, g)
				}
			})
		}
	}
}

// TestALogoutInOneTabRegreetsTheOthers: alice has two more tabs open, one
// over each transport, and logs out in a third. Her WebSocket closes with
// 1012, on which the page reconnects, and the reconnection, made with the
// cookie the logout cleared, greets a guest. Her event stream, which
// EventSource reopens only after its retry delay, greets a guest before it
// ends.
func TestALogoutInOneTabRegreetsTheOthers(t *testing.T) {
	a := newApp(t)
	alice := a.login(t, "alice", "correct horse")
	ws, sse := a.dialWS(t, alice), a.dialSSE(t, alice)
	ws.next(t)
	sse.next(t)
	if g := nextNotCounted(t, ws); !greetsAlice(g) {
		t.Fatalf("alice's WebSocket greets with:\n%s", g)
	}
	if g := nextNotCounted(t, sse); !greetsAlice(g) {
		t.Fatalf("alice's event stream greets with:\n%s", g)
	}

	a.logout(t, alice)
	if code, _ := wstest.CloseStatusOf(t, ws.conn, 5*time.Second); code != websocket.StatusServiceRestart {
		t.Errorf("her WebSocket closed with %v, want 1012 so that the page reconnects", code)
	}
	again := a.dialWS(t, alice)
	again.next(t)
	if g := again.next(t); !greetsAGuest(g) {
		t.Errorf("her page's WebSocket, reconnected after the logout, greets with:\n%s", g)
	}

	var last string
	deadline := time.After(5 * time.Second)
	for ended := false; !ended; {
		select {
		case e, ok := <-sse.events:
			if ok {
				last = e
			}
			ended = !ok
		case <-deadline:
			t.Fatal("her event stream did not end within 5s of the logout")
		}
	}
	if !greetsAGuest(last) {
		t.Errorf("her event stream's last event, as the logout ended it, is not a guest's greeting:\n%s", last)
	}
}

// TestTheLoginPageTellsWhoIsSignedIn: /login says to alice that she is
// signed in, and offers a button that logs her out, rather than the form;
// a guest, and alice once logged out through it, get the form.
func TestTheLoginPageTellsWhoIsSignedIn(t *testing.T) {
	a := newApp(t)
	const signedIn = `You are signed in as <strong>alice</strong>.`
	const logoutButton = `<form method="post" action="/logout" class="mb-4"><button type="submit" class="button is-primary">Log out</button></form>`
	const loginForm = `<form method="post" action="/login">`
	if page := a.get(t, a.client(t), "/login"); strings.Contains(page, signedIn) || !strings.Contains(page, loginForm) {
		t.Errorf("a guest's /login does not show the form alone:\n%s", page)
	}
	alice := a.login(t, "alice", "correct horse")
	page := a.get(t, alice, "/login")
	if !strings.Contains(page, signedIn) || !strings.Contains(page, logoutButton) || strings.Contains(page, loginForm) {
		t.Errorf("alice's /login does not say she is signed in and offer to log out, without the form:\n%s", page)
	}
	a.logout(t, alice) // what the button posts
	if page := a.get(t, alice, "/login"); strings.Contains(page, signedIn) || !strings.Contains(page, loginForm) {
		t.Errorf("after the logout, alice's /login does not show the form alone:\n%s", page)
	}
}

// TestALiveConnectionGreetsOnlyAPageThatGreetsSomeoneElse: a page's live
// endpoints say whom its navbar greets (?greets=, from the page and
// through the SSE box); a connection whose visitor is that one sends no
// greeting, which would only replace the navbar under a keyboard's focus,
// and one whose visitor is someone else does.
func TestALiveConnectionGreetsOnlyAPageThatGreetsSomeoneElse(t *testing.T) {
	a := newApp(t)
	a = serveApp(t, a.store, a.store, a.alice, withHeartbeat, nil, func(*hub.SiteConfig) {})
	alice := a.login(t, "alice", "correct horse")
	aliceKey := "u-" + strconv.FormatInt(a.alice.ID, 10)

	guest := a.client(t)
	for _, c := range []struct {
		who    string
		client *http.Client
		page   string
		greets string
	}{
		{"alice", alice, "/", aliceKey},
		{"a guest", guest, "/", "guest"},
		{"alice", alice, "/r/standup", aliceKey},
	} {
		base := strings.TrimSuffix(c.page, "/")
		page := a.get(t, c.client, c.page)
		for _, want := range []string{
			`ws-connect="` + base + `/live/ws?greets=` + c.greets + `"`,
			`hx-get="` + base + `/live/sse-box?greets=` + c.greets + `"`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s's %s lacks %s", c.who, c.page, want)
			}
		}
		box := a.get(t, c.client, base+"/live/sse-box?greets="+c.greets)
		if want := `sse-connect="` + base + `/live/events?greets=` + c.greets + `"`; !strings.Contains(box, want) {
			t.Errorf("%s's SSE box of %s lacks %s", c.who, c.page, want)
		}
	}
	if box := a.get(t, guest, `/live/sse-box?greets="><script>`); !strings.Contains(box, `sse-connect="/live/events"`) {
		t.Errorf("an SSE box asked for a greets that is no one's does not drop it:\n%s", box)
	}

	for _, path := range []string{"/live/ws", "/live/events"} {
		for _, c := range []struct {
			greets string
			send   bool
		}{{aliceKey, false}, {"guest", true}, {"", true}} {
			t.Run(path+"?greets="+c.greets, func(t *testing.T) {
				var l live
				if strings.HasSuffix(path, "/ws") {
					l = a.dialWSAt(t, path+"?greets="+c.greets, a.cookieHeader(alice))
				} else {
					l = a.dialSSEAt(t, path+"?greets="+c.greets, a.cookieHeader(alice))
				}
				defer l.close()
				l.next(t) // the snapshot
				switch f := l.next(t); {
				case c.send && !greetsAlice(f):
					t.Errorf("a page that greets %q: the frame after the snapshot is not alice's greeting:\n%s", c.greets, f)
				case !c.send && !isHeartbeat(f):
					t.Errorf("a page that greets alice: the frame after the snapshot is not the heartbeat:\n%s", f)
				}
			})
		}
	}
}

// nextNotCounted is l's next frame but YouCounted, which a connection of
// someone already online gets right after its snapshot, before or after
// the greeting.
func nextNotCounted(t *testing.T, l live) string {
	t.Helper()
	for {
		if f := l.next(t); f != youCounted {
			return f
		}
	}
}
