// Package hub keeps track of who is online and tells every subscriber what
// changed. It knows people, connections, diffs, ticks and subscribers, and
// nothing of HTTP: the Renderer it is given turns diffs into bytes.
package hub

// The state is split by concern, one file each, all in this package:
//
//	hub.go           Config, the Hub's state, New, Close; the lock discipline
//	subscription.go  a connection: Connect, Hold, Close/Leave, its frame queue
//	presence.go      a person's live state, here and elsewhere; marking changes
//	roster.go        the people this instance holds, across a Site's hubs:
//	                 the status they set by hand
//	away.go          away by itself: activity, one timer per person
//	grace.go         the grace period after a person's last connection closed
//	frames.go        frames and ticks: coalescing, flush, shown state, fan-out,
//	                 Attach
//	listed.go        the list's order (by name) and where a new row goes
//	log.go           the activity log: entries, shared and provisional IDs
//	remote.go        remote instances, and what Peers.Changed is told
//	peers.go         Peers, the seam to the other instances of a cluster
//	room_name.go     RoomName: what a room may be called
//	site.go          Site: the rooms (a Hub each), the lobby, Join, forgetting
//	                 an empty room
//	panel.go         the Rooms panel: a room's summary, the busiest rooms
//
// Lock discipline. A Hub (one per room, and the lobby) has one mutex, h.mu,
// which guards all of its state: the Hub's fields, every presence and
// shownPerson, and a Subscription's closed, index and err. A Site has two:
// s.mu guards its rooms map, counts and closed flag, and s.panelMu the
// panel's state (summaries, emptied rooms, the panel timer, the last panel).
// The roster (one per Site, or per Hub on its own) has r.mu, which guards
// its members map and each member's hubs and away timer; a member's
// status set by hand and its activity (last, away, idle) are atomic
// values, read by hubs and by Subscription.Active without r.mu.
//
//   - Order: s.mu before any h.mu; any h.mu before s.panelMu and r.mu;
//     nothing is taken under s.panelMu or r.mu (but the Clock's own lock,
//     in AfterFunc and Stop). Two hubs' locks are never held together: a
//     Join connects to its room and then holds the lobby, one after the
//     other, and Subscription.Close releases the room before the lobby
//     hold; the roster tells the hubs of a member's change (SetStatus,
//     away, back) one after the other, with r.mu released first.
//   - Every exported method that reads or changes a hub's state takes h.mu
//     for its whole run: Connect/ConnectWake, Hold, Subscription.Close/Leave,
//     Attach, Refresh, AddEntries, Renumber, Provisional, Held, ApplyRemote,
//     ReplaceRemote, ForgetRemote, Snapshot, Counts, Closed and Close
//     (Shutdown through Close). LogSize and LogWindow read only cfg,
//     which never changes after New, and Subscription.Frames, Done and Err
//     read channels; they take nothing (err is set before done is closed).
//     SetStatus (Hub's and Site's) takes r.mu and then each hub's h.mu in
//     turn; Subscription.Active takes nothing unless the person was away,
//     and then does as SetStatus does.
//   - Every other Hub method runs with h.mu already held and never takes it
//     (the mutex is not reentrant), save Subscription.close, which is Close
//     and Leave, closeIfEmpty, empty, ended, and the timers' funcs.
//   - Timers' funcs (the flush timer's, graceOver, the guest window's, the
//     Site's flushPanel, a member's away timer)
//     run in a goroutine of the Clock and take their locks themselves.
//     Stopping a timer can lose the race with a func already waiting for
//     the lock, so each checks h.closed and its generation (flushGen,
//     graceGen, the guest window's gen, the member's gen), or
//     s.panelClosed or the member's gone, before it acts.
//   - Callbacks run under h.mu: Peers.Changed and Peers.Logging, a
//     subscription's wake, Config.Summary, Config.Emptied, Config.Extra,
//     Config.Logged, Config.Departed, the Renderer, the Clock and the
//     Logger. Peers, wake, Summary, Emptied, Extra, Logged and Departed
//     must return at once, and none of them may call the hub (a Site's
//     Logged, Forgotten and Departed hand their news to a queue and
//     return). A
//     Site's Extra (the lobby's) takes s.panelMu and renders the panel
//     there, in the lobby's flush. Its Summary and
//     Emptied only take s.panelMu, note the news and set the panel timer:
//     forgetting a room needs s.mu, which is never taken under a hub's lock,
//     so it waits for flushPanel, which takes s.mu and then (closeIfEmpty)
//     the room's h.mu.
//   - Nothing waits under a lock: a frame is queued with a send that never
//     blocks (a full queue drops the subscriber with ErrSlow), the hub does
//     no I/O of its own, and Shutdown waits for the subscriptions' owners
//     outside the lock. The Site's panel timer asks the lobby for a flush
//     (Refresh, which may flush the lobby) after releasing s.mu; Join does
//     not hold s.mu while it connects (room.joining
//     keeps the room meanwhile), nor Remote while it applies a cluster's
//     changes (room.applying).

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
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
	// LogWindow, optional, makes the log this hub writes alone (LogAlone)
	// worth reading: guests are summarised once per window ("3 guests
	// came and went"), and a user's arrival or departure joins the newest
	// entry when it says the same of users, began within the window and
	// nothing was logged since (a burst). Zero: every frame's changes are
	// an entry of their own, guests named with the users. In a cluster
	// (LogShared) the hub writes nothing: the cluster summarises guests
	// the same way in the log it shares (it reads Hub.LogWindow), and
	// bursts are not collapsed.
	LogWindow time.Duration
	// QueueSize is how many frames a subscriber may fall behind before it
	// is dropped with ErrSlow.
	QueueSize int
	// AwayAfter, optional, is how long a person this hub holds may go
	// without activity (Subscription.Active) in any of their tabs before
	// they show as away; zero: never by themselves. A Site's hubs take
	// SiteConfig.AwayAfter instead, as activity anywhere in the site
	// counts.
	AwayAfter time.Duration
	// Peers, optional, links this hub to the other instances of a cluster:
	// it is told what this instance holds and says who numbers the log.
	// Alone{} when nil.
	Peers Peers

	// Summary, optional, is told a room's summary (its Name left empty)
	// whenever a frame changed it: for a Site's Rooms panel. Emptied,
	// optional, is told after a flush that left nobody in the hub, so that
	// a Site may forget the room. Both run under the hub's lock: they must
	// return at once and must not call the hub.
	Summary func(RoomSummary)
	Emptied func()
	// Logged, optional, is told after a frame the entries this hub wrote
	// or changed (a burst) for it, oldest first, as they now read: for
	// keeping the log across restarts. Entries given by AddEntries are
	// not told. It runs under the hub's lock: it must return at once and
	// must not call the hub. The entries' Names are never changed after.
	Logged func([]Entry)
	// Extra, optional, is asked at every flush for a frame rendered
	// elsewhere, for a region of the page the hub's own frames never touch
	// (a Site's Rooms panel, in the lobby); nil when there is none. The
	// frame goes out as Attach's does. It runs under the hub's lock: it
	// must return at once and must not call the hub.
	Extra func() *Frame
	// Departed, optional, is told once when a signed-in person's presence
	// here really ends: this hub held them (a connection, or a grace
	// period) and no longer does, their grace period over without a new
	// connection, or Leave. A reload within the grace period tells
	// nothing; guests and invisible people are never told of. at is when
	// their last connection here closed: when they were last seen. It runs
	// under the hub's lock: it must return at once (hand the write to a
	// queue) and must not call the hub. A Site tells it from the lobby
	// alone (SiteConfig.Departed), once per person however many rooms
	// they were in.
	Departed func(person Person, at time.Time)

	// roster, set by a Site, is shared by its lobby and rooms; a hub on
	// its own has one of its own.
	roster *roster
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
	listed   userList  // users named in the list, in its order (by name)
	unlisted list.List // of *shownPerson, users waiting for a place in the list, longest first
	flushes  uint64    // flushes so far: tells what was listed in this one
	counts   Counts
	log      []Entry  // sorted by ID, oldest first, at most cfg.LogSize
	nextID   uint64   // the last ID this hub wrote, or was given, below ProvisionalBase
	nextProv uint64   // the last provisional ID this hub wrote
	pending  []Entry  // entries for the next frame (written here or given), sorted by ID
	reorder  bool     // Renumber moved a shown entry: the next frame replaces the log whole
	relogged []uint64 // shown entries a burst changed since the last frame, by ID
	written  []uint64 // entries this hub wrote or changed since the last frame, for Config.Logged
	guests   guestTally

	// Fan-out.
	subs     []*Subscription
	open     int    // subscriptions not yet closed by their owner
	snapshot *Frame // rendered shown state; nil once a frame changed it
	// snapshotDay is the UTC day snapshot was rendered on (utcDay), and
	// labelDay that of the last frame (once labelled): log labels say
	// "today" of it.
	snapshotDay, labelDay int64
	labelled              bool
	lastFlush             time.Time // when the last frame went out or Peers was last told
	flushTimer            Timer     // pending frame, nil when none is scheduled
	flushLazy             bool      // flushTimer was set by scheduleLazy
	flushGen              uint64    // tells a stopped flush timer from the current one
	// replacement is the latest Attach frame, sent to each new
	// subscriber after its snapshot; nil before the first.
	replacement *Frame
	attached    *Frame      // the latest Attach frame, for the next flush
	summary     RoomSummary // what Config.Summary was last told

	roster *roster // the people this instance holds, in this hub and the hubs sharing it

	closed  bool
	drained chan struct{} // closed when closed and open == 0
}

