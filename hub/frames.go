package hub

// Frames and ticks: changes are marked as they happen and flushed together,
// the first after a quiet spell at once and later ones at the next tick, so
// that changes within a tick coalesce (a reload cancels out). A flush
// brings the shown state up to the live one, renders the difference once
// and hands the same frame to every subscriber. Locking: see hub.go; the
// flush timer's func takes the lock itself.

import (
	"container/list"
	"fmt"
	"slices"
	"time"
)

// shownPerson is a person as the last frame showed them.
type shownPerson struct {
	person Person
	tabs   int
	status Status // as the row shows it (presence.shownStatus)
	text   string
	order  string        // nameOrder of the name: where a listed user's row stands
	elem   *list.Element // in unlisted; nil for guests and listed users
	inList bool
	// listedIn is the number of the flush that listed them: a user listed
	// and gone again, or whose tabs changed, within one flush is in none
	// of its frame's Removed or Updated.
	listedIn uint64
}

// user is sp's row in the list.
func (sp *shownPerson) user() User {
	return User{Key: sp.person.Key, Name: sp.person.Name, Tabs: sp.tabs, Status: sp.status, Text: sp.text}
}

// update brings sp up to p and reports whether its row changed.
func (sp *shownPerson) update(p *presence) bool {
	tabs, status, text := p.tabs(), p.shownStatus(), p.person.Text
	if sp.tabs == tabs && sp.status == status && sp.text == text {
		return false
	}
	sp.tabs, sp.status, sp.text = tabs, status, text
	return true
}

// scheduleDirty makes sure a frame is coming if anyone was marked.
func (h *Hub) scheduleDirty() {
	if len(h.dirty) > 0 {
		h.scheduleFrame()
	}
}

// scheduleFrame makes sure a frame is coming: at once after a quiet spell,
// else at the next tick.
func (h *Hub) scheduleFrame() {
	if h.flushTimer != nil {
		if !h.flushLazy {
			return
		}
		// A lazy flush is never due before an eager one: bring it forward.
		h.flushTimer.Stop()
		h.flushTimer = nil
	}
	wait := h.lastFlush.Add(h.cfg.Tick).Sub(h.cfg.Clock.Now())
	if wait <= 0 {
		h.flush()
		return
	}
	h.startFlushTimer(wait, false)
}

// scheduleLazy makes sure a flush comes for a change nobody is shown, such
// as a last tab closing into its grace period: not at once even after a
// quiet spell, but a tick later, so that a reload within the tick cancels
// out before Peers is told.
func (h *Hub) scheduleLazy() {
	if h.flushTimer != nil {
		return
	}
	wait := max(h.lastFlush.Add(h.cfg.Tick).Sub(h.cfg.Clock.Now()), h.cfg.Tick)
	h.startFlushTimer(wait, true)
}

func (h *Hub) startFlushTimer(wait time.Duration, lazy bool) {
	h.flushGen++
	gen := h.flushGen
	h.flushLazy = lazy
	h.flushTimer = h.cfg.Clock.AfterFunc(wait, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || h.flushGen != gen {
			return // stopped, and maybe replaced, while waiting for the lock
		}
		h.flushTimer = nil
		h.flush()
	})
}

