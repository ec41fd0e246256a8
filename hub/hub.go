// Package hub keeps track of who is online and tells every subscriber what
// changed. It knows people, connections, diffs, ticks and subscribers, and
// nothing of HTTP: the Renderer it is given turns diffs into bytes.
package hub

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Errors a subscription ends with; transports map them to close codes.
var (
	ErrSlow     = errors.New("hub: subscriber fell behind")
	ErrShutdown = errors.New("hub: shutting down")
	ErrRender   = errors.New("hub: frame could not be rendered")
)

// Config sets the hub's behaviour. Every field is required unless noted.
type Config struct {
	Render Renderer
	Clock  Clock        // SystemClock{} when nil
	Logger *slog.Logger // slog.Default() when nil

	// Tick is the shortest time between two frames. The first change after
	// a quiet spell goes out at once; later ones wait for the next tick and
	// go out together.
	Tick time.Duration
	// Grace is how long a person whose last connection closed still counts
	// as online, so that a page reload announces nothing.
	Grace time.Duration
	// ListLimit is how many users the list names; the rest are counted.
	ListLimit int
	// LogSize is how many activity entries are kept.
	LogSize int
	// QueueSize is how many frames a subscriber may fall behind before it
	// is dropped with ErrSlow.
	QueueSize int
	// Peers, optional, links this hub to the other instances of a cluster:
	// it is told what this instance holds and says who numbers the log.
	// Alone{} when nil.
	Peers Peers
}

// Hub holds the presence state and the subscribers. It is safe for
// concurrent use. Two states are kept: the live one (who is connected now)
// and the shown one (what the last frame told subscribers); a frame is the
// difference between the two.
type Hub struct {
	cfg Config

	mu sync.Mutex

	// Live state.
	live    map[string]*presence
	dirty   []*presence
	remotes map[string]map[string]*presence // instance → person key → presence it reports

	// Shown state.
	shown    map[string]*shownPerson
	listed   list.List // of *shownPerson, users named in the list
	unlisted list.List // of *shownPerson, users waiting for a place in the list
	counts   Counts
	log      []Entry // sorted by ID, oldest first, at most cfg.LogSize
	nextID   uint64  // the last ID this hub wrote, or was given, below ProvisionalBase
	nextProv uint64  // the last provisional ID this hub wrote
	pending  []Entry // entries for the next frame (written here or given), sorted by ID
	reorder  bool    // Renumber moved a shown entry: the next frame replaces the log whole

	// Fan-out.
	subs       []*Subscription
	open       int       // subscriptions not yet closed by their owner
	snapshot   *Frame    // rendered shown state; nil once a frame changed it
	lastFlush  time.Time // when the last frame went out or Peers was last told
	flushTimer Timer     // pending frame, nil when none is scheduled
	flushLazy  bool      // flushTimer was set by scheduleLazy
	flushGen   uint64    // tells a stopped flush timer from the current one

	closed  bool
	drained chan struct{} // closed when closed and open == 0
}

// presence is a person's live state.
type presence struct {
	person   Person
	conns    int
	grace    Timer          // set while the person has no connection but still counts
	graceGen uint64         // tells a stale grace timer from the current one
	remote   map[string]int // instance → connections there, for people other instances hold
	quiet    bool           // was online before this instance knew: show without logging an arrival
	dirty    bool

	// What Peers.Changed was last told of this person.
	reported      bool // told they are held here (and not told Gone since)
	reportedConns int
}

func (p *presence) online() bool { return p.conns > 0 || p.grace != nil || len(p.remote) > 0 }

// local reports whether this instance holds the person, counting its grace
// period.
func (p *presence) local() bool { return p.conns > 0 || p.grace != nil }

// tabs is how many connections the person has, here and elsewhere; one at
// least while they count as online.
func (p *presence) tabs() int {
	n := p.conns
	for _, c := range p.remote {
		n += c
	}
	return max(n, 1)
}

// shownPerson is a person as the last frame showed them.
type shownPerson struct {
	person Person
	tabs   int
	elem   *list.Element // in listed or unlisted; nil for guests
	inList bool
}

