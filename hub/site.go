package hub

// The site: every room of this instance, each a Hub of its own under its
// own lock, created by the first Join and forgotten once empty; the lobby,
// a Hub that holds a person once however many rooms or tabs they have; and
// the Rooms panel (panel.go). Locking: see hub.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Errors Join refuses a room with.
var (
	ErrTooManyRooms = errors.New("hub: as many rooms as allowed already exist")
	ErrNoSuchRoom   = errors.New("hub: no such room")
)

// SiteConfig sets a Site's behaviour. Every field is required unless noted.
type SiteConfig struct {
	// Room is the template of every room's hub. Its Peers must be nil
	// (RoomPeers gives each room its own); Summary and Emptied are the
	// Site's.
	Room Config
	// RoomPeers, optional, returns a room's link to the other instances
	// of a cluster (Config.Peers of the room's hub); Alone{} when nil.
	RoomPeers func(room string) Peers
	// RoomRender, optional, returns a room's renderer (its frames say
	// "joined" and "left"); Room.Render is used when nil.
	RoomRender func(room string) Renderer
	// Lobby is the lobby's hub. Its QueueSize is 2 at least: a newcomer
	// gets the snapshot and the Rooms panel at once.
	Lobby Config
	// MaxRooms, optional, is how many rooms may exist at once; no limit
	// when <= 0.
	MaxRooms int
	// Rooms, optional, are the only room names allowed (each as RoomName
	// returns it); any valid name when nil.
	Rooms []string
	// PanelLimit is how many rooms the panel lists, busiest first; the rest
	// are counted ("+N more rooms").
	PanelLimit int
	// AwayAfter, optional, is how long a person may go without activity
	// in any of their tabs on this instance, in any room or the lobby,
	// before they show as away everywhere here; zero: never by
	// themselves. Room.AwayAfter and Lobby.AwayAfter must be zero.
	AwayAfter time.Duration
	// RenderPanel renders the Rooms panel as one frame that replaces the
	// whole panel (an out-of-band swap). It is called at most once per
	// lobby tick, and once by NewSite for the empty panel.
	RenderPanel func(Panel) (*Frame, error)

	// Keeping the log across restarts, all optional. History is each
	// room's log as last kept (the lobby's under ""), oldest first: the
	// lobby starts with its own, and a room created later with its, once.
	// Logged is told the entries a room's hub (or the lobby's, room "")
	// wrote or changed (Config.Logged), and Forgotten a room forgotten
	// once empty, whose log goes with it, as a cluster's does. Both run
	// under a lock (a hub's, or s.mu): they must return at once and must
	// not call the site or a hub.
	History   map[string][]Entry
	Logged    func(room string, entries []Entry)
	Forgotten func(room string)

	// Departed, optional, is the lobby's Config.Departed: told once when
	// a signed-in person's presence on this instance really ends (their
	// grace period over without a new connection anywhere here), however
	// many rooms they were in; for keeping when they were last seen. It
	// runs under the lobby's lock: it must return at once and must not
	// call the site or a hub. Room.Departed and Lobby.Departed must be
	// nil.
	Departed func(person Person, at time.Time)
}

// Site is every room of this instance, the lobby, and the Rooms panel. It
// is safe for concurrent use.
type Site struct {
	cfg     SiteConfig
	allowed map[string]bool // SiteConfig.Rooms as a set; nil when any name goes
	lobby   *Hub
	roster  *roster // shared by the lobby and every room
	clock   Clock   // the lobby's: the panel ticks with it
	logger  *slog.Logger

	mu    sync.Mutex       // guards rooms, inUse, history and closed; taken before a hub's lock, never under one
	rooms map[string]*room // a room exists while someone is in it, or in its grace period
	// history is the rooms' logs from SiteConfig.History not yet given
	// to a room.
	history map[string][]Entry
	inUse   int // rooms with a connection or a Join on its way (room.inUse)
	closed  bool

	// The panel's state, guarded by panelMu: the innermost lock, taken by
	// the rooms' callbacks under their hub's lock.
	panelMu     sync.Mutex
	summaries   map[string]RoomSummary // rooms that show someone, by name
	emptied     map[string]bool        // rooms that told Emptied since the last panel flush
	changed     bool                   // summaries changed since the panel was last rendered
	panelTimer  Timer                  // the pending panel flush, nil when none
	lastPanel   time.Time              // when the last panel flush began
	panel       Panel                  // as last rendered
	panelClosed bool

	// entered, nil but in tests, runs in Join between finding the room and
	// connecting to it: where a room may be forgotten under a Join's feet.
	entered func()
}

