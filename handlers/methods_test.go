package handlers_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"herenow/handlers"
	"herenow/hub"
	"herenow/internal/testkit"
	"herenow/static"
)

// TestHEADAnswersEveryGETRouteAsGETWould: each GET route answers HEAD with
// GET's status and content type, and no body; a live stream's HEAD makes
// nobody present.
func TestHEADAnswersEveryGETRouteAsGETWould(t *testing.T) {
	logs := &testkit.LogBuffer{}
	a := newApp(t) // for its store and alice
	a = serveApp(t, a.store, a.store, a.alice, nil, logs, func(sc *hub.SiteConfig) { sc.Rooms = []string{"standup"} })
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/", http.StatusOK},
		{"/login", http.StatusOK},
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
		{assets.HTMX, http.StatusOK},
		{"/static/nothing-here.js", http.StatusNotFound},
		{"/nowhere", http.StatusNotFound},
		{"/live/sse-box", http.StatusOK},
		{"/live/events", http.StatusOK},
		{"/live/ws", http.StatusUpgradeRequired}, // no Upgrade header: never a WebSocket
		{"/r?room=standup", http.StatusSeeOther},
		{"/r?room=not+a+name", http.StatusNotFound},
		{"/r/standup", http.StatusOK},
		{"/r/Standup", http.StatusPermanentRedirect},
		{"/r/retro", http.StatusNotFound}, // not in the fixed list
		{"/r/standup/live/sse-box", http.StatusOK},
		{"/r/standup/live/events", http.StatusOK},
		{"/r/retro/live/events", http.StatusNotFound},
		{"/r/standup/live/ws", http.StatusUpgradeRequired},
	} {
		t.Run(c.path, func(t *testing.T) {
			get := headersOf(t, a, http.MethodGet, c.path)
			head := headersOf(t, a, http.MethodHead, c.path)
			if get.StatusCode != c.status {
				t.Fatalf("GET: %s, want %d", get.Status, c.status)
			}
			if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
				t.Errorf("HEAD: %s, %q; GET: %s, %q", head.Status, head.Header.Get("Content-Type"), get.Status, get.Header.Get("Content-Type"))
			}
			if head.Header.Get("Content-Security-Policy") == "" {
				t.Error("HEAD lacks the security headers")
			}
		})
	}
	// The GETs of the streams above opened live connections; the HEADs
	// must not have. Count the openings against the GETs.
	if opened := strings.Count(logs.String(), "live connection opened"); opened != 2 {
		t.Errorf("%d live connections opened, want 2 (the two GETs of a stream):\n%s", opened, logs.String())
	}
}

// headersOf sends method to path and returns the response once its headers
// have come, with the body a HEAD had (which must be none), so that a GET
// of a stream returns too.
func headersOf(t *testing.T, a *app, method, path string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A connection of its own, closed after the response: a stream that a
	// HEAD wrongly started ends then, rather than holding up the server's
	// shutdown.
	c := a.client(t)
	c.Transport = &http.Transport{DisableKeepAlives: true}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if method == http.MethodHead {
		if b, err := io.ReadAll(resp.Body); err != nil || len(b) > 0 {
			t.Errorf("HEAD %s: %d bytes of body, %v", path, len(b), err)
		}
	}
	return resp
}

// styledPage checks that resp is one of the site's pages with status: HTML
// in the layout, the security headers set, and heading as its title.
func styledPage(t *testing.T, resp *http.Response, body string, status int, heading string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s, want %d", resp.Status, status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if !strings.Contains(body, `<h1 class="title">`+heading+`</h1>`) || !strings.Contains(body, `class="navbar"`) {
		t.Errorf("not the page headed %q in the site's layout:\n%.600s", heading, body)
	}
}

// TestAWrongMethodGetsAStyledPageThatSaysWhatIsAllowed: a 405 is a page
// of the site, with the methods the address takes in Allow and in words.
func TestAWrongMethodGetsAStyledPageThatSaysWhatIsAllowed(t *testing.T) {
	a := newApp(t)
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		allow, says  string
	}{
		{http.MethodGet, "/logout", "POST", "does not take a GET request; it takes POST."},
		{http.MethodPost, "/", "GET, HEAD", "does not take a POST request; it takes GET and HEAD."},
		{http.MethodDelete, "/login", "GET, HEAD, POST", "does not take a DELETE request; it takes GET, HEAD and POST."},
		{http.MethodPut, assets.HTMX, "GET, HEAD", "does not take a PUT request; it takes GET and HEAD."},
		{http.MethodPost, "/live/ws", "GET, HEAD", "does not take a POST request; it takes GET and HEAD."},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp, body := a.send(t, c.method, c.path, nil, "")
			styledPage(t, resp, body, http.StatusMethodNotAllowed, "Method not allowed")
			if allow := strings.Join(resp.Header.Values("Allow"), ", "); allow != c.allow {
				t.Errorf("Allow %q, want %q", allow, c.allow)
			}
			if !strings.Contains(body, c.says) {
				t.Errorf("the page does not say %q", c.says)
			}
		})
	}
}

// TestALoginPastTheLimitsGetsAStyledPage: a 429 from the login limits is
// a page of the site that says to wait, with Retry-After kept.
func TestALoginPastTheLimitsGetsAStyledPage(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.Login = handlers.LoginLimits{PerIP: 1, PerName: 5} })
	c := a.client(t)
	if resp, _ := a.postLogin(t, c, "alice", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first attempt: %s, want 401", resp.Status)
	}
	resp, body := a.postLogin(t, c, "alice", "correct horse")
	styledPage(t, resp, body, http.StatusTooManyRequests, "Too many attempts")
	if resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, "Wait a minute") {
		t.Errorf("Retry-After %q; want 60, and the page to say to wait a minute", resp.Header.Get("Retry-After"))
	}
}