// New returns a hub ready for subscribers.
func New(cfg Config) (*Hub, error) {
	if cfg.Render == nil {
		return nil, errors.New("hub: no renderer")
	}
	if cfg.Tick <= 0 || cfg.Grace < 0 || cfg.ListLimit < 0 || cfg.LogSize <= 0 || cfg.QueueSize <= 0 {
		return nil, fmt.Errorf("hub: invalid config: tick %v, grace %v, list limit %d, log size %d, queue %d",
			cfg.Tick, cfg.Grace, cfg.ListLimit, cfg.LogSize, cfg.QueueSize)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Peers == nil {
		cfg.Peers = Alone{}
	}
	return &Hub{
		cfg:      cfg,
		nextProv: ProvisionalBase,
		live:     make(map[string]*presence),
		remotes:  make(map[string]map[string]*presence),
		shown:    make(map[string]*shownPerson),
		drained:  make(chan struct{}),
	}, nil
}

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
	wake     func()
}

// Frames delivers the snapshot first, then one frame per change.
func (s *Subscription) Frames() <-chan *Frame { return s.frames }

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
func (h *Hub) ConnectWake(person Person, wake func()) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &Subscription{hub: h, frames: make(chan *Frame, h.cfg.QueueSize), done: make(chan struct{}), index: -1, wake: wake}
	if h.closed {
		s.closed = true
		s.end(ErrShutdown)
		return s
	}
	h.open++
	snap, err := h.snapshotFrame()
	if err != nil {
		s.end(ErrRender)
	} else {
		s.send(snap)
		s.index = len(h.subs)
		h.subs = append(h.subs, s)
	}

	p := h.live[person.Key]
	if p == nil {
		p = &presence{person: person}
		h.live[person.Key] = p
	}
	s.presence = p
	p.conns++
	if p.grace != nil {
		p.grace.Stop()
		p.grace = nil
	}
	h.markDirty(p)
	return s
}

// Close ends the connection: it stops receiving frames, and its person goes
// offline after the grace period unless another connection holds them.
// Close is idempotent.
func (s *Subscription) Close() { s.close(true) }

// Leave is Close without the grace period: the connection no longer speaks
// for its person (their session ended), so unless another connection holds
// them they go offline with the next frame.
func (s *Subscription) Leave() { s.close(false) }

func (s *Subscription) close(withGrace bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	h.unsubscribe(s)
	h.open--
	if h.closed {
		if h.open == 0 {
			close(h.drained)
		}
		return
	}
	p := s.presence
	p.conns--
	if p.conns > 0 {
		h.markDirty(p)
		return
	}
	if h.cfg.Grace == 0 || !withGrace {
		h.markDirty(p)
		return
	}
	p.graceGen++
	gen := p.graceGen
	p.grace = h.cfg.Clock.AfterFunc(h.cfg.Grace, func() { h.graceOver(p, gen) })
	// Nothing shown changes yet, but Peers must learn the person has no
	// connection here: within a tick, so a reload inside it tells nothing.
	h.mark(p)
	h.scheduleLazy()
}

// graceOver takes a person offline once their grace period passed without a
// new connection.
func (h *Hub) graceOver(p *presence, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || p.graceGen != gen || p.grace == nil {
		return
	}
	p.grace = nil
	h.markDirty(p)
}

// AddEntries merges entries into the log by ID: an entry whose ID is
// already held (shown or about to be) is skipped, and one older than the
// newest held is inserted in order, not dropped. They go out with the next
// frame; the log keeps the LogSize newest.
func (h *Hub) AddEntries(entries []Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	added := false
	for _, e := range entries {
		if h.holds(e.ID) || (len(h.log) >= h.cfg.LogSize && e.ID < h.log[0].ID) {
			continue // held, or too old to ever be shown
		}
		h.addPending(e)
		if e.ID < ProvisionalBase {
			h.nextID = max(h.nextID, e.ID)
		}
		added = true
	}
	if excess := len(h.pending) - h.cfg.LogSize; excess > 0 {
		// Only the LogSize newest can be shown: the log is never longer.
		clear(h.pending[:excess])
		h.pending = slices.Delete(h.pending, 0, excess)
	}
	if added {
		h.scheduleFrame()
	}
}

