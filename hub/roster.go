package hub

// The roster: the people this instance holds, one member each, shared by
// every hub of a Site (the lobby and every room) or owned by a Hub on its
// own. A member keeps what belongs to a person rather than to one of
// their hubs: the status they set by hand, and their activity (away.go).
// Each hub's presence of a person held here points at their member and
// reads it when it flushes (presence.sync, presence.idle). When a member
// changes, the roster marks the person dirty in every hub that holds
// them, one hub after the other with no other lock held, so that however
// two changes interleave, the last flush of each hub reads the latest
// state. A member lives while any hub holds the person here, grace
// periods included. Locking: see hub.go; r.mu may be taken under a hub's
// lock, never the other way round.

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// roster is the people this instance holds.
type roster struct {
	clock     Clock
	awayAfter time.Duration // 0: nobody is ever away by themselves
	epoch     time.Time     // activity times are kept as durations since

	mu      sync.Mutex
	members map[string]*member // by person key

	// deciding, nil but in tests, runs in the away timer's func between
	// its reading when the person was last active and its raising away:
	// where an activity may slip in.
	deciding func(key string)
}

// member is one person this instance holds, in one hub or several.
type member struct {
	roster *roster
	key    string
	// said is the status set by hand, replaced whole, read by hubs under
	// their own lock without the roster's.
	said atomic.Pointer[said]

	// Activity (away.go). last is when the person was last active, as a
	// time since roster.epoch; away is raised by the timer before it
	// reads last a second time, so that Active, which stores last before
	// it reads away, and the timer cannot both miss each other; idle is
	// set once the timer has found the person away for good and cleared
	// by the first activity after: what hubs show.
	last atomic.Int64
	away atomic.Bool
	idle atomic.Bool

	// Guarded by roster.mu.
	hubs  []*Hub // the hubs with a presence of the person held here
	timer Timer  // the away timer; nil while idle, or with no AwayAfter
	gen   uint64 // tells a stopped away timer from the current one
	gone  bool   // forgotten: no hub holds the person here any more
}

// said is a status set by hand and its text.
type said struct {
	status Status
	text   string
}

func newRoster(clock Clock, awayAfter time.Duration) *roster {
	return &roster{clock: clock, awayAfter: awayAfter, epoch: clock.Now(), members: make(map[string]*member)}
}

// join notes that h holds person here and returns their member, made from
// person if this instance held them nowhere. The caller holds h.mu.
func (r *roster) join(h *Hub, person Person) *member {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[person.Key]
	if m == nil {
		// Someone who arrives is active.
		m = &member{roster: r, key: person.Key}
		m.said.Store(&said{status: person.Status, text: person.Text})
		m.last.Store(int64(r.now()))
		m.arm(r.awayAfter)
		r.members[person.Key] = m
	}
	m.hubs = append(m.hubs, h)
	return m
}

// leave notes that h no longer holds m's person here; a member no hub
// holds is forgotten. The caller holds h.mu.
func (r *roster) leave(m *member, h *Hub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(m.hubs, h); i >= 0 {
		m.hubs = slices.Delete(m.hubs, i, i+1)
	}
	if len(m.hubs) == 0 && r.members[m.key] == m {
		delete(r.members, m.key)
		m.gone = true
		m.disarm()
	}
}

// setStatus sets the status of the person with key, if this instance
// holds them, and marks them in every hub that does. Setting what is
// already set does nothing. The caller holds no lock.
func (r *roster) setStatus(key string, status Status, text string) {
	r.mu.Lock()
	m := r.members[key]
	if m == nil {
		r.mu.Unlock()
		return
	}
	if now := m.said.Load(); now.status == status && now.text == text {
		r.mu.Unlock()
		return
	}
	m.said.Store(&said{status: status, text: text})
	hubs := slices.Clone(m.hubs)
	r.mu.Unlock()
	tell(m, hubs)
}

// tell marks m's person in each of hubs, which read the member at their
// next flush. The caller holds no lock.
func tell(m *member, hubs []*Hub) {
	for _, h := range hubs {
		h.memberChanged(m)
	}
}

// memberChanged marks m's person for the next flush, if the hub still
// holds them through m.
func (h *Hub) memberChanged(m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if p := h.live[m.key]; p != nil && p.member == m {
		h.markDirty(p)
	}
}

// SetStatus sets the status and text a person set by hand, wherever this
// instance holds them: in this hub and every hub that shares its roster
// (a Site's lobby and rooms). Each hub that shows them sends one updated
// row (Diff.Updated) with its next frame, and nothing at all when the
// status they show does not change. It does nothing for a person this
// instance does not hold: one who arrives later brings their status with
// their first connection (Person.Status), and one held only by other
// instances is shown as those report them.
func (h *Hub) SetStatus(key string, status Status, text string) {
	h.roster.setStatus(key, status, text)
}
