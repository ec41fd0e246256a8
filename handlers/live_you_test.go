package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// youCounted is components.YouCounted as a frame carries it.
const youCounted = `<div id="live-you" class="is-counted" hx-swap-oob="true"></div>`

// TestALiveConnectionIsToldWhenItIsCounted, over both transports: a
// guest's first connection gets the snapshot of nobody, which resets the
// page's #live-you, then the frame that counts them, then, alone,
// YouCounted. Their second tab's snapshot counts them already: YouCounted
// follows it at once. A guest watching gets neither tab's.
func TestALiveConnectionIsToldWhenItIsCounted(t *testing.T) {
	for name, dial := range map[string]func(*app, *testing.T, *http.Client) live{
		// The page greets a guest, as these tabs are: no greeting follows
		// their snapshots.
		"websocket": func(a *app, t *testing.T, c *http.Client) live {
			return a.dialWSAt(t, "/live/ws?greets=guest", a.cookieHeader(c))
		},
		"sse": func(a *app, t *testing.T, c *http.Client) live {
			return a.dialSSEAt(t, "/live/events?greets=guest", a.cookieHeader(c))
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newApp(t)
			browser := a.client(t)
			a.get(t, browser, "/") // the guest cookie, so that both tabs are one guest

			first := dial(a, t, browser)
			if snap := first.next(t); !strings.Contains(snap, `<div id="live-you" hx-swap-oob="true"></div>`) ||
				!strings.Contains(snap, "<strong>0</strong> people online") || strings.Contains(snap, "is-counted") {
				t.Fatalf("the first tab's snapshot:\n%s\nwant one of nobody that resets #live-you", snap)
			}
			if f := first.next(t); !strings.Contains(f, "<strong>1</strong> person online") || strings.Contains(f, "is-counted") {
				t.Fatalf("the first tab's second frame:\n%s\nwant the one that counts them, without YouCounted", f)
			}
			if f := first.next(t); f != youCounted {
				t.Fatalf("the first tab's third frame:\n%s\nwant %s", f, youCounted)
			}

			second := dial(a, t, browser)
			if snap := second.next(t); !strings.Contains(snap, "<strong>1</strong> person online") {
				t.Fatalf("the second tab's snapshot:\n%s\nwant one counting 1 person", snap)
			}
			if f := second.next(t); f != youCounted {
				t.Fatalf("the second tab's second frame:\n%s\nwant %s", f, youCounted)
			}

			// A viewer of its own hears of the tabs in frames with no
			// YouCounted of theirs.
			viewer := dial(a, t, nil)
			viewer.next(t) // the snapshot, counting the guest
			if f := viewer.next(t); !strings.Contains(f, "<strong>2</strong> people online") || strings.Contains(f, "is-counted") {
				t.Fatalf("the viewer's second frame:\n%s\nwant the one that counts them", f)
			}
			if f := first.next(t); !strings.Contains(f, "<strong>2</strong> people online") || strings.Contains(f, "is-counted") {
				t.Fatalf("the first tab, on the viewer's arrival:\n%s\nwant the frame counting 2 people, and no YouCounted", f)
			}
		})
	}
}
