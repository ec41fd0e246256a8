package hub

// Subscriptions: one per connection. It holds its person online, receives
// the snapshot and then one frame per change, and is ended by the hub
// (ErrSlow, ErrShutdown, ErrRender) or closed by its owner. Locking: see
// hub.go.

import "errors"

// Errors a subscription ends with; transports map them to close codes.
var (
	ErrSlow     = errors.New("hub: subscriber fell behind")
	ErrShutdown = errors.New("hub: shutting down")
	ErrRender   = errors.New("hub: frame could not be rendered")
)

// Subscription is one connection: it counts its person as online and
// receives frames until it is closed.
type Subscription struct {
	hub      *Hub
	presence *presence
	frames   chan *Frame
	done     chan struct{}
	err      error // why done was closed; set before closing it
	index    int   // position in hub.subs, -1 once removed
	closed   bool  // Close was called
	// invisible: it only views (ConnectWake); presence is nil. Set before
	// the subscription is returned, never changed.
	invisible bool
	wake      func()
	member    *member       // its person as the roster holds them; nil when it holds nobody
	hold      *Subscription // closed with this one: a site's hold on the lobby (Site.Join)
	left      func()        // called once when closed, outside the hub's lock (Site.Join's count)
	// countedAfter: see CountedAfter. Set before the subscription is
	// returned, never changed.
	countedAfter int
}

// Frames delivers the snapshot first, then one frame per change.
func (s *Subscription) Frames() <-chan *Frame { return s.frames }

// CountedAfter is how many frames from Frames a page must have applied
// before the figures it shows count this subscription's person: the
// frames queued on connect when its snapshot counted them already (another
// tab, or a reload within the grace period), else one more, the first
// frame after those, which the hub sends when it first shows the person.
// A page that knows it is counted can say "Only you are here" when the
// count is one, without any frame saying who is looking. Zero for a
// subscription that ended before it began.
func (s *Subscription) CountedAfter() int { return s.countedAfter }

// Invisible reports whether the subscription only views: its person
// connected invisible (Person.Invisible), so nobody else can tell they are
// there. Their page says so.
func (s *Subscription) Invisible() bool { return s.invisible }

// Done is closed when the hub ends the subscription; Err then says why.
// The owner must still call Close.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err reports why Done was closed: ErrSlow, ErrShutdown or ErrRender.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Connect adds a connection for person and subscribes it. Its first frame is
// a snapshot of what everyone currently sees; the frames that follow are
// diffs from it. The caller must Close the subscription.
func (h *Hub) Connect(person Person) *Subscription { return h.ConnectWake(person, nil) }

// ConnectWake is Connect for an owner that does not wait on Frames in a
// goroutine of its own: the hub calls wake after queueing each frame and
// when it ends the subscription. wake runs with the hub locked, so it must
// return at once and must not call the hub.
//
// A person who is Invisible only views: the subscription gets the
// snapshot and every frame as anyone does, but the person is counted,
// listed, logged and held nowhere (not in Held, so no other instance
// hears of them either), and Active does nothing. Its CountedAfter is
// zero: no frame ever counts them.
func (h *Hub) ConnectWake(person Person, wake func()) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.endedLocked(ErrShutdown, wake)
	}
	s := &Subscription{hub: h, frames: make(chan *Frame, h.cfg.QueueSize), done: make(chan struct{}), index: -1, wake: wake,
		invisible: person.Invisible}
	h.open++
	// The snapshot shows what everyone is shown: it counts the person only
	// if they were shown before this connection.
	_, shown := h.shown[person.Key]
	snap, err := h.snapshotFrame()
	if err != nil {
		s.end(ErrRender)
	} else {
		s.send(snap)
		s.countedAfter = 1
		s.index = len(h.subs)
		h.subs = append(h.subs, s)
		if h.replacement != nil {
			if !s.send(h.replacement) {
				h.unsubscribe(s)
				s.end(ErrSlow) // a queue of one: the region it replaces could never be shown
			}
			s.countedAfter++
		}
		if !shown {
			s.countedAfter++ // attach marks the person: the next flush shows them, with the counts
		}
	}
	if s.invisible {
		s.countedAfter = 0
		return s
	}
	h.attach(s, person)
	return s
}