// Renumber gives the provisional entry from the shared ID to, once the
// cluster has shared it. The log is re-sorted and the next frame shows it.
// If to is already held (the shared copy arrived first), from is dropped.
func (h *Hub) Renumber(from, to uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || from == to {
		return
	}
	if to < ProvisionalBase {
		h.nextID = max(h.nextID, to)
	}
	held := h.holds(to)
	if i, ok := findEntry(h.pending, from); ok {
		e := h.pending[i]
		h.pending = slices.Delete(h.pending, i, i+1)
		if !held {
			e.ID = to
			h.addPending(e)
		}
		return // not shown yet: the next frame merges it as any other
	}
	i, ok := findEntry(h.log, from)
	if !ok {
		return
	}
	e := h.log[i]
	h.log = slices.Delete(h.log, i, i+1)
	if !held {
		e.ID = to
		j, _ := findEntry(h.log, to)
		h.log = slices.Insert(h.log, j, e)
	}
	h.reorder = true
	h.scheduleFrame()
}

// Provisional returns the entries held with provisional IDs (above
// ProvisionalBase), oldest first: what this instance logged while cut off
// from the cluster.
func (h *Hub) Provisional() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Entry
	for _, entries := range [][]Entry{h.log, h.pending} {
		i, _ := findEntry(entries, ProvisionalBase+1)
		out = append(out, entries[i:]...)
	}
	slices.SortFunc(out, byID)
	return out
}

// LogSize is how many activity entries the hub keeps.
func (h *Hub) LogSize() int { return h.cfg.LogSize }

func byID(a, b Entry) int { return cmp.Compare(a.ID, b.ID) }

// findEntry finds id in entries sorted by ID: its index, or where it would
// go.
func findEntry(entries []Entry, id uint64) (int, bool) {
	return slices.BinarySearchFunc(entries, id, func(e Entry, id uint64) int { return cmp.Compare(e.ID, id) })
}

// holds reports whether an entry with id is shown or about to be.
func (h *Hub) holds(id uint64) bool {
	_, inLog := findEntry(h.log, id)
	_, inPending := findEntry(h.pending, id)
	return inLog || inPending
}

// addPending queues e for the next frame, keeping pending sorted; entries
// mostly come in order, so this is mostly an append.
func (h *Hub) addPending(e Entry) {
	i, _ := findEntry(h.pending, e.ID)
	h.pending = slices.Insert(h.pending, i, e)
}

// Held is a person as one instance holds them: for a cluster backend to
// publish this instance's share and report the others'.
type Held struct {
	Person Person
	Conns  int  // open connections; 0 while the person's grace period runs
	Gone   bool // in a change: the instance no longer holds the person
}

