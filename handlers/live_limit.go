package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// liveRetryAfter is what a refused live connection is told to wait, in
// seconds: long enough for a crowd to thin, short enough that a page comes
// back by itself.
const liveRetryAfter = 30

// Reasons a live connection is refused, as the refusal metric labels them.
const (
	refusedMaxLive        = "max_live"
	refusedMaxLivePerAddr = "max_live_per_addr"
)

// liveSlots caps live connections, in all and per client address, so that
// they cannot take every file descriptor the process has and leave pages,
// login and health checks unanswered. A zero cap is no cap.
type liveSlots struct {
	max, maxPerAddr int

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

func newLiveSlots(max, maxPerAddr int) *liveSlots {
	return &liveSlots{max: max, maxPerAddr: maxPerAddr, byAddr: map[string]int{}}
}

// take claims a slot for addr; it returns why not when a cap is reached.
func (s *liveSlots) take(addr string) (refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.max > 0 && s.open >= s.max:
		return refusedMaxLive
	case s.maxPerAddr > 0 && s.byAddr[addr] >= s.maxPerAddr:
		return refusedMaxLivePerAddr
	}
	s.open++
	s.byAddr[addr]++
	return ""
}

// give returns a slot taken for addr.
func (s *liveSlots) give(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.byAddr[addr]--; s.byAddr[addr] <= 0 {
		delete(s.byAddr, addr)
	}
}

// admit claims a live slot for r, or refuses the connection with a 503 that
// says why and when to retry, before any upgrade. The refusal closes the
// TCP connection, so a refused client holds no file descriptor either.
// release must be called once the connection has ended.
func (l *live) admit(w http.ResponseWriter, r *http.Request, transport string) (release func(), ok bool) {
	addr := clientKey(r) // the login limits' key: behind a trusted proxy, the real client
	refused := l.slots.take(addr)
	if refused == "" {
		var once sync.Once
		return func() { once.Do(func() { l.slots.give(addr) }) }, true
	}
	l.metrics.liveRefused.WithLabelValues(transport, refused).Inc()
	l.logger.Debug("live connection refused", "id", middleware.GetReqID(r.Context()), "transport", transport, "reason", refused)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(liveRetryAfter))
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	msg := "Too many live connections on this server; try again later.\n"
	if refused == refusedMaxLivePerAddr {
		msg = "Too many live connections from your address; close some tabs or try again later.\n"
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
	return nil, false
}

// clearDeadlines lifts the server's read and write timeouts for ordinary
// requests from a live stream, which lasts for hours and bounds its writes
// itself.
func clearDeadlines(rc *http.ResponseController) {
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}
