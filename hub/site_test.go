package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"herenow/hub"
	"herenow/hub/hubtest"
	"herenow/internal/testkit"
)

// siteFrame is any frame a site's subscriber can get: a hub's snapshot or
// diff (jsonRenderer) or a Rooms panel (siteFixture.renderPanel).
type siteFrame struct {
	Snapshot *hub.Snapshot
	Diff     *hub.Diff
	Panel    *hub.Panel
}

// count is how many frames r rendered.
func (r *jsonRenderer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshots + r.diffs
}

const grace = 5 * time.Second

// siteFixture is a Site on a fake clock whose rooms each get a renderer of
// their own, so a test can count what each room rendered.
type siteFixture struct {
	site  *hub.Site
	clock *hubtest.Clock

	mu     sync.Mutex
	rooms  map[string][]*jsonRenderer // by room name, one per hub the room had
	panels int                        // RenderPanel calls
}

func newSite(t *testing.T, change func(*hub.SiteConfig)) *siteFixture {
	t.Helper()
	f := &siteFixture{clock: hubtest.NewClock(), rooms: make(map[string][]*jsonRenderer)}
	hubConfig := hub.Config{Clock: f.clock, Tick: tick, Grace: grace, ListLimit: 100, LogSize: 50, QueueSize: 8}
	cfg := hub.SiteConfig{
		Room: hubConfig,
		RoomRender: func(room string) hub.Renderer {
			f.mu.Lock()
			defer f.mu.Unlock()
			r := &jsonRenderer{}
			f.rooms[room] = append(f.rooms[room], r)
			return r
		},
		Lobby:       hubConfig,
		PanelLimit:  20,
		RenderPanel: f.renderPanel,
	}
	cfg.Lobby.Render = &jsonRenderer{}
	if change != nil {
		change(&cfg)
	}
	s, err := hub.NewSite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The cleanups of the test's subscriptions ran first (last in,
		// first out): nothing is left for Shutdown to wait for.
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	f.site = s
	return f
}

func (f *siteFixture) renderPanel(p hub.Panel) (*hub.Frame, error) {
	f.mu.Lock()
	f.panels++
	f.mu.Unlock()
	b, err := json.Marshal(siteFrame{Panel: &p})
	return &hub.Frame{HTML: b}, err
}

func (f *siteFixture) panelRenders() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.panels
}

// rendered is how many frames room's hubs rendered, all told.
func (f *siteFixture) rendered(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.rooms[room] {
		n += r.count()
	}
	return n
}

// join puts person in room and consumes the snapshot it starts with.
func (f *siteFixture) join(t *testing.T, room string, p hub.Person) *hub.Subscription {
	t.Helper()
	s, err := f.site.Join(room, p, nil)
	if err != nil {
		t.Fatalf("join %s to %s: %v", p.Key, room, err)
	}
	t.Cleanup(s.Close)
	if got := next(t, s); got.Snapshot == nil {
		t.Fatalf("first frame for %s in %s is not a snapshot: %+v", p.Key, room, got)
	}
	return s
}

// lobby connects a lobby viewer and consumes its snapshot and the panel.
func (f *siteFixture) lobby(t *testing.T, p hub.Person) *hub.Subscription {
	t.Helper()
	s := f.site.Lobby().Connect(p)
	t.Cleanup(s.Close)
	if got := next(t, s); got.Snapshot == nil {
		t.Fatalf("first lobby frame is not a snapshot: %+v", got)
	}
	if got := next(t, s); got.Panel == nil {
		t.Fatalf("second lobby frame is not the panel: %+v", got)
	}
	return s
}

// settle lets every pending tick pass: two, as the panel may go out a tick
// after the lobby's last flush.
func (f *siteFixture) settle() { f.clock.Advance(tick); f.clock.Advance(tick) }

func next(t *testing.T, s *hub.Subscription) siteFrame {
	t.Helper()
	select {
	case fr := <-s.Frames():
		var sf siteFrame
		if err := json.Unmarshal(fr.HTML, &sf); err != nil {
			t.Fatal(err)
		}
		if sf.Diff != nil && sf.Diff.Extra != nil { // the panel, attached to the lobby's frame
			var attached siteFrame
			if err := json.Unmarshal(sf.Diff.Extra.HTML, &attached); err != nil {
				t.Fatal(err)
			}
			sf.Panel, sf.Diff.Extra = attached.Panel, nil
		}
		return sf
	default:
		t.Fatal("no frame waiting")
		return siteFrame{}
	}
}