// flush brings the shown state up to the live one and sends the difference,
// rendered once, to every subscriber. It tells Peers first what changed in
// this instance's share, even when nothing shown did.
func (h *Hub) flush() {
	now := h.cfg.Clock.Now()
	h.flushes++
	var d Diff
	var added []*shownPerson // users listed in this flush
	var arrived, left []Person
	var held []Held
	before := h.counts
	showed := false
	for _, p := range h.dirty {
		p.dirty = false
		p.sync()
		if c, changed := p.report(); changed {
			held = append(held, c)
			if c.Gone && !p.person.Guest && h.cfg.Departed != nil {
				h.cfg.Departed(p.person, p.lastConn)
			}
		}
		sp := h.shown[p.person.Key]
		switch {
		case p.online() && sp == nil:
			if !p.quiet {
				arrived = append(arrived, p.person)
			}
			if sp := h.show(p); sp.inList {
				added = append(added, sp)
			}
			showed = true
		case !p.online() && sp != nil:
			left = append(left, p.person)
			if next := h.hide(sp, &d); next != nil {
				added = append(added, next)
			}
		case sp != nil:
			// Tabs, status or text: one row replaced in place, if it is
			// shown, however many people are online.
			// A row listed in this flush goes in as it is now.
			if sp.update(p) && sp.inList && sp.listedIn != h.flushes {
				d.Updated = append(d.Updated, sp.user())
			}
		}
		p.quiet = false
		if !p.local() {
			p.release(h)
		}
		if !p.online() && h.live[p.person.Key] == p {
			delete(h.live, p.person.Key)
		}
	}
	clear(h.dirty)
	h.dirty = h.dirty[:0]
	d.Added = h.listed.placed(added)
	// Asked before Changed, so that Peers knows how the changes it is
	// about to hear were logged.
	logging := h.cfg.Peers.Logging()
	if len(held) > 0 {
		h.cfg.Peers.Changed(held)
		h.lastFlush = now // Peers, too, hears at most once a tick
	}

	if logging == LogAlone && h.cfg.LogWindow > 0 {
		arrived, left = h.tallyGuests(now, arrived, left)
	}
	if logging != LogShared {
		if len(arrived) > 0 {
			h.newEntry(now, logging, true, arrived)
		}
		if len(left) > 0 {
			h.newEntry(now, logging, false, left)
		}
	}
	if logging == LogAlone {
		h.closeGuestWindow(now)
	}
	if today := utcDay(now); today != h.labelDay {
		// The labels shown say "today" of another day: the first frame of
		// the new day replaces the log whole, so that they read right.
		h.reorder = h.reorder || (h.labelled && len(h.log) > 0)
		h.labelDay, h.labelled = today, true
	}
	h.mergeLog(&d)
	h.tellLogged()
	d.At = now
	// The counts go out when they changed, and whenever someone new is
	// shown, even if someone else's going left the figures as they were:
	// that frame is the one that counts the newcomer (CountedAfter).
	if h.counts != before || showed {
		c := h.counts
		d.Counts = &c
	}
	h.tellSite(&d)
	if h.cfg.Extra != nil {
		if f := h.cfg.Extra(); f != nil {
			h.replacement, h.attached = f, f
		}
	}
	d.Extra, h.attached = h.attached, nil
	if d.Counts == nil && len(d.Removed)+len(d.Updated)+len(d.Added)+len(d.Logged)+len(d.Relogged) == 0 && !d.LogReplaced {
		if d.Extra != nil { // only the attached frame: as it was rendered
			h.lastFlush = now
			h.broadcast(d.Extra)
		}
		return // changes that cancelled out, such as a reload within one tick
	}
	h.lastFlush = now
	h.snapshot = nil
	frame, err := h.cfg.Render.Diff(d)
	if err != nil {
		h.cfg.Logger.Error("render diff frame", "err", err)
		h.dropAll(ErrRender)
		return
	}
	h.broadcast(frame)
}

// show adds a person who came online to the shown state: a user to the
// list if it has room, else to the end of those waiting for a place.
func (h *Hub) show(p *presence) *shownPerson {
	sp := &shownPerson{person: p.person}
	sp.update(p)
	h.shown[p.person.Key] = sp
	h.counts.People++
	switch {
	case p.person.Guest:
		h.counts.Guests++
	case len(h.listed) < h.cfg.ListLimit:
		h.list(sp)
	default:
		sp.elem = h.unlisted.PushBack(sp)
		h.counts.Unlisted++
	}
	return sp
}

// list gives a shown user their place in the list, in this flush.
func (h *Hub) list(sp *shownPerson) {
	sp.order, sp.inList, sp.listedIn = nameOrder(sp.person.Name), true, h.flushes
	h.listed.add(sp)
}

// hide removes a person who went offline, giving their place in the list to
// the user who has waited longest, whom it returns (nil if none).
func (h *Hub) hide(sp *shownPerson, d *Diff) *shownPerson {
	delete(h.shown, sp.person.Key)
	h.counts.People--
	if sp.person.Guest {
		h.counts.Guests--
		return nil
	}
	if !sp.inList {
		h.unlisted.Remove(sp.elem)
		h.counts.Unlisted--
		return nil
	}
	h.listed.remove(sp)
	sp.inList = false
	if sp.listedIn != h.flushes { // else no frame showed their row
		d.Removed = append(d.Removed, sp.person.Key)
	}
	front := h.unlisted.Front()
	if front == nil {
		return nil
	}
	next := h.unlisted.Remove(front).(*shownPerson)
	next.elem = nil
	h.counts.Unlisted--
	h.list(next)
	return next
}

// Snapshot returns what subscribers are currently shown.
func (h *Hub) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