// Held returns the people this instance holds, counting those in their
// grace period.
func (h *Hub) Held() []Held {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Held
	for _, p := range h.live {
		if p.local() {
			out = append(out, Held{Person: p.person, Conns: p.conns})
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
		h.setRemoteConns(p, instance, c.Conns)
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
	if h.closed {
		return
	}
	h.replaceRemote(instance, people, quiet)
	h.scheduleDirty()
}

// ForgetRemote drops everything another instance holds, as when it died.
func (h *Hub) ForgetRemote(instance string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.replaceRemote(instance, nil, false)
	h.scheduleDirty()
}

func (h *Hub) replaceRemote(instance string, people []Held, quiet bool) {
	old := h.remotes[instance]
	next := make(map[string]*presence, len(people))
	for _, held := range people {
		if held.Gone {
			continue
		}
		p := h.presence(held.Person, quiet)
		h.setRemoteConns(p, instance, held.Conns)
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

// setRemoteConns records that instance holds p with conns connections.
func (h *Hub) setRemoteConns(p *presence, instance string, conns int) {
	if p.remote == nil {
		p.remote = make(map[string]int)
	}
	if c, ok := p.remote[instance]; !ok || c != conns {
		p.remote[instance] = conns
		h.mark(p)
	}
}

// Snapshot returns what subscribers are currently shown.
func (h *Hub) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

// Counts returns the figures subscribers are currently shown.
func (h *Hub) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts
}

// Closed reports whether the hub has been closed, i.e. the server is
// draining.
func (h *Hub) Closed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Close ends every subscription with ErrShutdown and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	if h.flushTimer != nil {
		h.flushTimer.Stop()
		h.flushTimer = nil
	}
	for _, p := range h.live {
		if p.grace != nil {
			p.grace.Stop()
			p.grace = nil
		}
	}
	for _, s := range h.subs {
		s.index = -1
		s.end(ErrShutdown)
	}
	h.subs = nil
	if h.open == 0 {
		close(h.drained)
	}
}

// Shutdown closes the hub and waits until every subscription's owner has
// closed it, or ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.Close()
	select {
	case <-h.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hub: waiting for connections to close: %w", ctx.Err())
	}
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
	var d Diff
	var arrived, left []Person
	var held []Held
	before := h.counts
	for _, p := range h.dirty {
		p.dirty = false
		if c, changed := p.report(); changed {
			held = append(held, c)
		}
		sp := h.shown[p.person.Key]
		switch {
		case p.online() && sp == nil:
			if !p.quiet {
				arrived = append(arrived, p.person)
			}
			h.show(p, &d)
		case !p.online() && sp != nil:
			left = append(left, p.person)
			h.hide(sp, &d)
		case sp != nil && sp.inList && sp.tabs != p.tabs():
			sp.tabs = p.tabs()
			d.Updated = append(d.Updated, User{Key: sp.person.Key, Name: sp.person.Name, Tabs: sp.tabs})
		case sp != nil:
			sp.tabs = p.tabs()
		}
		p.quiet = false
		if !p.online() && h.live[p.person.Key] == p {
			delete(h.live, p.person.Key)
		}
	}
	clear(h.dirty)
	h.dirty = h.dirty[:0]
	// Asked before Changed, so that Peers knows how the changes it is
	// about to hear were logged.
	logging := h.cfg.Peers.Logging()
	if len(held) > 0 {
		h.cfg.Peers.Changed(held)
		h.lastFlush = now // Peers, too, hears at most once a tick
	}

	if logging != LogShared {
		if len(arrived) > 0 {
			h.newEntry(now, logging, true, arrived)
		}
		if len(left) > 0 {
			h.newEntry(now, logging, false, left)
		}
	}
	h.mergeLog(&d)
	if h.counts != before {
		c := h.counts
		d.Counts = &c
	}
	if d.Counts == nil && len(d.Removed)+len(d.Updated)+len(d.Added)+len(d.Logged) == 0 && !d.LogReplaced {
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

// report says what Peers must be told of p, if anything changed since it
// was last told, and notes it as told.
func (p *presence) report() (Held, bool) {
	if p.local() {
		if p.reported && p.reportedConns == p.conns {
			return Held{}, false
		}
		p.reported, p.reportedConns = true, p.conns
		return Held{Person: p.person, Conns: p.conns}, true
	}
	if !p.reported {
		return Held{}, false
	}
	p.reported = false
	return Held{Person: p.person, Gone: true}, true
}

// show adds a person who came online to the shown state.
func (h *Hub) show(p *presence, d *Diff) {
	sp := &shownPerson{person: p.person, tabs: p.tabs()}
	h.shown[p.person.Key] = sp
	h.counts.People++
	if p.person.Guest {
		h.counts.Guests++
		return
	}
	if h.listed.Len() < h.cfg.ListLimit {
		sp.elem, sp.inList = h.listed.PushBack(sp), true
		d.Added = append(d.Added, User{Key: sp.person.Key, Name: sp.person.Name, Tabs: sp.tabs})
		return
	}
	sp.elem = h.unlisted.PushBack(sp)
	h.counts.Unlisted++
}

// hide removes a person who went offline, giving their place in the list to
// the user who has waited longest.
func (h *Hub) hide(sp *shownPerson, d *Diff) {
	delete(h.shown, sp.person.Key)
	h.counts.People--
	if sp.person.Guest {
		h.counts.Guests--
		return
	}
	if !sp.inList {
		h.unlisted.Remove(sp.elem)
		h.counts.Unlisted--
		return
	}
	h.listed.Remove(sp.elem)
	d.Removed = append(d.Removed, sp.person.Key)
	if front := h.unlisted.Front(); front != nil {
		next := h.unlisted.Remove(front).(*shownPerson)
		h.counts.Unlisted--
		next.elem, next.inList = h.listed.PushBack(next), true
		d.Added = append(d.Added, User{Key: next.person.Key, Name: next.person.Name, Tabs: next.tabs})
	}
}

// namesPerEntry is how many users an activity entry names before it
// summarises the rest as "and N others".
const namesPerEntry = 3

// newEntry logs people who came or went together, numbered as logging
// says, for the next frame, and hands the entry to Config.Logged.
func (h *Hub) newEntry(at time.Time, logging Logging, arrived bool, people []Person) {
	e := Entry{At: at, Arrived: arrived}
	if logging == LogProvisional {
		// Above every provisional ID held, and never one handed out before
		// (an earlier one may since have been renumbered).
		newest := h.nextProv
		if n := len(h.log); n > 0 {
			newest = max(newest, h.log[n-1].ID)
		}
		if n := len(h.pending); n > 0 {
			newest = max(newest, h.pending[n-1].ID)
		}
		h.nextProv = newest + 1
		e.ID = h.nextProv
	} else {
		h.nextID++
		e.ID = h.nextID
	}
	for _, p := range people {
		switch {
		case p.Guest:
			e.Guests++
		case len(e.Names) < namesPerEntry:
			e.Names = append(e.Names, p.Name)
		default:
			e.Others++
		}
	}
	h.addPending(e)
}

// mergeLog moves the pending entries into the log, trims it to LogSize and
// puts the change in d. In the common case, entries newer than all shown,
// d gets them (Logged) and the IDs that fell off the end (Trimmed); when an
// entry went anywhere else, or Renumber moved one, d carries the whole log
// instead (Log, LogReplaced).
func (h *Hub) mergeLog(d *Diff) {
	added := h.pending
	reorder := h.reorder
	h.reorder = false
	if len(added) == 0 && !reorder {
		return
	}
	var newest uint64 // of the entries shown
	if n := len(h.log); n > 0 {
		newest = h.log[n-1].ID
	}
	switch {
	case len(added) == 0:
	case added[0].ID > newest:
		h.log = append(h.log, added...)
	default:
		merged := make([]Entry, 0, len(h.log)+len(added))
		merged = append(append(merged, h.log...), added...)
		slices.SortFunc(merged, byID)
		h.log = merged
	}
	isNew := func(id uint64) bool {
		_, found := findEntry(added, id)
		return found
	}
	if excess := len(h.log) - h.cfg.LogSize; excess > 0 {
		for _, e := range h.log[:excess] {
			if !isNew(e.ID) { // one added and trimmed in the same frame is never sent
				d.Trimmed = append(d.Trimmed, e.ID)
			}
		}
		clear(h.log[:excess])
		h.log = h.log[excess:]
	}
	for i := len(added) - 1; i >= 0 && len(h.log) > 0 && added[i].ID >= h.log[0].ID; i-- {
		if added[i].ID < newest {
			reorder = true // shown below an entry already shown
		}
		d.Logged = append(d.Logged, added[i])
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	if reorder {
		d.Logged, d.Trimmed = nil, nil
		d.LogReplaced = true
		d.Log = make([]Entry, 0, len(h.log))
		for i := len(h.log) - 1; i >= 0; i-- {
			d.Log = append(d.Log, h.log[i])
		}
	}
}

func (h *Hub) snapshotLocked() Snapshot {
	s := Snapshot{Counts: h.counts, Users: make([]User, 0, h.listed.Len()), Log: make([]Entry, 0, len(h.log))}
	for e := h.listed.Front(); e != nil; e = e.Next() {
		sp := e.Value.(*shownPerson)
		s.Users = append(s.Users, User{Key: sp.person.Key, Name: sp.person.Name, Tabs: sp.tabs})
	}
	for i := len(h.log) - 1; i >= 0; i-- {
		s.Log = append(s.Log, h.log[i])
	}
	return s
}

// snapshotFrame renders the shown state at most once per frame, however
// many subscribers connect in between.
func (h *Hub) snapshotFrame() (*Frame, error) {
	if h.snapshot == nil {
		f, err := h.cfg.Render.Snapshot(h.snapshotLocked())
		if err != nil {
			return nil, fmt.Errorf("render snapshot: %w", err)
		}
		h.snapshot = f
	}
	return h.snapshot, nil
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