// rest drains what s received, which must not hold a snapshot.
func rest(t *testing.T, s *hub.Subscription) []siteFrame {
	t.Helper()
	var out []siteFrame
	for len(s.Frames()) > 0 {
		sf := next(t, s)
		if sf.Snapshot != nil {
			t.Fatal("snapshot in the middle of a stream")
		}
		out = append(out, sf)
	}
	return out
}

// diffs and panels split frames by kind.
func diffs(frames []siteFrame) []hub.Diff {
	var out []hub.Diff
	for _, f := range frames {
		if f.Diff != nil {
			out = append(out, *f.Diff)
		}
	}
	return out
}

func panels(frames []siteFrame) []hub.Panel {
	var out []hub.Panel
	for _, f := range frames {
		if f.Panel != nil {
			out = append(out, *f.Panel)
		}
	}
	return out
}

// loggedNames lists the users named by entries that arrived (or left).
func loggedNames(ds []hub.Diff, arrived bool) []string {
	var out []string
	for _, d := range ds {
		for _, e := range d.Logged {
			if e.Arrived == arrived {
				out = append(out, e.Names...)
			}
		}
	}
	return out
}

func TestSiteRoomsAreIsolated(t *testing.T) {
	f := newSite(t, nil)
	inA := f.join(t, "a", guest("va"))
	inB := f.join(t, "b", guest("vb"))
	f.settle()
	rest(t, inA)
	rest(t, inB)
	renderedForB := f.rendered("b")

	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	alice.Close()
	f.clock.Advance(grace + tick)

	if got := rest(t, inB); len(got) != 0 {
		t.Errorf("room b's subscriber got %d frames for changes in room a: %+v", len(got), got)
	}
	if n := f.rendered("b"); n != renderedForB {
		t.Errorf("room b rendered %d frames for changes in room a, want none", n-renderedForB)
	}
	got := diffs(rest(t, inA))
	if arrived, left := loggedNames(got, true), loggedNames(got, false); !slices.Equal(arrived, []string{"alice"}) || !slices.Equal(left, []string{"alice"}) {
		t.Errorf("room a's log: arrived %v, left %v; want alice in both", arrived, left)
	}
}

func TestSitePersonInTwoRoomsIsListedInBothAndOnceInTheLobby(t *testing.T) {
	f := newSite(t, nil)
	lobby := f.lobby(t, guest("viewer"))
	f.settle()
	rest(t, lobby)

	alice := user("1", "alice")
	f.join(t, "a", alice)
	f.join(t, "b", alice)
	f.settle()

	for _, room := range []string{"a", "b"} {
		snap, ok := f.site.Room(room)
		want := []hub.User{{Key: "u-1", Name: "alice", Tabs: 1}}
		if !ok || !slices.Equal(snap.Users, want) || snap.Counts.People != 1 {
			t.Errorf("room %s: %+v (exists %v), want alice alone", room, snap, ok)
		}
	}
	snap := f.site.Lobby().Snapshot()
	want := []hub.User{{Key: "u-1", Name: "alice", Tabs: 2}}
	if !slices.Equal(snap.Users, want) || snap.Counts.People != 2 {
		t.Errorf("lobby: %+v, want alice once (with a tab in each room) and the viewer", snap)
	}
	if names := loggedNames(diffs(rest(t, lobby)), true); !slices.Equal(names, []string{"alice"}) {
		t.Errorf("lobby logged arrivals of %v, want alice once", names)
	}
}

