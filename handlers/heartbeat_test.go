package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"herenow/handlers"
	"herenow/hub"
	"herenow/static"
)

// testHeartbeat is the heartbeat of the tests below: short, so that they
// see several.
const testHeartbeat = 200 * time.Millisecond

func withHeartbeat(o *handlers.Options) { o.Live.Heartbeat = testHeartbeat }

// isHeartbeat reports whether a frame is the heartbeat: the connection
// state alone, swapped out of band.
func isHeartbeat(frame string) bool {
	return strings.HasPrefix(frame, `<div id="live-state" class="live-state" hx-swap-oob="true">`) &&
		strings.Count(frame, `id=`) == 1 && strings.Contains(frame, "Reconnecting… last updated <time datetime=")
}

// TestHeartbeatFollowsTheSnapshotAndRepeats: on either transport, in the
// lobby and in a room, the heartbeat comes right after the snapshot and
// the greeting, then
// again within each interval, whatever other frames arrive between.
func TestHeartbeatFollowsTheSnapshotAndRepeats(t *testing.T) {
	for _, c := range []struct {
		name, path string
		dial       func(a *app, t *testing.T, path string) live
	}{
		{"websocket lobby", "/live/ws", func(a *app, t *testing.T, path string) live { return a.dialWSAt(t, path, nil) }},
		{"sse lobby", "/live/events", func(a *app, t *testing.T, path string) live { return a.dialSSEAt(t, path, nil) }},
		{"websocket room", "/r/standup/live/ws", func(a *app, t *testing.T, path string) live { return a.dialWSAt(t, path, nil) }},
		{"sse room", "/r/standup/live/events", func(a *app, t *testing.T, path string) live { return a.dialSSEAt(t, path, nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newApp(t)
			a = serveApp(t, a.store, a.store, a.alice, withHeartbeat, nil, func(*hub.SiteConfig) {})
			l := c.dial(a, t, c.path)
			if snap := l.next(t); !strings.Contains(snap, `id="online-count"`) || strings.Contains(snap, "live-state") {
				t.Fatalf("first frame is not a snapshot without the connection state:\n%s", snap)
			}
			if g := l.next(t); !isGreeting(g) {
				t.Fatalf("the frame after the snapshot is not the greeting:\n%s", g)
			}
			if beat := l.next(t); !isHeartbeat(beat) {
				t.Fatalf("the frame after the greeting is not the heartbeat:\n%s", beat)
			}
			// The guest's own arrival comes between beats; it is no beat.
			for i := range 3 {
				start := time.Now()
				for {
					f := l.next(t)
					if isHeartbeat(f) {
						break
					}
					if strings.Contains(f, "live-state") {
						t.Fatalf("a frame other than the heartbeat carries the connection state:\n%s", f)
					}
				}
				// A beat is due testHeartbeat after the last; allow for a
				// loaded machine, but not for a missed beat.
				if took := time.Since(start); took > testHeartbeat*3/2 {
					t.Errorf("heartbeat %d came %v after the last, want within %v", i+2, took, testHeartbeat*3/2)
				}
			}
		})
	}
}

// TestHeartbeatIsTheSameOnBothTransports: the heartbeat is rendered for
// the whole server, not per connection: the same bytes over WebSocket and
// SSE, but for the second it shows.
func TestHeartbeatIsTheSameOnBothTransports(t *testing.T) {
	a := newAppWith(t, withHeartbeat)
	ws, sse := a.dialWS(t, nil), a.dialSSE(t, nil)
	ws.next(t) // the snapshot
	sse.next(t)
	ws.next(t) // the greeting
	sse.next(t)
	fromWS, fromSSE := ws.next(t), sse.next(t)
	if !isHeartbeat(fromWS) || !isHeartbeat(fromSSE) {
		t.Fatalf("not heartbeats:\nws:  %s\nsse: %s", fromWS, fromSSE)
	}
	clock := regexp.MustCompile(`<time datetime="[^"]*">[0-9:]+ UTC</time>`)
	if clock.ReplaceAllString(fromWS, "T") != clock.ReplaceAllString(fromSSE, "T") {
		t.Errorf("transports differ:\nws:  %s\nsse: %s", fromWS, fromSSE)
	}
	if at := clock.FindString(fromWS); !strings.Contains(at, time.Now().UTC().Format("2006-01-02T")) {
		t.Errorf("the heartbeat says %s, not today in UTC", at)
	}
}

// TestNoHeartbeatWithoutAnInterval: with Heartbeat zero no heartbeat is
// sent, not even after the snapshot (other tests and the load test's own
// server rely on it).
func TestNoHeartbeatWithoutAnInterval(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.Live.PingInterval = 50 * time.Millisecond })
	ws, sse := a.dialWS(t, nil), a.dialSSE(t, nil)
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, b, err := ws.conn.Read(ctx)
		cancel()
		if err != nil {
			break
		}
		if isHeartbeat(string(b)) {
			t.Errorf("a heartbeat came over WebSocket with Heartbeat zero: %s", b)
		}
	}
	for {
		select {
		case e := <-sse.events:
			if isHeartbeat(e) {
				t.Errorf("a heartbeat came over SSE with Heartbeat zero: %s", e)
			}
			continue
		default:
		}
		break
	}
}

// TestStylesheetShowsADeadConnectionAfterTwoHeartbeats: the page's own
// stylesheet carries the delay, StaleAfter, and the server refuses assets
// loaded with another.
func TestStylesheetShowsADeadConnectionAfterTwoHeartbeats(t *testing.T) {
	a := newAppWith(t, withHeartbeat)
	page := a.get(t, http.DefaultClient, "/")
	href := regexp.MustCompile(`<link rel="stylesheet" href="(/static/[0-9a-f]+/herenow\.css)">`).FindStringSubmatch(page)
	if href == nil {
		t.Fatalf("the page links no herenow.css:\n%s", page)
	}
	css := a.get(t, http.DefaultClient, href[1])
	if !strings.HasPrefix(css, ":root { --herenow-stale-after: 400ms; }\n") || !strings.Contains(css, "var(--herenow-stale-after, 20s)") {
		t.Errorf("the stylesheet does not set the delay to 2 × %v:\n%.300s", testHeartbeat, css)
	}

	assets, err := static.Load(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = handlers.NewServer(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), a.store, nil, assets,
		handlers.Options{Secret: []byte(secret), Live: handlers.LiveOptions{Heartbeat: testHeartbeat}})
	if err == nil || !strings.Contains(err.Error(), "stylesheet") {
		t.Errorf("NewServer with assets for another heartbeat: %v, want an error about the stylesheet", err)
	}
}