// room is one room's hub and the Joins on their way into it.
type room struct {
	hub *Hub
	// joining counts Joins that found the room and have not yet connected
	// to it: an empty room is not forgotten under their feet.
	joining int
	// members counts the room's connections from Join not yet closed. A
	// room is in use while joining + members > 0; only rooms in use count
	// against MaxRooms, so rooms kept for their grace period alone cannot
	// be piled up by someone opening and closing connections to new names
	// to keep everyone else out of new rooms.
	members int
	// applying counts Remote calls at work on the room: it is not
	// forgotten under them either, but it is not in use (nobody here is in
	// it), so it does not count against MaxRooms.
	applying int
}

func (r *room) inUse() bool { return r.joining+r.members > 0 }

// NewSite returns a site with no rooms and an empty Rooms panel.
func NewSite(cfg SiteConfig) (*Site, error) {
	switch {
	case cfg.RenderPanel == nil:
		return nil, errors.New("hub: site: no panel renderer")
	case cfg.PanelLimit <= 0:
		return nil, fmt.Errorf("hub: site: panel limit %d, want 1 or more", cfg.PanelLimit)
	case cfg.Room.Render == nil && cfg.RoomRender == nil:
		return nil, errors.New("hub: site: no room renderer")
	case cfg.Room.Peers != nil:
		return nil, errors.New("hub: site: a room's Peers comes from RoomPeers, not from the template")
	case cfg.Lobby.Extra != nil:
		return nil, errors.New("hub: site: the lobby's Extra is the Rooms panel")
	case cfg.Room.Departed != nil || cfg.Lobby.Departed != nil:
		return nil, errors.New("hub: site: Departed is the site's, told from the lobby alone")
	case cfg.Room.AwayAfter != 0 || cfg.Lobby.AwayAfter != 0:
		return nil, errors.New("hub: site: AwayAfter is the site's, not a room's or the lobby's: activity anywhere counts")
	case cfg.AwayAfter < 0:
		return nil, fmt.Errorf("hub: site: away after %v, want 0 (never) or more", cfg.AwayAfter)
	case cfg.Lobby.QueueSize < 2:
		return nil, fmt.Errorf("hub: site: lobby queue %d, want 2 or more (the snapshot and the panel)", cfg.Lobby.QueueSize)
	}
	if err := cfg.Room.check(); err != nil {
		return nil, fmt.Errorf("room: %w", err)
	}
	var allowed map[string]bool
	if cfg.Rooms != nil {
		allowed = make(map[string]bool, len(cfg.Rooms))
		for _, name := range cfg.Rooms {
			if folded, err := RoomName(name); err != nil || folded != name {
				return nil, fmt.Errorf("hub: site: room %q: %w", name, ErrRoomName)
			}
			allowed[name] = true
		}
	}
	clock := cfg.Lobby.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	s := &Site{
		cfg:       cfg,
		roster:    newRoster(clock, cfg.AwayAfter),
		allowed:   allowed,
		rooms:     make(map[string]*room),
		summaries: make(map[string]RoomSummary),
		emptied:   make(map[string]bool),
	}
	lobbyCfg := cfg.Lobby
	lobbyCfg.Extra = s.pullPanel
	lobbyCfg.roster = s.roster
	lobbyCfg.Departed = cfg.Departed
	if cfg.Logged != nil {
		lobbyCfg.Logged = func(entries []Entry) { cfg.Logged("", entries) }
	}
	lobby, err := New(lobbyCfg)
	if err != nil {
		return nil, fmt.Errorf("lobby: %w", err)
	}
	s.history = make(map[string][]Entry, len(cfg.History))
	for name, entries := range cfg.History {
		if name == "" {
			lobby.AddEntries(entries)
		} else if len(entries) > 0 {
			s.history[name] = entries
		}
	}
	s.lobby, s.clock, s.logger = lobby, lobby.cfg.Clock, lobby.cfg.Logger
	f, err := cfg.RenderPanel(Panel{})
	if err != nil {
		return nil, fmt.Errorf("hub: site: render the empty panel: %w", err)
	}
	lobby.Attach(f) // nobody is there yet: kept for the first viewers
	return s, nil
}

