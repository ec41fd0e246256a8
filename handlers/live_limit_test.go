package handlers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/handlers"
	"herenow/internal/testkit"
)

// refusal is what a refused live connection got.
type refusal struct {
	status     int
	retryAfter string
	body       string
	closes     bool // the server ends the TCP connection after it
}

// openSSEFrom opens /live/events from local address from (empty: any) and
// returns its status and, if 200, a func that ends the stream.
func openSSEFrom(t *testing.T, a *app, from string) (refusal, func()) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL+"/live/events", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET /live/events: %v", err)
	}
	if resp.StatusCode == http.StatusOK {
		return refusal{status: http.StatusOK}, func() { cancel(); resp.Body.Close() }
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return refusal{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body), closes: resp.Close}, cancel
}

// openWS opens /live/ws and returns its handshake's status and, if it
// upgraded, a func that closes it.
func openWS(t *testing.T, a *app) (refusal, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/live/ws", nil)
	if err == nil {
		return refusal{status: http.StatusSwitchingProtocols}, func() { conn.Close(websocket.StatusGoingAway, "") }
	}
	if resp == nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	return refusal{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), closes: resp.Close}, func() {}
}

// TestLiveConnectionsPastTheCapAreRefusedWhilePagesAnswer fills --max-live
// with both transports: one more is refused with 503, Retry-After and a
// short text before any upgrade, and counted; pages, login and health
// checks answer all the while; a closed connection frees its place.
func TestLiveConnectionsPastTheCapAreRefusedWhilePagesAnswer(t *testing.T) {
	m := handlers.NewMetrics()
	a := newAppWith(t, func(o *handlers.Options) { o.Metrics = m; o.Live.MaxLive = 3 })
	got, _ := openSSEFrom(t, a, "")
	if got.status != http.StatusOK {
		t.Fatalf("first SSE stream: %d", got.status)
	}
	got, closeWS := openWS(t, a)
	if got.status != http.StatusSwitchingProtocols {
		t.Fatalf("first WebSocket: %d", got.status)
	}
	if got, _ = openSSEFrom(t, a, ""); got.status != http.StatusOK {
		t.Fatalf("second SSE stream: %d", got.status)
	}

	got, _ = openSSEFrom(t, a, "")
	if got.status != http.StatusServiceUnavailable || got.retryAfter == "" || !strings.Contains(got.body, "Too many live connections") || !got.closes {
		t.Errorf("SSE past the cap: %+v, want 503 with Retry-After, a short text, and the connection closed", got)
	}
	got, _ = openWS(t, a)
	if got.status != http.StatusServiceUnavailable || got.retryAfter == "" || !got.closes {
		t.Errorf("WebSocket past the cap: %+v, want its handshake refused with 503 and Retry-After", got)
	}
	for _, path := range []string{"/", "/login", "/healthz", "/readyz", "/live/sse-box"} {
		if resp, err := a.client(t).Get(a.srv.URL + path); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s at the cap: %v %v", path, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	a.login(t, "alice", "correct horse")
	for transport, want := range map[string]float64{"sse": 1, "websocket": 1} {
		if n := scrape(t, m, `herenow_live_refused_total{reason="max_live",transport="`+transport+`"}`); n != want {
			t.Errorf("%s refusals counted %v, want %v", transport, n, want)
		}
	}

	// A WebSocket's place comes back when it closes, not when its handler
	// returns (which is at once).
	closeWS()
	testkit.WaitUntil(t, 5*time.Second, "a WebSocket admitted again", func() bool {
		got, closeWS = openWS(t, a)
		closeWS()
		return got.status == http.StatusSwitchingProtocols
	})
}

// TestLiveConnectionsFromOneAddressAreCapped: past --max-live-per-addr, one
// address is refused while another still gets in.
func TestLiveConnectionsFromOneAddressAreCapped(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.Live.MaxPerAddr = 2 })
	for range 2 {
		if got, _ := openSSEFrom(t, a, "127.0.0.1"); got.status != http.StatusOK {
			t.Fatalf("SSE within the per-address cap: %d", got.status)
		}
	}
	got, _ := openSSEFrom(t, a, "127.0.0.1")
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "from your address") {
		t.Errorf("third stream from 127.0.0.1: %+v, want 503 naming the address", got)
	}
	if got, _ := openWS(t, a); got.status != http.StatusServiceUnavailable {
		t.Errorf("WebSocket from 127.0.0.1 past its cap: %d, want 503", got.status)
	}
	if got, _ := openSSEFrom(t, a, "127.0.0.2"); got.status != http.StatusOK {
		t.Errorf("first stream from 127.0.0.2: %d, want 200", got.status)
	}
}
