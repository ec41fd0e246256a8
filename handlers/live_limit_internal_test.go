package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5/middleware"
)

// TestAnIPv6SlashSixtyFourCountsAsOneAddress: the per-address cap keys
// addresses as the login limiter does, one /64 being one address.
func TestAnIPv6SlashSixtyFourCountsAsOneAddress(t *testing.T) {
	key := func(remote string) string {
		var got string
		h := middleware.ClientIPFromRemoteAddr(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientKey(r) }))
		r := httptest.NewRequest(http.MethodGet, "/live/events", nil)
		r.RemoteAddr = remote
		h.ServeHTTP(httptest.NewRecorder(), r)
		return got
	}
	if a, b := key("[2001:db8:1:2::1]:1000"), key("[2001:db8:1:2:ffff::9]:2000"); a != b {
		t.Errorf("one /64 gave two keys: %q and %q", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:1000"), key("[2001:db8:1:3::1]:1000"); a == b {
		t.Errorf("two /64s gave one key %q", a)
	}
	if a, b := key("192.0.2.1:1"), key("192.0.2.2:1"); a == b {
		t.Errorf("two IPv4 addresses gave one key %q", a)
	}
	s := newLiveSlots(0, 1)
	if s.take(key("[2001:db8:1:2::1]:1")) != "" || s.take(key("[2001:db8:1:2::2]:1")) != refusedMaxLivePerAddr {
		t.Error("a second connection from the same /64 got past a per-address cap of 1")
	}
}