func TestSiteMovingBetweenRoomsWithinTheGrace(t *testing.T) {
	f := newSite(t, nil)
	lobby := f.lobby(t, guest("viewer"))
	inA := f.join(t, "a", guest("va"))
	inB := f.join(t, "b", guest("vb"))
	alice := user("1", "alice")
	inAlice := f.join(t, "a", alice)
	f.settle()
	for _, s := range []*hub.Subscription{lobby, inA, inB} {
		rest(t, s)
	}

	inAlice.Close()
	f.clock.Advance(time.Second)
	f.join(t, "b", alice)
	f.settle()
	if got := diffs(rest(t, inB)); len(got) != 1 || len(got[0].Added) != 1 || !slices.Equal(loggedNames(got, true), []string{"alice"}) {
		t.Errorf("room b saw %+v, want alice added and logged as joined", got)
	}
	if got := rest(t, inA); len(got) != 0 {
		t.Errorf("room a saw %+v inside alice's grace period, want nothing", got)
	}

	f.clock.Advance(grace)
	if got := diffs(rest(t, inA)); len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-1"}) || !slices.Equal(loggedNames(got, false), []string{"alice"}) {
		t.Errorf("room a after the grace saw %+v, want alice removed and logged as left", got)
	}
	if got := diffs(rest(t, lobby)); len(got) != 0 {
		t.Errorf("the lobby saw %+v, want nothing of alice's move", got)
	}
	if snap := f.site.Lobby().Snapshot(); snap.Counts.People != 4 {
		t.Errorf("lobby counts %+v, want 4 people (viewer, va, vb, alice)", snap.Counts)
	}
}

func TestSiteForgetsARoomOnceEmpty(t *testing.T) {
	f := newSite(t, nil)
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	rest(t, alice)
	room := f.site.RoomHub("a")
	if f.site.Rooms() != 1 || room == nil {
		t.Fatalf("rooms = %d, want a", f.site.Rooms())
	}
	if p := f.site.Panel(); len(p.Rooms) != 1 || p.Rooms[0].Name != "a" {
		t.Fatalf("panel = %+v, want room a", p)
	}

	alice.Close()
	f.clock.Advance(grace)
	f.settle()
	if n := f.site.Rooms(); n != 0 {
		t.Errorf("rooms = %d after the last person's grace, want 0", n)
	}
	if _, ok := f.site.Room("a"); ok {
		t.Error("Room(a) exists after it emptied")
	}
	if !room.Closed() {
		t.Error("the forgotten room's hub is still open")
	}
	if p := f.site.Panel(); len(p.Rooms) != 0 || p.More != 0 {
		t.Errorf("panel = %+v, want no rooms", p)
	}
	rendered := f.rendered("a")
	f.clock.Advance(time.Minute)
	if n := f.clock.Pending(); n != 0 {
		t.Errorf("%d timers left behind", n)
	}
	if n := f.rendered("a"); n != rendered {
		t.Errorf("the forgotten room rendered %d more frames", n-rendered)
	}

	// The name is free: a new room starts afresh.
	f.join(t, "a", user("2", "bob"))
	if snap, ok := f.site.Room("a"); !ok || len(snap.Users) != 1 || snap.Users[0].Name != "bob" {
		t.Errorf("room a again: %+v (exists %v), want bob alone", snap, ok)
	}
}

func TestSiteKeepsARoomAJoinIsEntering(t *testing.T) {
	f := newSite(t, nil)
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	alice.Leave() // the room empties at its next flush, and asks to be forgotten
	f.site.OnEntered(func() { f.clock.Advance(time.Minute) })
	bob := f.join(t, "a", user("2", "bob"))
	f.site.OnEntered(nil)
	f.settle()
	if bob.Err() != nil {
		t.Fatalf("bob's connection ended: %v", bob.Err())
	}
	if snap, ok := f.site.Room("a"); !ok || len(snap.Users) != 1 || snap.Users[0].Name != "bob" {
		t.Errorf("room a = %+v (exists %v), want bob in it", snap, ok)
	}
}

func TestSiteRefusesRoomsBeyondMaxRooms(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.MaxRooms = 2 })
	inA := f.join(t, "a", user("1", "alice"))
	inB := f.join(t, "b", user("2", "bob"))
	f.settle()
	rest(t, inA)

	if _, err := f.site.Join("c", user("3", "carol"), nil); !errors.Is(err, hub.ErrTooManyRooms) {
		t.Fatalf("join a third room: %v, want ErrTooManyRooms", err)
	}
	f.join(t, "a", user("4", "dave")) // rooms that exist keep working
	f.settle()
	if got := diffs(rest(t, inA)); len(got) != 1 || len(got[0].Added) != 1 || got[0].Added[0].Name != "dave" {
		t.Errorf("room a at the limit saw %+v, want dave added", got)
	}
	if c := f.site.Lobby().Snapshot().Counts; c.People != 3 {
		t.Errorf("lobby counts %+v, want 3 (carol was refused)", c)
	}

	inB.Close()
	f.clock.Advance(grace)
	f.settle()
	if inC, err := f.site.Join("c", user("3", "carol"), nil); err != nil {
		t.Errorf("join c once b emptied: %v", err)
	} else {
		inC.Close()
	}
}

