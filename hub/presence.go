package hub

import "time"

// Presence: a person's live state, who is connected now, here and on other
// instances, and the list of people changed since the last flush. Locking:
// see hub.go.

// presence is a person's live state.
type presence struct {
	// person is who they are, with the status they set by hand as this
	// hub last read it (sync).
	person   Person
	conns    int
	grace    Timer            // set while the person has no connection but still counts
	graceGen uint64           // tells a stale grace timer from the current one
	remote   map[string]share // instance → the person there, for people other instances hold
	// heard is the status set by hand as other instances last reported
	// it: shown while this instance does not hold the person.
	heard said
	// member is the person as this instance's roster holds them, set
	// while this hub holds them here (local).
	member *member
	quiet  bool // was online before this instance knew: show without logging an arrival
	dirty  bool
	// lastConn is when the person's last connection here closed, for
	// Config.Departed.
	lastConn time.Time

	// What Peers.Changed was last told of this person.
	reported      bool // told they are held here (and not told Gone since)
	reportedConns int
	reportedSaid  said
	reportedAway  bool
}

func (p *presence) online() bool { return p.conns > 0 || p.grace != nil || len(p.remote) > 0 }

// share is a person as another instance holds them.
type share struct {
	conns int  // their connections there
	away  bool // no activity in any of them for that instance's AwayAfter
}

// local reports whether this instance holds the person, counting its grace
// period.
func (p *presence) local() bool { return p.conns > 0 || p.grace != nil }

// tabs is how many connections the person has, here and elsewhere; one at
// least while they count as online.
func (p *presence) tabs() int {
	n := p.conns
	for _, c := range p.remote {
		n += c.conns
	}
	return max(n, 1)
}

// sync reads the status set by hand into p.person: the roster's when this
// instance holds the person, else what other instances last reported.
func (p *presence) sync() {
	s := p.heard
	if p.member != nil {
		s = *p.member.said.Load()
	}
	p.person.Status, p.person.Text = s.status, s.text
}

// shownStatus is the status p's row shows: busy or away set by hand wins,
// else away when the person is idle, else available. The caller has
// synced p.
func (p *presence) shownStatus() Status {
	if p.person.Status != StatusAvailable {
		return p.person.Status
	}
	if p.idle() {
		return StatusAway
	}
	return StatusAvailable
}

// idleHere reports whether this instance holds the person and they have
// been idle in all their tabs here.
func (p *presence) idleHere() bool { return p.member != nil && p.member.idle.Load() }

// idle reports whether the person is idle everywhere they are held: here
// (if here) and on every other instance that holds them.
func (p *presence) idle() bool {
	if p.member != nil && !p.member.idle.Load() {
		return false
	}
	for _, s := range p.remote {
		if !s.away {
			return false
		}
	}
	return p.member != nil || len(p.remote) > 0
}

// release lets the roster forget that h holds p here, once it no longer
// does.
func (p *presence) release(h *Hub) {
	if p.member != nil {
		h.roster.leave(p.member, h)
		p.member = nil
	}
}

// presence returns person's live state, creating it (quiet or not) if the
// hub has none.
func (h *Hub) presence(person Person, quiet bool) *presence {
	p := h.live[person.Key]
	if p == nil {
		p = &presence{person: person, quiet: quiet}
		h.live[person.Key] = p
	}
	return p
}

// markDirty notes that p may have changed and makes sure a frame is coming:
// at once after a quiet spell, else at the next tick.
func (h *Hub) markDirty(p *presence) {
	h.mark(p)
	h.scheduleFrame()
}

// mark notes that p may have changed, for the next flush.
func (h *Hub) mark(p *presence) {
	if !p.dirty {
		p.dirty = true
		h.dirty = append(h.dirty, p)
	}
}
