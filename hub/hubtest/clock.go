// Package hubtest holds a clock that moves only when told to, so tests of
// ticks and grace periods need no sleeps.
package hubtest

import (
	"sync"
	"time"

	"herenow/hub"
)

// Clock is a hub.Clock that stands still until Advance. Due timers run in
// Advance's goroutine, so their effects are visible when it returns.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	set    int // AfterFunc calls so far
}

type timer struct {
	clock *Clock
	at    time.Time
	f     func()
	done  bool
}

// NewClock returns a clock standing at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for when the clock has been advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) hub.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.set++
	return t
}

func (t *timer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

// Advance moves time forward by d, firing due timers in order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *timer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.done {
				continue
			}
			live = append(live, t)
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		clear(c.timers[len(live):])
		c.timers = live
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		next.done = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// Set returns how many timers were ever set (AfterFunc calls): for tests
// that check a hot path sets none.
func (c *Clock) Set() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

// Pending returns how many timers are set and not yet fired or stopped:
// for tests that check nothing is left behind.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}