func TestSiteWithAFixedListOfRooms(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.Rooms = []string{"a", "b"} })
	if _, err := f.site.Join("c", user("1", "alice"), nil); !errors.Is(err, hub.ErrNoSuchRoom) {
		t.Errorf("join c: %v, want ErrNoSuchRoom", err)
	}
	if _, err := f.site.Join("A", user("1", "alice"), nil); !errors.Is(err, hub.ErrRoomName) {
		t.Errorf("join A (not folded): %v, want ErrRoomName", err)
	}
	f.join(t, "a", user("1", "alice"))
	if n := f.site.Rooms(); n != 1 {
		t.Errorf("rooms = %d, want 1", n)
	}
	_, err := hub.NewSite(hub.SiteConfig{Rooms: []string{"Bad room"}, PanelLimit: 1, RenderPanel: f.renderPanel,
		Room:  hub.Config{Render: &jsonRenderer{}, Tick: tick, LogSize: 1, QueueSize: 2},
		Lobby: hub.Config{Render: &jsonRenderer{}, Tick: tick, LogSize: 1, QueueSize: 2}})
	if !errors.Is(err, hub.ErrRoomName) {
		t.Errorf("NewSite with a bad room name: %v, want ErrRoomName", err)
	}
}

func TestSitePanelIsCoalescedPerTickAndCapped(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.PanelLimit = 3 })
	lobby := f.lobby(t, guest("viewer"))
	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}
	for i, room := range rooms {
		for j := range i + 1 {
			f.join(t, room, guest(room+"-"+string(rune('a'+j))))
		}
	}
	f.clock.Advance(time.Minute)
	rest(t, lobby)
	rendered := f.panelRenders()

	// One arrival in every room, each a few milliseconds apart, all within
	// one tick, the busiest first: the panel is rendered twice (at once,
	// and a tick later with the other nine), and each goes out within the
	// lobby's next frame: the lobby's viewers get one message a tick, three
	// in all (the first arrival at once, the others a tick later with the
	// first panel, the latest panel a tick after that).
	for _, room := range slices.Backward(rooms) {
		f.join(t, room, guest(room+"-late"))
		f.clock.Advance(tick / 20)
	}
	frames := rest(t, lobby) // within the first half tick
	if len(frames) > 1 {
		t.Fatalf("the lobby got %d frames within one tick: %+v", len(frames), frames)
	}
	for range 3 {
		f.clock.Advance(tick)
		if got := rest(t, lobby); len(got) > 1 {
			t.Fatalf("the lobby got %d frames within one tick: %+v", len(got), got)
		} else {
			frames = append(frames, got...)
		}
	}
	got := panels(frames)
	if len(frames) > 4 || len(got) != 2 || f.panelRenders()-rendered != 2 {
		t.Fatalf("10 rooms changing within a tick: %d lobby frames, %d with the panel (%d renders); want at most one a tick, 2 panels, 2 renders",
			len(frames), len(got), f.panelRenders()-rendered)
	}
	want := hub.Panel{More: 7, Rooms: []hub.RoomSummary{
		{Name: "r9", People: 11, Guests: 11}, {Name: "r8", People: 10, Guests: 10}, {Name: "r7", People: 9, Guests: 9}}}
	last := got[len(got)-1]
	if !slices.EqualFunc(last.Rooms, want.Rooms, sameRoom) || last.More != want.More {
		t.Errorf("panel = %+v, want %+v", last, want)
	}
	if p := f.site.Panel(); !slices.EqualFunc(p.Rooms, want.Rooms, sameRoom) || p.More != want.More {
		t.Errorf("Panel() = %+v, want %+v", p, want)
	}

	// A change below the rooms listed, with no room coming or going, leaves
	// the panel as it is: nothing to render.
	f.join(t, "r0", guest("r0-later"))
	f.clock.Advance(time.Minute)
	if got := panels(rest(t, lobby)); len(got) != 0 {
		t.Errorf("a change in an unlisted room sent %+v", got)
	}
}