// Lobby is the site-wide hub: lobby viewers Connect to it (and count as
// online); a person with a tab in any room is held in it (Join).
func (s *Site) Lobby() *Hub { return s.lobby }

// Join connects person to room, creating the room if it does not exist:
// the subscription is a connection to the room's hub, as ConnectWake, and
// also holds the person in the lobby. Its Close releases the hold with the
// lobby's grace period, Leave without. An Invisible person only views the
// room: they are held nowhere, in the room or the lobby. room must be a name as RoomName
// returns it (ErrRoomName otherwise). A new room is refused with
// ErrNoSuchRoom when it is not one of SiteConfig.Rooms, and with
// ErrTooManyRooms when MaxRooms exist; rooms that exist keep working.
func (s *Site) Join(room string, person Person, wake func()) (*Subscription, error) {
	if folded, err := RoomName(room); err != nil || folded != room {
		return nil, fmt.Errorf("hub: join %q: %w", room, ErrRoomName)
	}
	r, err := s.enter(room)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return s.lobby.ended(ErrShutdown, wake), nil
	}
	if s.entered != nil {
		s.entered()
	}
	sub := r.hub.ConnectWake(person, wake)
	s.mu.Lock()
	r.joining--
	r.members++
	s.mu.Unlock()
	if !person.Invisible { // an invisible viewer holds nothing in the lobby
		sub.hold = s.lobby.Hold(person)
	}
	sub.left = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.members--; !r.inUse() {
			s.inUse--
		}
	}
	return sub, nil
}

// enter finds or creates a room for a Join and keeps it from being
// forgotten until the Join has connected; nil when the site is closed.
func (s *Site) enter(name string) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil
	}
	r := s.rooms[name]
	if r == nil {
		if s.allowed != nil && !s.allowed[name] {
			return nil, fmt.Errorf("hub: join %q: %w", name, ErrNoSuchRoom)
		}
		if s.cfg.MaxRooms > 0 && s.inUse >= s.cfg.MaxRooms {
			return nil, fmt.Errorf("hub: join %q: %w (%d)", name, ErrTooManyRooms, s.cfg.MaxRooms)
		}
		h, err := s.newRoom(name)
		if err != nil {
			return nil, err
		}
		r = &room{hub: h}
		s.rooms[name] = r
	}
	if !r.inUse() {
		s.inUse++
	}
	r.joining++
	return r, nil
}

// newRoom makes a room's hub, with its log as last kept if the site
// started with one. The caller holds s.mu.
func (s *Site) newRoom(name string) (*Hub, error) {
	h, err := New(s.roomConfig(name))
	if err != nil {
		return nil, fmt.Errorf("hub: room %q: %w", name, err)
	}
	if entries, ok := s.history[name]; ok {
		delete(s.history, name)
		h.AddEntries(entries)
	}
	return h, nil
}

// roomConfig is the template with the room's renderer and the callbacks
// that tell the site about it.
func (s *Site) roomConfig(name string) Config {
	cfg := s.cfg.Room
	if s.cfg.RoomRender != nil {
		cfg.Render = s.cfg.RoomRender(name)
	}
	if s.cfg.RoomPeers != nil {
		cfg.Peers = s.cfg.RoomPeers(name)
	}
	cfg.Summary = func(sum RoomSummary) {
		sum.Name = name
		s.summaryChanged(sum)
	}
	cfg.Emptied = func() { s.roomEmptied(name) }
	cfg.roster = s.roster
	if s.cfg.Logged != nil {
		cfg.Logged = func(entries []Entry) { s.cfg.Logged(name, entries) }
	}
	return cfg
}

