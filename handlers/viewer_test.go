package handlers_test

import (
	"strconv"
	"strings"
	"testing"

	"herenow/hub"
)

// TestAPageCountsItsViewer: a page is rendered before its own live
// connection counts the viewer, yet it never says "Nobody is here yet":
// the lobby, a room (even one nobody is in yet) and both SSE boxes count
// the viewer, a guest among the guests, alice in the list; a guest whose
// other tab is connected is counted once.
func TestAPageCountsItsViewer(t *testing.T) {
	a := newApp(t)
	a = serveApp(t, a.store, a.store, a.alice, nil, nil, func(*hub.SiteConfig) {}) // with rooms
	const nobody = "Nobody is here yet."
	const one = `<strong>1</strong> person online`
	aliceRow := `<li id="u-` + strconv.FormatInt(a.alice.ID, 10) + `"><span class="user-face face-11" aria-hidden="true">A</span> <span class="user-name" title="alice">`
	for _, path := range []string{"/", "/live/sse-box", "/r/standup", "/r/standup/live/sse-box"} {
		t.Run(path, func(t *testing.T) {
			guest := a.client(t)
			a.get(t, guest, "/") // the guest cookie, as the page sets it
			page := a.get(t, guest, path)
			if strings.Contains(page, nobody) || !strings.Contains(page, one) || !strings.Contains(page, `data-guests="1">1 guest</span>`) {
				t.Errorf("a guest's %s does not count them as the one guest online:\n%s", path, page)
			}
			alice := a.login(t, "alice", "correct horse")
			page = a.get(t, alice, path)
			if strings.Contains(page, nobody) || !strings.Contains(page, one) || !strings.Contains(page, aliceRow) {
				t.Errorf("alice's %s does not count and list her:\n%s", path, page)
			}
		})
	}

	t.Run("a second tab", func(t *testing.T) {
		guest := a.client(t)
		a.get(t, guest, "/")
		waitFor(t, a.dialWS(t, guest), "<strong>1</strong> person online")
		if page := a.get(t, guest, "/"); !strings.Contains(page, `<strong>1</strong> person online`) {
			t.Errorf("a guest with a tab connected opens another: the page does not count them once:\n%s", page)
		}
	})
}