func sameRoom(a, b hub.RoomSummary) bool {
	return a.Name == b.Name && a.People == b.People && a.Guests == b.Guests && a.Others == b.Others && slices.Equal(a.Names, b.Names)
}

func TestSitePanelListsTheBusiestFirst(t *testing.T) {
	f := newSite(t, nil)
	for room, people := range map[string]int{"b": 2, "a": 2, "c": 3, "d": 1} {
		for i := range people {
			f.join(t, room, guest(room+string(rune('0'+i))))
		}
	}
	for i, name := range []string{"ann", "ben", "cat", "dan", "eve"} {
		f.join(t, "e", user(string(rune('1'+i)), name))
	}
	f.join(t, "e", guest("e0"))
	f.settle()
	want := []hub.RoomSummary{
		{Name: "e", People: 6, Guests: 1, Names: []string{"ann", "ben", "cat"}, Others: 2},
		{Name: "c", People: 3, Guests: 3}, {Name: "a", People: 2, Guests: 2},
		{Name: "b", People: 2, Guests: 2}, {Name: "d", People: 1, Guests: 1},
	}
	if p := f.site.Panel(); !slices.EqualFunc(p.Rooms, want, sameRoom) || p.More != 0 {
		t.Errorf("panel = %+v, want %+v", p, want)
	}
}

func TestSiteLobbyNewcomerGetsTheCurrentPanel(t *testing.T) {
	f := newSite(t, nil)
	f.join(t, "standup", user("1", "alice"))
	f.settle()
	late := f.site.Lobby().Connect(guest("late"))
	t.Cleanup(late.Close)
	if got := next(t, late); got.Snapshot == nil {
		t.Fatalf("first frame %+v, want the lobby's snapshot", got)
	}
	got := next(t, late)
	want := []hub.RoomSummary{{Name: "standup", People: 1, Names: []string{"alice"}}}
	if got.Panel == nil || !slices.EqualFunc(got.Panel.Rooms, want, sameRoom) {
		t.Errorf("second frame %+v, want the panel with standup", got)
	}
}

func TestSiteRoomsKeepTheSingleRoomProperties(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.Room.ListLimit = 2 })
	viewer := f.join(t, "r", guest("viewer"))
	alice := user("1", "alice")
	tab1 := f.join(t, "r", alice)
	f.join(t, "r", alice)
	f.join(t, "r", guest("g")) // a guest's two tabs count once
	f.join(t, "r", guest("g"))
	f.join(t, "r", user("2", "bob"))
	f.join(t, "r", user("3", "carol")) // beyond the list's 2
	f.settle()
	rest(t, viewer)

	snap, _ := f.site.Room("r")
	wantUsers := []hub.User{{Key: "u-1", Name: "alice", Tabs: 2}, {Key: "u-2", Name: "bob", Tabs: 1}}
	if !slices.Equal(snap.Users, wantUsers) || snap.Counts != (hub.Counts{People: 5, Guests: 2, Unlisted: 1}) {
		t.Errorf("room = %+v, want alice with 2 tabs, bob, 5 people, 2 guests, 1 more", snap)
	}

	tab1.Close() // one of two tabs: her badge only
	f.settle()
	if got := diffs(rest(t, viewer)); len(got) != 1 || len(got[0].Updated) != 1 || got[0].Updated[0].Tabs != 1 || got[0].Counts != nil {
		t.Errorf("after one tab closed: %+v, want alice's badge at 1 tab", got)
	}
}

func TestSiteRoomGraceAndReload(t *testing.T) {
	f := newSite(t, nil)
	viewer := f.join(t, "r", guest("viewer"))
	alice := f.join(t, "r", user("1", "alice"))
	f.settle()
	rest(t, viewer)

	alice.Close()
	f.clock.Advance(time.Second)
	f.join(t, "r", user("1", "alice")) // a reload inside the grace
	f.clock.Advance(grace)
	if got := rest(t, viewer); len(got) != 0 {
		t.Errorf("a reload was announced: %+v", got)
	}
}

