package handlers_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"herenow/hub"
	"herenow/static"
)

// TestHEADAnswersEveryGETRouteAsGETWould: each GET route answers HEAD with
// GET's status and content type, and no body; a live stream's HEAD makes
// nobody present.
func TestHEADAnswersEveryGETRouteAsGETWould(t *testing.T) {
	logs := &logBuffer{}
	a := newApp(t) // for its store and alice
	a = serveApp(t, a.store, a.store, a.alice, nil, logs, func(sc *hub.SiteConfig) { sc.Rooms = []string{"standup"} })
	assets, err := static.Load()
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
