package hub

// Remote instances: what the other instances of a cluster hold, applied
// through ApplyRemote, ReplaceRemote and ForgetRemote, and what this
// instance holds, published through Held and Peers.Changed (report).
// Locking: see hub.go.

// Held is a person as one instance holds them: for a cluster backend to
// publish this instance's share and report the others'.
type Held struct {
	// Person is who they are, with the status they set by hand as the
	// instance holding them knows it. A hub shows the status its own
	// instance holds for a person it holds, and the one last reported
	// for a person only other instances hold.
	Person Person
	Conns  int  // open connections; 0 while the person's grace period runs
	Gone   bool // in a change: the instance no longer holds the person
	// Away says the person has had no activity in any of their tabs on
	// the instance for its AwayAfter. A hub shows a person away by
	// themselves only when every instance that holds them says so.
	Away bool
}

// Held returns the people this instance holds, counting those in their
// grace period.
func (h *Hub) Held() []Held {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Held
	for _, p := range h.live {
		if p.local() {
			p.sync()
			out = append(out, Held{Person: p.person, Conns: p.conns, Away: p.idleHere()})
		}
	}
	return out
}

// ApplyRemote applies a change to what another instance holds: each person
// with their connections there, or Gone once it no longer holds them. A
// person nobody holds any more goes offline with the next frame: that
// instance has already let their grace period pass.
func (h *Hub) ApplyRemote(instance string, changes []Held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(changes) == 0 {
		return
	}
	share := h.remotes[instance]
	for _, c := range changes {
		key := c.Person.Key
		if c.Gone {
			if p := share[key]; p != nil {
				delete(share, key)
				delete(p.remote, instance)
				h.mark(p)
			}
			continue
		}
		if share == nil {
			share = make(map[string]*presence)
			h.remotes[instance] = share
		}
		p := share[key]
		if p == nil {
			p = h.presence(c.Person, false)
			share[key] = p
		}
		h.setRemote(p, instance, c)
	}
	if share != nil && len(share) == 0 {
		delete(h.remotes, instance)
	}
	h.scheduleDirty()
}

// ReplaceRemote replaces everything another instance holds: people it no
// longer lists lose their place there. With quiet, people new to this hub
// are shown without a "came online" entry: they were online before this
// instance could know (it joined, or missed that instance's changes).
func (h *Hub) ReplaceRemote(instance string, people []Held, quiet bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(people) == 0 && h.remotes[instance] == nil {
		return // nothing to replace: a cluster forgetting an instance asks every room
	}
	h.replaceRemote(instance, people, quiet)
	h.scheduleDirty()
}

// ForgetRemote drops everything another instance holds, as when it died.
func (h *Hub) ForgetRemote(instance string) { h.ReplaceRemote(instance, nil, false) }

func (h *Hub) replaceRemote(instance string, people []Held, quiet bool) {
	old := h.remotes[instance]
	next := make(map[string]*presence, len(people))
	for _, held := range people {
		if held.Gone {
			continue
		}
		p := h.presence(held.Person, quiet)
		h.setRemote(p, instance, held)
		next[held.Person.Key] = p
	}
	for key, p := range old {
		if _, still := next[key]; !still {
			delete(p.remote, instance)
			h.mark(p)
		}
	}
	if len(next) == 0 {
		delete(h.remotes, instance)
	} else {
		h.remotes[instance] = next
	}
}

// setRemote records that instance holds p as held says: with its
// connections there, whether they are away there, and the status set by
// hand, which is shown unless this instance holds the person too.
func (h *Hub) setRemote(p *presence, instance string, held Held) {
	if p.remote == nil {
		p.remote = make(map[string]share)
	}
	sh := share{conns: held.Conns, away: held.Away}
	if old, ok := p.remote[instance]; !ok || old != sh {
		p.remote[instance] = sh
		h.mark(p)
	}
	if s := (said{status: held.Person.Status, text: held.Person.Text}); p.heard != s {
		p.heard = s
		h.mark(p)
	}
}

// report says what Peers must be told of p, if anything changed since it
// was last told, and notes it as told. The caller has synced p.
func (p *presence) report() (Held, bool) {
	if p.local() {
		s, away := said{status: p.person.Status, text: p.person.Text}, p.idleHere()
		if p.reported && p.reportedConns == p.conns && p.reportedSaid == s && p.reportedAway == away {
			return Held{}, false
		}
		p.reported, p.reportedConns, p.reportedSaid, p.reportedAway = true, p.conns, s, away
		return Held{Person: p.person, Conns: p.conns, Away: away}, true
	}
	if !p.reported {
		return Held{}, false
	}
	p.reported = false
	return Held{Person: p.person, Gone: true}, true
}