// New returns a hub ready for subscribers.
func New(cfg Config) (*Hub, error) {
	if cfg.Render == nil {
		return nil, errors.New("hub: no renderer")
	}
	if err := cfg.check(); err != nil {
		return nil, err
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
	r := cfg.roster
	if r == nil {
		r = newRoster(cfg.Clock, cfg.AwayAfter)
	}
	return &Hub{
		cfg:      cfg,
		roster:   r,
		nextProv: ProvisionalBase,
		live:     make(map[string]*presence),
		remotes:  make(map[string]map[string]*presence),
		shown:    make(map[string]*shownPerson),
		drained:  make(chan struct{}),
	}, nil
}

// check reports figures that cannot work.
func (cfg Config) check() error {
	if cfg.Tick <= 0 || cfg.Grace < 0 || cfg.ListLimit < 0 || cfg.LogSize <= 0 || cfg.QueueSize <= 0 || cfg.LogWindow < 0 || cfg.AwayAfter < 0 {
		return fmt.Errorf("hub: invalid config: tick %v, grace %v, list limit %d, log size %d, queue %d, log window %v, away after %v",
			cfg.Tick, cfg.Grace, cfg.ListLimit, cfg.LogSize, cfg.QueueSize, cfg.LogWindow, cfg.AwayAfter)
	}
	return nil
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
	h.closeLocked()
}

// closeIfEmpty closes the hub if nobody is in it (connected, in their
// grace period, or held elsewhere) and reports whether it is closed: a
// Site forgets such a room.
func (h *Hub) closeIfEmpty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.live) > 0 || h.open > 0 {
		return false
	}
	h.closeLocked()
	return true
}

// empty reports whether nobody is in the hub and no subscription is open.
func (h *Hub) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live) == 0 && h.open == 0
}

func (h *Hub) closeLocked() {
	if h.closed {
		return
	}
	h.closed = true
	if h.flushTimer != nil {
		h.flushTimer.Stop()
		h.flushTimer = nil
	}
	if h.guests.timer != nil {
		h.guests.timer.Stop()
		h.guests.timer = nil
	}
	for _, p := range h.live {
		if p.grace != nil {
			p.grace.Stop()
			p.grace = nil
		}
		p.release(h)
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
