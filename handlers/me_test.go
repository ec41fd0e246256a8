package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"herenow/hub"
)

// TestMeCSSSaysWhoTheViewerIs: /me.css marks a signed-in viewer's own row
// by their key and shows their tabs badge, and nothing of anyone else; a
// guest, or a browser whose session cookie does not hold, gets the guests'
// rules. It is never cached, and varies with the cookie.
func TestMeCSSSaysWhoTheViewerIs(t *testing.T) {
	a := newApp(t)
	row := fmt.Sprintf("#online-users > #u-%d > ", a.alice.ID)
	const guestRule = `#live:has(> #live-you.is-counted) #online-rest .online-guests::after`
	evil := a.login(t, evilName, "evil password")
	for _, c := range []struct {
		name    string
		cookie  string
		want    []string
		notWant []string
	}{
		{"alice", a.cookieHeader(a.login(t, "alice", "correct horse")).Get("Cookie"),
			[]string{row + `.user-name::after {
  content: " (you)";
}`, row + `.tabs-badge {
  display: inline-flex;
}`}, []string{"alice", "guests", "#u-2"}},
		{"a user with a hostile name", a.cookieHeader(evil).Get("Cookie"),
			[]string{"#online-users > #u-2 > .user-name::after"}, []string{"script", "<", "alice", "guests"}},
		{"a guest", "", []string{guestRule, `.online-guests[data-guests="1"]::after {
  content: " (you)";
}`}, []string{"#u-", "user-name"}},
		{"a forged session", "jwt=not.a.token", []string{guestRule}, []string{"#u-", "user-name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/me.css", nil)
			if c.cookie != "" {
				req.Header.Set("Cookie", c.cookie)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			css := string(body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /me.css: %s", resp.Status)
			}
			for h, want := range map[string]string{
				"Content-Type":                 "text/css; charset=utf-8",
				"Cache-Control":                "private, no-store",
				"Vary":                         "Cookie",
				"Cross-Origin-Resource-Policy": "same-origin",
				"X-Content-Type-Options":       "nosniff",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("GET /me.css set a cookie: %q", resp.Header.Get("Set-Cookie"))
			}
			for _, w := range c.want {
				if !strings.Contains(css, w) {
					t.Errorf("/me.css lacks %q:\n%s", w, css)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(css, w) {
					t.Errorf("/me.css has %q:\n%s", w, css)
				}
			}
		})
	}
}

// TestEveryPageLinksMeCSS: the lobby and a room's page link the
// per-viewer stylesheet after herenow's own.
func TestEveryPageLinksMeCSS(t *testing.T) {
	a := newRoomsApp(t, func(*hub.SiteConfig) {})
	for _, path := range []string{"/", "/r/standup"} {
		page := a.get(t, a.client(t), path)
		own, me := strings.Index(page, `/herenow.css">`), strings.Index(page, `<link rel="stylesheet" href="/me.css">`)
		if own < 0 || me < own {
			t.Errorf("%s does not link /me.css after herenow.css:\n%s", path, page)
		}
	}
}
