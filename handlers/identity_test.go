package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/wstest"
)

// pageWith fetches / with cookie as its Cookie header and returns the body.
func (a *app) pageWith(t *testing.T, cookie string) string {
	t.Helper()
	req := withHeader(mustRequest(t, a.srv.URL+"/"), "Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// sseEnds waits for the event stream to end, reading what is left.
func sseEnds(t *testing.T, s *sseLive, within time.Duration) bool {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestADeletedUserIsAGuestAtOnceAndHerIDGoesToNobody: mallory is deleted
// while her page is open over both transports. Her cookie is a guest on
// the very next request; when the server is told of the change her live
// connections end and she leaves the list; the next user gets an id of his
// own, and her old cookie does not become him.
func TestADeletedUserIsAGuestAtOnceAndHerIDGoesToNobody(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	mallory, err := a.store.Add(ctx, "mallory", "mallory's password")
	if err != nil {
		t.Fatal(err)
	}
	viewer := a.dialWS(t, a.login(t, "alice", "correct horse"))
	browser := a.login(t, "mallory", "mallory's password")
	cookie := a.cookieHeader(browser).Get("Cookie")
	ws, sse := a.dialWS(t, browser), a.dialSSE(t, browser)
	waitFor(t, viewer, "2 tabs")
	li := fmt.Sprintf(`<li id="u-%d">`, mallory.ID)
	if page := a.pageWith(t, cookie); !strings.Contains(page, "Hello <strong>mallory") || !strings.Contains(page, li+`<span class="user-face face-1" aria-hidden="true">M</span> <span class="user-name" title="mallory">`) {
		t.Fatal("mallory is not signed in and listed before her deletion")
	}

	if err := a.store.Delete(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	if page := a.pageWith(t, cookie); strings.Contains(page, "Hello") {
		t.Error("a deleted user's cookie still signs her in")
	}
	a.userChanged(ctx, mallory.ID)
	if code, _ := wstest.CloseStatusOf(t, ws.conn, 5*time.Second); code != websocket.StatusServiceRestart {
		t.Errorf("her WebSocket closed with %v, want 1012 so the page reconnects as a guest", code)
	}
	if !sseEnds(t, sse, 5*time.Second) {
		t.Error("her event stream did not end")
	}
	waitFor(t, viewer, fmt.Sprintf(`<li id="u-%d" hx-swap-oob="delete">`, mallory.ID))

	bob, err := a.store.Add(ctx, "bob", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if bob.ID == mallory.ID {
		t.Fatalf("bob got deleted mallory's id %d", bob.ID)
	}
	bobs := a.dialWS(t, a.login(t, "bob", "battery staple"))
	waitFor(t, viewer, "bob")
	// Her old cookie, on the page and live, is a guest: not mallory, not bob.
	if page := a.pageWith(t, cookie); strings.Contains(page, "Hello") {
		t.Error("mallory's old cookie signs someone in after bob was added")
	}
	again := a.dialWS(t, browser)
	f := waitFor(t, viewer, "and 1 guest")
	if strings.Contains(f, "mallory") || strings.Contains(f, "2 tabs") {
		t.Errorf("mallory's old cookie counted as a user:\n%s", f)
	}
	again.close()
	bobs.close()
}

// TestAPasswordChangeEndsEverySessionStartedBefore changes alice's password
// between two logins, five times in quick succession so that some fall
// within one second: the login before the change is a guest, the one right
// after is signed in. Her live connection opened before the change ends,
// the one opened after stays.
func TestAPasswordChangeEndsEverySessionStartedBefore(t *testing.T) {
	a := newAppWith(t, generousLimits)
	ctx := context.Background()
	password := "correct horse"
	for i := range 5 {
		before := a.login(t, "alice", password)
		password = fmt.Sprintf("new password %d", i)
		if err := a.store.SetPassword(ctx, "alice", password); err != nil {
			t.Fatal(err)
		}
		after := a.login(t, "alice", password)
		if page := a.pageWith(t, a.cookieHeader(before).Get("Cookie")); strings.Contains(page, "Hello") {
			t.Errorf("change %d: a login from just before the password change is still signed in", i+1)
		}
		if page := a.pageWith(t, a.cookieHeader(after).Get("Cookie")); !strings.Contains(page, "Hello <strong>alice") {
			t.Errorf("change %d: a login right after the password change is not signed in", i+1)
		}
	}

	before := a.login(t, "alice", password)
	old := a.dialWS(t, before)
	old.next(t) // the snapshot
	password = "the final password"
	if err := a.store.SetPassword(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	current := a.dialWS(t, a.login(t, "alice", password))
	current.next(t)
	a.userChanged(ctx, a.alice.ID)
	if code, _ := wstest.CloseStatusOf(t, old.conn, 5*time.Second); code != websocket.StatusServiceRestart {
		t.Errorf("the connection from before the change closed with %v, want 1012", code)
	}
	// The one from after is still live: it hears of a guest's arrival.
	a.dialWS(t, nil)
	waitFor(t, current, "<strong>2</strong> people online")
}