// SnapshotFor is Snapshot as a page rendered for viewer is to show it: with
// the viewer counted (and listed, if the list has room) unless they are
// shown already, or Invisible. The page is rendered before its live
// connection brings the viewer in; without them counted, the first viewer
// would read "Nobody is here yet" and "0 people online" until its snapshot
// came.
func (h *Hub) SnapshotFor(viewer Person) Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.snapshotLocked()
	if _, shown := h.shown[viewer.Key]; !shown && !viewer.Invisible {
		s = s.counting(viewer, h.cfg.ListLimit)
	}
	return s
}

// counting returns s with viewer, whom it does not show, counted as a
// flush would show them: in their place in the list if it has room.
func (s Snapshot) counting(viewer Person, listLimit int) Snapshot {
	s.Counts.People++
	switch {
	case viewer.Guest:
		s.Counts.Guests++
	case len(s.Users) < listLimit:
		as := func(u User) *shownPerson {
			return &shownPerson{person: Person{Key: u.Key, Name: u.Name}, order: nameOrder(u.Name)}
		}
		me := User{Key: viewer.Key, Name: viewer.Name, Tabs: 1, Status: viewer.Status, Text: viewer.Text}
		i, _ := slices.BinarySearchFunc(s.Users, as(me), func(u User, me *shownPerson) int { return compareListed(as(u), me) })
		s.Users = slices.Insert(slices.Clip(s.Users), i, me)
	default:
		s.Counts.Unlisted++
	}
	return s
}

// Counts returns the figures subscribers are currently shown.
func (h *Hub) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts
}

func (h *Hub) snapshotLocked() Snapshot {
	s := Snapshot{At: h.cfg.Clock.Now(), Counts: h.counts, Users: make([]User, 0, len(h.listed)), Log: make([]Entry, 0, len(h.log))}
	for _, sp := range h.listed {
		s.Users = append(s.Users, sp.user())
	}
	for i := len(h.log) - 1; i >= 0; i-- {
		s.Log = append(s.Log, h.log[i])
	}
	return s
}

// snapshotFrame renders the shown state at most once per frame, however
// many subscribers connect in between.
//
// Its log's labels ("today 09:59 UTC") are relative to when it was
// rendered, so one rendered on an earlier UTC day is rendered again.
func (h *Hub) snapshotFrame() (*Frame, error) {
	if h.snapshot == nil || h.snapshotDay != utcDay(h.cfg.Clock.Now()) {
		s := h.snapshotLocked()
		f, err := h.cfg.Render.Snapshot(s)
		if err != nil {
			return nil, fmt.Errorf("render snapshot: %w", err)
		}
		h.snapshot, h.snapshotDay = f, utcDay(s.At)
	}
	return h.snapshot, nil
}

// utcDay is t's UTC date as days since 1 January 1970 (day 0): the day
// that log labels call "today".
func utcDay(t time.Time) int64 {
	secs := t.Unix()
	if secs < 0 {
		return (secs+1)/86400 - 1
	}
	return secs / 86400
}

// Attach hands the hub a frame rendered elsewhere, for a region of the page
// the hub's own frames never touch (the lobby's Rooms panel). It goes out
// with the hub's next frame, as one message, at most one a tick (a later
// Attach before then replaces it), so a storm of arrivals across rooms
// sends the lobby's viewers one frame a tick, not one for the lobby and one
// for the panel; the rules of every frame hold (a full queue drops the
// subscriber with ErrSlow). The hub keeps the latest and sends it to each
// new subscriber right after its snapshot, so a newcomer sees the region
// as everyone else does.
func (h *Hub) Attach(f *Frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.replacement, h.attached = f, f
	h.scheduleFrame()
}

// Refresh makes sure a flush is coming (at once after a quiet spell, else
// at the next tick), so that Config.Extra is asked for its frame.
func (h *Hub) Refresh() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.scheduleFrame()
	}
}

// broadcast hands the same frame to every subscriber without ever waiting:
// one whose queue is full is dropped and told so.
func (h *Hub) broadcast(f *Frame) {
	for i := 0; i < len(h.subs); {
		if s := h.subs[i]; s.send(f) {
			i++
		} else {
			h.unsubscribe(s) // moves the last subscriber into slot i
			s.end(ErrSlow)
		}
	}
}

func (h *Hub) dropAll(err error) {
	for _, s := range h.subs {
		s.index = -1
		s.end(err)
	}
	clear(h.subs)
	h.subs = h.subs[:0]
}
