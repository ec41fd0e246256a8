package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/handlers"
	"herenow/hub"
)

// newSite is the program's site of rooms around a lobby of cfg, for tests.
func newSite(t testing.TB, cfg hub.Config, metrics *handlers.Metrics, change func(*hub.SiteConfig)) *hub.Site {
	t.Helper()
	sc := hub.SiteConfig{
		Room:        cfg,
		RoomRender:  func(name string) hub.Renderer { return handlers.Renderer{Metrics: metrics, Room: name} },
		Lobby:       cfg,
		MaxRooms:    100,
		PanelLimit:  20,
		RenderPanel: handlers.RenderPanel,
	}
	change(&sc)
	site, err := hub.NewSite(sc)
	if err != nil {
		t.Fatal(err)
	}
	return site
}

// newRoomsApp is newApp with rooms, the site configured by change.
func newRoomsApp(t *testing.T, change func(*hub.SiteConfig)) *app {
	t.Helper()
	a := newApp(t) // for its store and alice
	return serveApp(t, a.store, a.store, a.alice, nil, nil, change)
}

// status GETs path, not following redirects, and returns the status and
// where a redirect goes.
func (a *app) status(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, _ := a.send(t, http.MethodGet, path, nil, "")
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestRoomsOverBothTransports: a guest in the lobby and one in
// /r/standup see alice join standup (the lobby: she came online; the room:
// she joined); a client of /r/design gets nothing of it.
func TestRoomsOverBothTransports(t *testing.T) {
	for name, dial := range map[string]func(a *app, t *testing.T, path string) live{
		"websocket": func(a *app, t *testing.T, path string) live { return a.dialWSAt(t, path+"/live/ws", nil) },
		"sse":       func(a *app, t *testing.T, path string) live { return a.dialSSEAt(t, path+"/live/events", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			a := newRoomsApp(t, func(*hub.SiteConfig) {})
			lobby := dial(a, t, "")
			waitFor(t, lobby, "online-count")
			standup := dial(a, t, "/r/standup")
			waitFor(t, standup, "online-count")
			design := dial(a, t, "/r/design")
			waitFor(t, design, "joined")          // its own arrival
			waitFor(t, design, "is-counted")      // and, after it, its YouCounted
			waitFor(t, lobby, `href="/r/design"`) // the panel lists both rooms

			alice := a.login(t, "alice", "correct horse")
			a.dialWSAt(t, "/r/standup/live/ws", a.cookieHeader(alice))
			waitFor(t, standup, "joined")
			if f := waitFor(t, lobby, "came online"); !strings.Contains(f, "alice") {
				t.Errorf("the lobby's frame for alice's arrival: %s", f)
			}
			// Frames arrive in order: had design been sent anything of
			// alice, it would come before this guest's arrival.
			dial(a, t, "/r/design")
			if f := design.next(t); strings.Contains(f, "alice") || !strings.Contains(f, "joined") {
				t.Errorf("a client of /r/design got %q next, want only its room's new guest", f)
			}
		})
	}
}

// TestRoomNamesAndLimits: a capitalised name redirects to its small
// letters, a name that is not a room's is a 404 that says what one may be,
// a new room past --max-rooms is a 503 while rooms in use keep working, and
// a site with a fixed list of rooms has no others.
func TestRoomNamesAndLimits(t *testing.T) {
	a := newRoomsApp(t, func(c *hub.SiteConfig) { c.MaxRooms = 1 })
	if code, loc := a.status(t, "/r/Standup"); code != http.StatusPermanentRedirect || loc != "/r/standup" {
		t.Errorf("/r/Standup: %d to %q, want 308 to /r/standup", code, loc)
	}
	if code, loc := a.status(t, "/r?room=Design"); code != http.StatusSeeOther || loc != "/r/design" {
		t.Errorf("/r?room=Design: %d to %q, want 303 to /r/design", code, loc)
	}
	for _, bad := range []string{"/r/stand%20up", "/r/%3Cb%3E", "/r/" + strings.Repeat("a", 65), "/r?room=a/b"} {
		if code, _ := a.status(t, bad); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", bad, code)
		}
	}
	if body := a.get(t, a.client(t), "/r/stand%20up"); !strings.Contains(body, "1 to 64 characters") {
		t.Errorf("the 404 page does not say what a room's name may be: %s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in := a.dialWSAt(t, "/r/standup/live/ws", nil)
	waitFor(t, in, "online-count")
	if code, _ := a.status(t, "/r/design"); code != http.StatusServiceUnavailable {
		t.Errorf("a second room past --max-rooms 1: %d, want 503", code)
	}
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/r/design/live/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second room's WebSocket past --max-rooms 1: %v, %v; want 503", resp, err)
	}
	if code, _ := a.status(t, "/r/standup"); code != http.StatusOK {
		t.Errorf("the room in use: %d, want 200", code)
	}

	fixed := newRoomsApp(t, func(c *hub.SiteConfig) { c.Rooms = []string{"standup"} })
	if code, _ := fixed.status(t, "/r/design"); code != http.StatusNotFound {
		t.Errorf("a room outside --rooms: %d, want 404", code)
	}
	if code, _ := fixed.status(t, "/r/standup"); code != http.StatusOK {
		t.Errorf("a room in --rooms: %d, want 200", code)
	}
	if code, _ := fixed.status(t, "/r/design/live/sse-box"); code != http.StatusNotFound {
		t.Errorf("the SSE box of a room outside --rooms: %d, want 404", code)
	}
}
