package handlers

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"herenow/users"
)

// LoginLimits bound password guessing without letting anyone lock another
// person out of their account.
type LoginLimits struct {
	// PerIP is how many login attempts one client address (an IPv6 /64
	// counts as one) may make per minute, whatever their outcome.
	PerIP int
	// PerName is how many failed logins per minute one address may have
	// against one username; past it that address is refused for that name
	// only. Past as many failures against the name from all addresses
	// together, every attempt on it is slowed, never refused.
	PerName int
	// MaxDelay bounds that slowing; zero turns it off.
	MaxDelay time.Duration
}

// loginWindow is the period every login limit counts over.
const loginWindow = time.Minute

// loginLimiter enforces LoginLimits. httprate limits attempts per address,
// which is what it is made for: it counts a request when it lets it pass.
// Failures are known only after the password check, and httprate has no
// way to count one then (its counter's windows are aligned to an offset it
// keeps to itself), so they go to failureCounter, a small counter with the
// same sliding-window estimate.
type loginLimiter struct {
	limits LoginLimits
	perIP  *httprate.RateLimiter
	// pairFailures counts failures per (name, address); nameFailures per
	// name from everywhere.
	pairFailures, nameFailures *failureCounter
}

func newLoginLimiter(l LoginLimits) *loginLimiter {
	return &loginLimiter{
		limits:       l,
		perIP:        httprate.NewRateLimiter(l.PerIP, loginWindow),
		pairFailures: newFailureCounter(loginWindow, time.Now),
		nameFailures: newFailureCounter(loginWindow, time.Now),
	}
}

// clientKey is what the per-address limits go by: the client's address as
// the ClientIP middlewares found it, an IPv6 /64 as one.
func clientKey(r *http.Request) string {
	return httprate.CanonicalizeIP(middleware.GetClientIP(r.Context()))
}

// nameKey is what the per-name limits go by: the key the store looks a
// name up by (users.NameKey), so that spellings which would sign in as the
// same account ("Alice", "ALICE", fullwidth alice) share one count.
func nameKey(name string) string { return users.NameKey(name) }

func pairKey(name string, r *http.Request) string { return nameKey(name) + "\x00" + clientKey(r) }

// refuse counts an attempt on name from r's address and reports whether
// to refuse it: the address is over its attempts, or it has failed too
// often against this name. It sets Retry-After when it refuses.
func (l *loginLimiter) refuse(w http.ResponseWriter, r *http.Request, name string) bool {
	if l.perIP.OnLimit(w, r, clientKey(r)) {
		return true
	}
	if l.pairFailures.count(pairKey(name, r)) >= float64(l.limits.PerName) {
		w.Header().Set("Retry-After", "60")
		return true
	}
	return false
}

// retryAfter is the wait that h's Retry-After header, in seconds, says;
// zero when there is none.
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// delay is how long an attempt on name waits before its password is
// checked: nothing until the name has PerName failures in the window from
// all addresses together, then MaxDelay/8, doubling with each further
// failure up to MaxDelay. It applies to every attempt on the name, the
// right password too: a delay on failures alone would tell an attacker who
// stops waiting that a slow answer is a wrong guess.
func (l *loginLimiter) delay(name string) time.Duration {
	over := int(l.nameFailures.count(nameKey(name))) - l.limits.PerName
	if l.limits.MaxDelay <= 0 || over < 0 {
		return 0
	}
	if over >= 3 {
		return l.limits.MaxDelay
	}
	return l.limits.MaxDelay >> (3 - over)
}

// wait sleeps for delay(name), or until ctx ends.
func (l *loginLimiter) wait(ctx context.Context, name string) error {
	d := l.delay(name)
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failed records a wrong password (or unknown name) for name from r's
// address.
func (l *loginLimiter) failed(r *http.Request, name string) {
	l.pairFailures.add(pairKey(name, r))
	l.nameFailures.add(nameKey(name))
}

// succeeded forgets the failures of this name from this address: a person
// who mistyped and then got it right starts afresh. The name's failures
// from everywhere stay, as an attack on it may go on.
func (l *loginLimiter) succeeded(r *http.Request, name string) {
	l.pairFailures.forget(pairKey(name, r))
}

// failureCounter counts events per key over a sliding window, estimated
// as httprate does: the previous window's count, weighted by how much of it
// the sliding window still covers, plus the current window's. It keeps two
// windows' keys at most, so its memory is bounded by the failures a
// minute can bring, which the per-address limit bounds in turn.
type failureCounter struct {
	window time.Duration
	now    func() time.Time

	mu         sync.Mutex
	start      time.Time // when the current window began
	curr, prev map[string]int
}

func newFailureCounter(window time.Duration, now func() time.Time) *failureCounter {
	return &failureCounter{window: window, now: now, start: now(),
		curr: make(map[string]int), prev: make(map[string]int)}
}

// shift moves the windows on to now; c.mu is held.
func (c *failureCounter) shift(now time.Time) {
	switch elapsed := now.Sub(c.start); {
	case elapsed < c.window:
	case elapsed < 2*c.window:
		clear(c.prev)
		c.prev, c.curr = c.curr, c.prev
		c.start = c.start.Add(c.window)
	default:
		clear(c.prev)
		clear(c.curr)
		c.start = now
	}
}

// count estimates key's events in the last window.
func (c *failureCounter) count(key string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.shift(now)
	left := float64(c.window-now.Sub(c.start)) / float64(c.window)
	return float64(c.prev[key])*left + float64(c.curr[key])
}

// add records one event for key.
func (c *failureCounter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shift(c.now())
	c.curr[key]++
}

// forget drops key's events.
func (c *failureCounter) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.curr, key)
	delete(c.prev, key)
}