// Remote runs apply on room's hub, creating the room if it does not
// exist: for a cluster link, to apply what other instances hold in room
// and the entries they log there. The room is not forgotten while apply
// runs; if it is left empty, it is forgotten at the next panel flush. A
// room created here is not in use (nobody here is in it) and does not
// count against MaxRooms, which bounds what this instance's own visitors
// can create: every instance's rooms are shown everywhere. A name outside
// SiteConfig.Rooms is refused with ErrNoSuchRoom, and ErrShutdown is
// returned once the site is closed; apply does not run then.
func (s *Site) Remote(name string, apply func(*Hub)) error {
	if folded, err := RoomName(name); err != nil || folded != name {
		return fmt.Errorf("hub: remote room %q: %w", name, ErrRoomName)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrShutdown
	}
	r := s.rooms[name]
	if r == nil {
		if s.allowed != nil && !s.allowed[name] {
			s.mu.Unlock()
			return fmt.Errorf("hub: remote room %q: %w", name, ErrNoSuchRoom)
		}
		h, err := s.newRoom(name)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		r = &room{hub: h}
		s.rooms[name] = r
	}
	r.applying++
	s.mu.Unlock()

	apply(r.hub)

	s.mu.Lock()
	r.applying--
	s.mu.Unlock()
	if r.hub.empty() {
		s.roomEmptied(name) // it may never flush: nothing else would tell
	}
	return nil
}

// EachRoom runs f on every room's hub, one after the other, with no lock
// held: a room created meanwhile may be missed, and one forgotten
// meanwhile is closed (its methods then do nothing).
func (s *Site) EachRoom(f func(name string, h *Hub)) {
	s.mu.Lock()
	type named struct {
		name string
		hub  *Hub
	}
	rooms := make([]named, 0, len(s.rooms))
	for name, r := range s.rooms {
		rooms = append(rooms, named{name, r.hub})
	}
	s.mu.Unlock()
	for _, r := range rooms {
		f(r.name, r.hub)
	}
}

// Room returns what room shows now, and false if it does not exist; it
// never creates one.
func (s *Site) Room(name string) (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return Snapshot{}, false
	}
	return r.hub.Snapshot(), true
}

// RoomFor is the room's Snapshot as a page rendered for viewer is to show
// it (Hub.SnapshotFor); a room that does not exist yet shows the viewer
// alone, or nobody for an Invisible viewer.
func (s *Site) RoomFor(name string, viewer Person) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		if viewer.Invisible {
			return Snapshot{}
		}
		return Snapshot{}.counting(viewer, s.cfg.Room.ListLimit)
	}
	return r.hub.SnapshotFor(viewer)
}

// SetStatus sets the status and text a person set by hand wherever this
// instance holds them: the lobby and every room they are in (see
// Hub.SetStatus). Each hub that shows them sends one updated row.
func (s *Site) SetStatus(key string, status Status, text string) {
	s.roster.setStatus(key, status, text)
}

// Rooms returns how many rooms exist.
func (s *Site) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Panel returns the Rooms panel as last rendered, for a lobby page's first
// render.
func (s *Site) Panel() Panel {
	s.panelMu.Lock()
	defer s.panelMu.Unlock()
	return s.panel
}

// CanJoin reports whether a Join of room would be let in now: nil for a
// room that exists, ErrNoSuchRoom for a name outside a fixed list,
// ErrTooManyRooms for a new room past MaxRooms. A page asks before it
// shows a room; Join decides again.
func (s *Site) CanJoin(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.rooms[name] != nil:
		return nil
	case s.allowed != nil && !s.allowed[name]:
		return fmt.Errorf("hub: room %q: %w", name, ErrNoSuchRoom)
	case s.cfg.MaxRooms > 0 && s.inUse >= s.cfg.MaxRooms:
		return fmt.Errorf("hub: room %q: %w (%d)", name, ErrTooManyRooms, s.cfg.MaxRooms)
	}
	return nil
}

// Close closes every room and the lobby, ending their subscriptions with
// ErrShutdown, without waiting for their owners.
func (s *Site) Close() { s.close() }

func (s *Site) close() []*Hub {
	s.mu.Lock()
	s.closed = true
	hubs := make([]*Hub, 0, len(s.rooms)+1)
	for _, r := range s.rooms {
		hubs = append(hubs, r.hub)
	}
	hubs = append(hubs, s.lobby)
	s.mu.Unlock()

	s.panelMu.Lock()
	s.panelClosed = true
	if s.panelTimer != nil {
		s.panelTimer.Stop()
		s.panelTimer = nil
	}
	s.panelMu.Unlock()

	for _, h := range hubs {
		h.Close() // all at once: a room's owners close their lobby holds too
	}
	return hubs
}

