package hub

// Away by itself: a person this instance holds shows as away once
// AwayAfter has passed without activity in any of their tabs here (any
// room, the lobby), and as before the moment there is some. Activity is
// the hot input (a message a minute from every tab), so Active stores a
// time and reads a flag, and that is all: no lock, no timer reset, no
// frame. Each member has one timer (roster.go). When it fires it either
// finds newer activity and sets itself for what is left of the period, or
// marks the person idle and tells their hubs; the activity that brings
// them back sets it again. A person only other instances hold is idle
// when every one of them reports so (Held.Away). Locking: see hub.go; the
// timer's func and back take r.mu, and tell the hubs after releasing it.

import (
	"slices"
	"time"
)

// Active notes activity of the subscription's person: someone is at one
// of their tabs (a key pressed, the pointer moved, the page focused). An
// idle person shows as before at once, in every hub that shows them; for
// anyone else it costs a clock read and two atomic operations. It does
// nothing for an invisible subscription, or one that ended before it
// began.
func (s *Subscription) Active() {
	m := s.member
	if m == nil {
		return
	}
	m.last.Store(int64(m.roster.now()))
	if m.away.Load() {
		m.roster.back(m)
	}
}

// now is the time by the roster's clock, as a duration since its epoch:
// monotonic with the system clock, and one word, kept atomically.
func (r *roster) now() time.Duration { return r.clock.Now().Sub(r.epoch) }

// arm sets m's away timer to fire after d, unless nobody goes away by
// themselves. The caller holds r.mu.
func (m *member) arm(d time.Duration) {
	r := m.roster
	if r.awayAfter <= 0 {
		return
	}
	m.gen++
	gen := m.gen
	m.timer = r.clock.AfterFunc(d, func() { r.check(m, gen) })
}

// disarm stops m's away timer. The caller holds r.mu.
func (m *member) disarm() {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	m.gen++ // a func already waiting for the lock finds itself stale
}

// check runs when m's away timer fires: it sets itself again if there was
// activity since it was set, or makes the person idle.
func (r *roster) check(m *member, gen uint64) {
	r.mu.Lock()
	if m.gone || m.gen != gen {
		r.mu.Unlock()
		return
	}
	m.timer = nil
	last := m.last.Load()
	if quiet := r.now() - time.Duration(last); quiet < r.awayAfter {
		m.arm(r.awayAfter - quiet)
		r.mu.Unlock()
		return
	}
	if r.deciding != nil {
		r.deciding(m.key)
	}
	m.away.Store(true)
	if m.last.Load() != last {
		// Activity came in meanwhile, and may have read away before it
		// was raised: it counts.
		m.away.Store(false)
		m.arm(r.awayAfter)
		r.mu.Unlock()
		return
	}
	m.idle.Store(true)
	hubs := slices.Clone(m.hubs)
	r.mu.Unlock()
	tell(m, hubs)
}

// back makes m's person active again after activity, if they were idle.
func (r *roster) back(m *member) {
	r.mu.Lock()
	if m.gone || !m.away.Load() {
		r.mu.Unlock()
		return // forgotten, or check found the activity itself
	}
	m.away.Store(false)
	m.idle.Store(false)
	m.arm(r.awayAfter)
	hubs := slices.Clone(m.hubs)
	r.mu.Unlock()
	tell(m, hubs)
}