func TestSiteShutdownEndsEveryRoomAndTheLobby(t *testing.T) {
	f := newSite(t, nil)
	inRoom, err := f.site.Join("a", user("1", "alice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	inLobby := f.site.Lobby().Connect(guest("viewer"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- f.site.Shutdown(ctx) }()
	for _, s := range []*hub.Subscription{inRoom, inLobby} {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a subscription was not ended by Shutdown")
		}
		if !errors.Is(s.Err(), hub.ErrShutdown) {
			t.Errorf("Err() = %v, want ErrShutdown", s.Err())
		}
	}
	select {
	case err := <-result:
		t.Fatalf("Shutdown returned before the owners closed: %v", err)
	default:
	}
	inRoom.Close()
	inLobby.Close()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	late, err := f.site.Join("b", user("2", "bob"), nil)
	if err != nil || !errors.Is(late.Err(), hub.ErrShutdown) {
		t.Errorf("join after shutdown: %v, Err() %v; want a subscription ended with ErrShutdown", err, late.Err())
	}
}

func TestHoldCountsAPersonAndReceivesNothing(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)

	hold := f.hub.Hold(user("1", "alice"))
	if hold.Frames() != nil {
		t.Error("a hold has a frame channel")
	}
	got := f.settle(t, viewer)
	if len(got) != 1 || len(got[0].Added) != 1 || got[0].Added[0].Name != "alice" {
		t.Fatalf("after Hold: %+v, want alice added", got)
	}
	f.connect(t, user("1", "alice"))
	if got := f.settle(t, viewer); len(got) != 1 || len(got[0].Updated) != 1 || got[0].Updated[0].Tabs != 2 {
		t.Errorf("hold and a tab: %+v, want alice with 2 tabs", got)
	}

	bob := f.hub.Hold(user("2", "bob"))
	f.settle(t, viewer)
	hold.Close() // with grace, though alice's tab holds her anyway
	bob.Close()
	f.clock.Advance(grace - time.Millisecond)
	if got := drain(t, viewer); len(got) != 1 || len(got[0].Updated) != 1 {
		t.Errorf("inside the grace: %+v, want only alice's badge back to 1", got)
	}
	f.clock.Advance(time.Millisecond)
	if got := drain(t, viewer); len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-2"}) {
		t.Errorf("after the grace: %+v, want bob removed", got)
	}

	carol := f.hub.Hold(user("3", "carol"))
	f.settle(t, viewer)
	carol.Leave()
	if got := f.settle(t, viewer); len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-3"}) {
		t.Errorf("after Leave: %+v, want carol removed within a tick", got)
	}
}

