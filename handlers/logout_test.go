package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/handlers"
	"herenow/internal/testkit"
	"herenow/internal/wstest"
	"herenow/users"
)

// logout posts /logout from browser and requires the redirect home.
func (a *app) logout(t *testing.T, browser *http.Client) {
	t.Helper()
	resp, err := browser.PostForm(a.srv.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout: %s, want 303", resp.Status)
	}
}

// TestALogoutIsRefusedByAServerStartedAfterIt: alice logs out, which the
// store records; a server started afterwards on the same store takes her
// old cookie for a guest, on the page and live.
func TestALogoutIsRefusedByAServerStartedAfterIt(t *testing.T) {
	a := newApp(t)
	browser := a.login(t, "alice", "correct horse")
	cookie := a.cookieHeader(browser).Get("Cookie")
	a.logout(t, browser)
	if revoked, err := a.store.RevokedNow(context.Background()); err != nil || len(revoked) != 1 {
		t.Errorf("the store holds %+v, %v as revoked; want alice's session", revoked, err)
	}

	b := a.restart(t)
	if page := b.pageWith(t, cookie); strings.Contains(page, "Hello") {
		t.Error("a server started after the logout signs alice in with her old cookie")
	}
	f := waitFor(t, b.dialWSWith(t, http.Header{"Cookie": {cookie}}), "<strong>1</strong> person online")
	if strings.Contains(f, "alice") {
		t.Errorf("a server started after the logout counts her old cookie's handshake as alice:\n%s", f)
	}
}

// TestASessionLoggedOutOnAnotherServerEndsHereWhenTold: alice has her page
// open on A and logs out on B, which shares A's store. Once A is told of
// the store's new revocations, as the program's watcher of the store does,
// her live connections on A end and her cookie is a guest there.
func TestASessionLoggedOutOnAnotherServerEndsHereWhenTold(t *testing.T) {
	a := newApp(t)
	b := a.restart(t)
	browser := a.login(t, "alice", "correct horse")
	cookie := a.cookieHeader(browser).Get("Cookie")
	ws, sse := a.dialWS(t, browser), a.dialSSE(t, browser)
	waitFor(t, ws, "alice")

	b.logout(t, b.browserWith(t, cookie))
	revoked, err := a.store.RevocationsSince(context.Background(), 0, 10)
	if err != nil || len(revoked) != 1 {
		t.Fatalf("the store holds %+v, %v; want alice's logout", revoked, err)
	}
	if a.revoked == nil {
		t.Fatal("the server took no func for sessions ended elsewhere")
	}
	a.revoked(revoked[0].JTI, revoked[0].Until)
	if code, _ := wstest.CloseStatusOf(t, ws.conn, 5*time.Second); code != websocket.StatusServiceRestart {
		t.Errorf("her WebSocket on A closed with %v, want 1012 so it reconnects as a guest", code)
	}
	if !sseEnds(t, sse, 5*time.Second) {
		t.Error("her event stream on A did not end")
	}
	if page := a.pageWith(t, cookie); strings.Contains(page, "Hello") {
		t.Error("her old cookie still signs her in on A")
	}
}

// browserWith returns a client of a's whose jar holds cookie, a Cookie
// header's value.
func (a *app) browserWith(t *testing.T, cookie string) *http.Client {
	t.Helper()
	c := a.client(t)
	req := withHeader(mustRequest(t, a.srv.URL+"/"), "Cookie", cookie)
	c.Jar.SetCookies(req.URL, req.Cookies())
	return c
}

// unrecordedLogouts is a store that cannot record a logout.
type unrecordedLogouts struct{ *users.Store }

func (unrecordedLogouts) Revoke(context.Context, string, time.Time) (int64, error) {
	return 0, errors.New("the database is read-only")
}

// TestALogoutTheStoreCannotRecordStillEndsItHere: when the store fails to
// record a logout, the session still ends on this server, at once, and the
// failure is logged.
func TestALogoutTheStoreCannotRecordStillEndsItHere(t *testing.T) {
	a := startApp(t, nil, &testkit.LogBuffer{}, func(s *users.Store) handlers.UserStore { return unrecordedLogouts{s} })
	browser := a.login(t, "alice", "correct horse")
	cookie := a.cookieHeader(browser).Get("Cookie")
	ws := a.dialWS(t, browser)
	waitFor(t, ws, "alice")
	a.logout(t, browser)
	if code, _ := wstest.CloseStatusOf(t, ws.conn, 5*time.Second); code != websocket.StatusServiceRestart {
		t.Errorf("her WebSocket closed with %v, want 1012", code)
	}
	if page := a.pageWith(t, cookie); strings.Contains(page, "Hello") {
		t.Error("her old cookie still signs her in")
	}
	if !strings.Contains(a.logs.String(), "record a logout") {
		t.Errorf("the failure to record the logout is not logged:\n%s", a.logs.String())
	}
}