// Hold counts person as online for as long as the hold is open, like a
// connection that receives nothing: its Frames channel is nil and the hub
// never ends it (its owner learns of a shutdown from the connection it goes
// with, and must still Close it). Close releases it with the grace period,
// Leave without. A site holds a person in the lobby this way while they
// have a tab in some room. An Invisible person is held nowhere: the hold
// does nothing.
func (h *Hub) Hold(person Person) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return h.endedLocked(ErrShutdown, nil)
	}
	if person.Invisible {
		return &Subscription{hub: h, done: make(chan struct{}), index: -1, closed: true, invisible: true}
	}
	s := &Subscription{hub: h, done: make(chan struct{}), index: -1}
	h.open++
	h.attach(s, person)
	return s
}

// ended returns a subscription that ended with err before it began: it
// holds nobody and its owner's Close does nothing.
func (h *Hub) ended(err error, wake func()) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.endedLocked(err, wake)
}

func (h *Hub) endedLocked(err error, wake func()) *Subscription {
	s := &Subscription{hub: h, frames: make(chan *Frame), done: make(chan struct{}), index: -1, closed: true, wake: wake}
	s.end(err)
	return s
}

// attach gives s's person one more connection, ending their grace period.
// The first that brings them onto this instance sets their status.
func (h *Hub) attach(s *Subscription, person Person) {
	p := h.live[person.Key]
	if p == nil {
		p = &presence{person: person}
		h.live[person.Key] = p
	}
	if p.member == nil {
		p.member = h.roster.join(h, person)
	}
	s.presence, s.member = p, p.member
	p.conns++
	if p.grace != nil {
		p.grace.Stop()
		p.grace = nil
	}
	h.markDirty(p)
}

// Close ends the connection: it stops receiving frames, and its person goes
// offline after the grace period unless another connection holds them.
// Close is idempotent. A room's connection from Site.Join releases its
// hold on the lobby too, with the lobby's grace period.
func (s *Subscription) Close() {
	if s.close(true) && s.left != nil {
		s.left()
	}
	if s.hold != nil {
		s.hold.close(true) // after the room's lock is released: hubs' locks never nest
	}
}

// Leave is Close without the grace period: the connection no longer speaks
// for its person (their session ended), so unless another connection holds
// them they go offline with the next frame. A room's connection releases
// its hold on the lobby without grace too.
func (s *Subscription) Leave() {
	if s.close(false) && s.left != nil {
		s.left()
	}
	if s.hold != nil {
		s.hold.close(false)
	}
}

// close reports whether it closed s (false: it was closed already).
func (s *Subscription) close(withGrace bool) bool {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	h.unsubscribe(s)
	h.open--
	if h.closed {
		if h.open == 0 {
			close(h.drained)
		}
		return true
	}
	p := s.presence
	if p == nil { // invisible: it held nobody
		if h.cfg.Emptied != nil && len(h.live) == 0 {
			h.cfg.Emptied() // its room may have been kept for it alone
		}
		return true
	}
	p.conns--
	if p.conns > 0 {
		h.markDirty(p)
		return true
	}
	p.lastConn = h.cfg.Clock.Now()
	if h.cfg.Grace == 0 || !withGrace {
		h.markDirty(p)
		return true
	}
	p.graceGen++
	gen := p.graceGen
	p.grace = h.cfg.Clock.AfterFunc(h.cfg.Grace, func() { h.graceOver(p, gen) })
	// Nothing shown changes yet, but Peers must learn the person has no
	// connection here: within a tick, so a reload inside it tells nothing.
	h.mark(p)
	h.scheduleLazy()
	return true
}

// end signals the subscription's owner; the caller holds the hub's lock.
func (s *Subscription) end(err error) {
	select {
	case <-s.done:
	default:
		s.err = err
		close(s.done)
		if s.wake != nil {
			s.wake()
		}
	}
}

// send queues f without waiting and reports whether there was room; the
// caller holds the hub's lock.
func (s *Subscription) send(f *Frame) bool {
	select {
	case s.frames <- f:
		if s.wake != nil {
			s.wake()
		}
		return true
	default:
		return false
	}
}

func (h *Hub) unsubscribe(s *Subscription) {
	i := s.index
	if i < 0 {
		return
	}
	last := len(h.subs) - 1
	h.subs[i] = h.subs[last]
	h.subs[i].index = i
	h.subs[last] = nil
	h.subs = h.subs[:last]
	s.index = -1
}