func TestHoldKeepsShutdownWaitingForItsOwner(t *testing.T) {
	f := newFixture(t, nil)
	hold := f.hub.Hold(user("1", "alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- f.hub.Shutdown(ctx) }()
	testkit.WaitUntil(t, 5*time.Second, "Shutdown to close the hub", f.hub.Closed)
	select {
	case err := <-result:
		t.Fatalf("Shutdown returned with a hold open: %v", err)
	default:
	}
	hold.Close()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
}

func TestAttachGoesOutWithTheNextFrameAndToNewcomers(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.QueueSize = 3 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	slow := f.hub.Connect(guest("slow")) // never reads
	t.Cleanup(slow.Close)
	f.settle(t, viewer)

	f.connect(t, user("1", "alice")) // a diff at once (leading edge)
	panel := &hub.Frame{HTML: []byte(`{}`)}
	f.hub.Attach(panel)
	if got := queued(viewer); len(got) != 1 || got[0] == panel {
		t.Fatalf("viewer got %d frames before the tick, want alice's diff alone", len(got))
	}
	f.clock.Advance(tick)
	if got := queued(viewer); len(got) != 1 || got[0] != panel {
		t.Fatalf("viewer got %d frames at the tick, want the attached frame as it was rendered", len(got))
	}

	late := f.hub.Connect(guest("late"))
	t.Cleanup(late.Close)
	if got := queued(late); len(got) != 2 || got[1] != panel {
		t.Error("a newcomer did not get the latest attached frame after its snapshot")
	}

	// slow holds its snapshot and the diffs of its own and alice's
	// arrival: the attached frame was one too many.
	if !errors.Is(slow.Err(), hub.ErrSlow) {
		t.Errorf("slow.Err() = %v, want ErrSlow", slow.Err())
	}
	if viewer.Err() != nil {
		t.Errorf("viewer ended: %v", viewer.Err())
	}
}

// queued takes the frames waiting for s, without waiting.
func queued(s *hub.Subscription) []*hub.Frame {
	var out []*hub.Frame
	for len(s.Frames()) > 0 {
		out = append(out, <-s.Frames())
	}
	return out
}

// TestSiteConcurrentJoinsAndLeaves runs Joins and Closes across a few rooms
// at once on the real clock, for the race detector and the lock order:
// rooms are created and forgotten under the Joins' feet, and in the end
// every room is forgotten and the panel empty.
func TestSiteConcurrentJoinsAndLeaves(t *testing.T) {
	hubConfig := hub.Config{Tick: time.Millisecond, Grace: 0, ListLimit: 10, LogSize: 10, QueueSize: 64}
	cfg := hub.SiteConfig{Room: hubConfig, Lobby: hubConfig, PanelLimit: 3, MaxRooms: 3,
		RenderPanel: func(hub.Panel) (*hub.Frame, error) { return &hub.Frame{}, nil }}
	cfg.Room.Render = staticRenderer{&hub.Frame{}}
	cfg.Lobby.Render = staticRenderer{&hub.Frame{}}
	s, err := hub.NewSite(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lobby := s.Lobby().Connect(guest("viewer"))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				room := []string{"a", "b", "c", "d"}[(w+i)%4]
				sub, err := s.Join(room, guest(string(rune('a'+w))), nil)
				if errors.Is(err, hub.ErrTooManyRooms) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if errors.Is(sub.Err(), hub.ErrShutdown) {
					t.Errorf("join %s: connected to a room being forgotten", room)
				}
				for len(sub.Frames()) > 0 {
					<-sub.Frames()
				}
				if i%2 == 0 {
					sub.Close()
				} else {
					sub.Leave()
				}
			}
		})
	}
	var reader sync.WaitGroup
	reader.Go(func() { // the lobby viewer reads as a transport would
		for {
			select {
			case <-lobby.Frames():
			case <-lobby.Done():
				return
			}
		}
	})
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for s.Rooms() > 0 || len(s.Panel().Rooms) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d rooms and panel %+v left after every Join closed", s.Rooms(), s.Panel())
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { <-lobby.Done(); lobby.Close() }()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	reader.Wait()
}

// TestARoomConnectionReleasesItsLobbyHold: closing a room's connection
// lets the person go from the lobby after the lobby's grace period, and
// Leave (the session ended) lets them go at the next frame.
func TestARoomConnectionReleasesItsLobbyHold(t *testing.T) {
	f := newSite(t, nil)
	f.lobby(t, guest("viewer"))
	people := func() int { return f.site.Lobby().Counts().People }
	alice := f.join(t, "a", user("1", "alice"))
	f.clock.Advance(tick)
	if n := people(); n != 2 {
		t.Fatalf("the lobby counts %d people with alice in a room, want 2", n)
	}
	alice.Close()
	f.clock.Advance(grace - tick)
	if n := people(); n != 2 {
		t.Errorf("the lobby counts %d people within alice's grace, want 2", n)
	}
	f.clock.Advance(2 * tick)
	if n := people(); n != 1 {
		t.Errorf("the lobby counts %d people after alice's grace, want 1", n)
	}
	bob := f.join(t, "b", user("2", "bob"))
	f.clock.Advance(tick)
	bob.Leave()
	f.clock.Advance(tick)
	if n := people(); n != 1 {
		t.Errorf("the lobby counts %d people a tick after bob's session ended, want 1", n)
	}
}