// Shutdown closes every room and the lobby, ending their subscriptions
// with ErrShutdown, and waits until every owner has closed theirs, or ctx
// ends.
func (s *Site) Shutdown(ctx context.Context) error {
	for _, h := range s.close() {
		if err := h.Shutdown(ctx); err != nil {
			return fmt.Errorf("hub: site: %w", err)
		}
	}
	return nil
}

// summaryChanged keeps a room's new summary for the next panel flush. It
// runs under the room's lock (Config.Summary).
func (s *Site) summaryChanged(sum RoomSummary) {
	s.panelMu.Lock()
	defer s.panelMu.Unlock()
	if s.panelClosed {
		return
	}
	if sum.People == 0 {
		delete(s.summaries, sum.Name)
	} else {
		s.summaries[sum.Name] = sum
	}
	s.changed = true
	s.schedulePanel()
}

// roomEmptied notes a room to forget at the next panel flush, which runs
// outside every room's lock and may take s.mu. It runs under the room's
// lock (Config.Emptied).
func (s *Site) roomEmptied(name string) {
	s.panelMu.Lock()
	defer s.panelMu.Unlock()
	if s.panelClosed {
		return
	}
	s.emptied[name] = true
	s.schedulePanel()
}

// schedulePanel makes sure a panel flush is coming: at once after a quiet
// spell, else a tick after the last one. A room's change that also
// changes the lobby (an arrival) usually flushes the lobby first, which
// takes the panel with its own changes, in one message, and the panel
// flush finds nothing to send; a departure's flush, which waits a tick,
// is brought forward by the panel flush's Refresh. The caller holds
// panelMu.
func (s *Site) schedulePanel() {
	if s.panelTimer != nil {
		return
	}
	wait := max(s.lastPanel.Add(s.lobby.cfg.Tick).Sub(s.clock.Now()), 0)
	s.panelTimer = s.clock.AfterFunc(wait, s.flushPanel)
}

// flushPanel forgets the rooms that emptied and, if any summary changed,
// asks the lobby for a frame, which takes the panel (pullPanel). It runs in
// the panel timer's goroutine, and asks the lobby after releasing s.mu:
// that may flush the lobby (render and send to every viewer), which must
// not hold up Joins.
func (s *Site) flushPanel() {
	if s.forgetEmptied() {
		s.lobby.Refresh()
	}
}

// forgetEmptied forgets the rooms that told Emptied and are still empty,
// and reports whether the panel changed since the lobby last took it. It
// holds s.mu throughout, so that a room is not created while another is
// forgotten.
func (s *Site) forgetEmptied() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.panelMu.Lock()
	if s.panelClosed {
		s.panelMu.Unlock()
		return false
	}
	s.panelTimer = nil
	s.lastPanel = s.clock.Now() // at most one flush a tick, whatever it finds
	emptied := s.emptied
	s.emptied = make(map[string]bool)
	s.panelMu.Unlock()

	var forgotten []string
	for name := range emptied {
		if r := s.rooms[name]; r != nil && r.joining == 0 && r.applying == 0 && r.hub.closeIfEmpty() {
			delete(s.rooms, name)
			forgotten = append(forgotten, name)
			if s.cfg.Forgotten != nil {
				s.cfg.Forgotten(name)
			}
		}
	}

	s.panelMu.Lock()
	defer s.panelMu.Unlock()
	for _, name := range forgotten {
		if _, ok := s.summaries[name]; ok { // its "nobody here" would have removed it: never expected
			delete(s.summaries, name)
			s.changed = true
		}
	}
	return s.changed
}

// pullPanel renders the panel if any summary changed since the lobby last
// took it, for the lobby's flush (Config.Extra): the panel goes out in the
// same message as the lobby's own changes, as a room's arrival is both. It
// runs under the lobby's lock. nil when nothing is to be sent.
func (s *Site) pullPanel() *Frame {
	s.panelMu.Lock()
	defer s.panelMu.Unlock()
	if s.panelClosed || !s.changed {
		return nil
	}
	s.changed = false
	next := topRooms(s.summaries, s.cfg.PanelLimit)
	if samePanel(next, s.panel) {
		return nil // the change was below the rooms listed, and none came or went
	}
	f, err := s.cfg.RenderPanel(next)
	if err != nil {
		// The lobby keeps showing the last panel until the next change.
		s.logger.Error("render rooms panel", "err", err)
		return nil
	}
	s.panel = next
	return f
}