// TestRoomsKeptOnlyForTheirGraceDoNotCountAgainstMaxRooms: opening and
// closing connections to new names cannot keep everyone else out of new
// rooms: a room whose last connection closed (in its grace period) no
// longer counts against MaxRooms, one with a connection does.
func TestRoomsKeptOnlyForTheirGraceDoNotCountAgainstMaxRooms(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.MaxRooms = 2 })
	f.join(t, "a", guest("g1")).Close()
	f.join(t, "b", guest("g2")).Close()
	if err := f.site.CanJoin("c"); err != nil {
		t.Fatalf("a new room beside two in their grace only: %v, want let in", err)
	}
	f.join(t, "c", guest("g3"))
	f.join(t, "d", guest("g4"))
	if err := f.site.CanJoin("e"); !errors.Is(err, hub.ErrTooManyRooms) {
		t.Errorf("a third room beside two in use: %v, want ErrTooManyRooms", err)
	}
	if _, err := f.site.Join("e", guest("g5"), nil); !errors.Is(err, hub.ErrTooManyRooms) {
		t.Errorf("joining a third room beside two in use: %v, want ErrTooManyRooms", err)
	}
	if err := f.site.CanJoin("a"); err != nil {
		t.Errorf("a room that exists (in its grace): %v, want let in", err)
	}
}

// TestSiteLobbySendsAnArrivalInARoomAndThePanelAsOneMessage: after a quiet
// spell, a person joining a room changes the lobby (they came online) and
// the panel (the room appeared); the lobby's viewers get both in one
// message, at once, and nothing more once the ticks have passed.
func TestSiteLobbySendsAnArrivalInARoomAndThePanelAsOneMessage(t *testing.T) {
	f := newSite(t, nil)
	viewer := f.lobby(t, guest("viewer"))
	f.settle()
	rest(t, viewer)
	for i, room := range []string{"standup", "design"} {
		f.clock.Advance(time.Minute) // a quiet spell
		f.join(t, room, user(strconv.Itoa(i+1), "person"+strconv.Itoa(i+1)))
		got := rest(t, viewer)
		if len(got) != 1 || got[0].Diff == nil || got[0].Panel == nil {
			t.Fatalf("%s: the lobby viewer got %+v at once, want one message with the arrival and the panel", room, got)
		}
		if p := got[0].Panel; len(p.Rooms) != i+1 {
			t.Errorf("%s: the panel lists %+v", room, p.Rooms)
		}
		f.settle()
		if more := rest(t, viewer); len(more) != 0 {
			t.Errorf("%s: then %+v, want nothing", room, more)
		}
	}
}

// TestSiteKeepsItsLogs: the lobby starts with its History and a room
// created later with its own, numbering on from them; Logged hears each
// hub's new entries, by room, and not those it was given; Forgotten hears
// of a room forgotten once empty.
func TestSiteKeepsItsLogs(t *testing.T) {
	at := hubtest.NewClock().Now().Add(-time.Hour)
	var (
		mu        sync.Mutex
		logged    = make(map[string][]hub.Entry)
		forgotten []string
	)
	f := newSite(t, func(c *hub.SiteConfig) {
		c.History = map[string][]hub.Entry{
			"":  {{ID: 6, At: at, Arrived: true, Names: []string{"zoe"}}},
			"a": {{ID: 3, At: at, Arrived: true, Guests: 1}, {ID: 4, At: at, Names: []string{"yan"}}},
		}
		c.Logged = func(room string, entries []hub.Entry) {
			mu.Lock()
			defer mu.Unlock()
			logged[room] = append(logged[room], entries...)
		}
		c.Forgotten = func(room string) {
			mu.Lock()
			defer mu.Unlock()
			forgotten = append(forgotten, room)
		}
	})
	if log := f.site.Lobby().Snapshot().Log; len(log) != 1 || log[0].ID != 6 {
		t.Fatalf("the lobby starts with %+v, want its history", log)
	}
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	rest(t, alice)
	snap, _ := f.site.Room("a")
	if len(snap.Log) != 3 || snap.Log[0].ID != 5 || snap.Log[0].Names[0] != "alice" || snap.Log[2].ID != 3 {
		t.Fatalf("room a's log = %+v, want alice's arrival (5) above its history (4, 3)", snap.Log)
	}
	alice.Close()
	f.clock.Advance(grace)
	f.settle()

	mu.Lock()
	defer mu.Unlock()
	for room, want := range map[string][]uint64{"": {7, 8}, "a": {5, 6}} { // alice came, alice went
		var ids []uint64
		for _, e := range logged[room] {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("Logged heard %v of room %q, want %v", ids, room, want)
		}
	}
	if !slices.Equal(forgotten, []string{"a"}) {
		t.Errorf("Forgotten heard %v, want a", forgotten)
	}
}
