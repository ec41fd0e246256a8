package hub_test

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"herenow/hub"
)

// TestRemoteCreatesARoomAndAppliesOnItsHub: Remote of a room that does not
// exist creates it and runs apply on its hub; the room shows the person
// another instance holds there, and the Rooms panel lists it a tick later.
func TestRemoteCreatesARoomAndAppliesOnItsHub(t *testing.T) {
	f := newSite(t, nil)
	lobby := f.lobby(t, guest("viewer"))
	bob := user("2", "bob")
	var applied *hub.Hub
	err := f.site.Remote("standup", func(h *hub.Hub) {
		applied = h
		h.ApplyRemote("B", []hub.Held{held(bob, 1)})
	})
	if err != nil {
		t.Fatalf("Remote: %v", err)
	}
	if applied == nil || applied != f.site.RoomHub("standup") {
		t.Fatalf("apply ran on %p, want the room's hub %p", applied, f.site.RoomHub("standup"))
	}
	snap, ok := f.site.Room("standup")
	if want := []hub.User{{Key: "u-2", Name: "bob", Tabs: 1}}; !ok || !slices.Equal(snap.Users, want) || snap.Counts.People != 1 {
		t.Errorf("room standup = %+v (exists %v), want bob alone", snap, ok)
	}

	f.settle()
	want := []hub.RoomSummary{{Name: "standup", People: 1, Names: []string{"bob"}}}
	if p := f.site.Panel(); !slices.EqualFunc(p.Rooms, want, sameRoom) {
		t.Errorf("panel = %+v, want standup with bob", p)
	}
	if got := panels(rest(t, lobby)); len(got) != 1 || !slices.EqualFunc(got[0].Rooms, want, sameRoom) {
		t.Errorf("the lobby got panels %+v, want one with standup", got)
	}
}

// TestRoomsCreatedByRemoteDoNotCountAgainstMaxRooms: MaxRooms bounds the
// rooms this instance's visitors open, not the rooms other instances
// hold people in: a remote room leaves room for a local Join, and Remote
// creates a room with MaxRooms local rooms in use.
func TestRoomsCreatedByRemoteDoNotCountAgainstMaxRooms(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.MaxRooms = 1 })
	remote := func(room string, p hub.Person) {
		t.Helper()
		if err := f.site.Remote(room, func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{held(p, 1)}) }); err != nil {
			t.Fatalf("Remote %s: %v", room, err)
		}
	}
	remote("elsewhere", user("2", "bob"))
	if err := f.site.CanJoin("a"); err != nil {
		t.Errorf("a new room beside a remote one: %v, want let in", err)
	}
	f.join(t, "a", user("1", "alice"))

	remote("further", user("3", "carol"))
	if snap, ok := f.site.Room("further"); !ok || snap.Counts.People != 1 {
		t.Errorf("room further = %+v (exists %v), want carol in it", snap, ok)
	}
	if n := f.site.Rooms(); n != 3 {
		t.Errorf("rooms = %d, want 3 (a, and two remote)", n)
	}
	if _, err := f.site.Join("b", guest("g"), nil); !errors.Is(err, hub.ErrTooManyRooms) {
		t.Errorf("a second local room: %v, want ErrTooManyRooms", err)
	}
}

// TestRemoteKeepsToTheFixedListOfRooms: with SiteConfig.Rooms, Remote of
// another name is refused with ErrNoSuchRoom, an invalid name with
// ErrRoomName, and apply does not run.
func TestRemoteKeepsToTheFixedListOfRooms(t *testing.T) {
	f := newSite(t, func(c *hub.SiteConfig) { c.Rooms = []string{"a"} })
	ran := false
	apply := func(*hub.Hub) { ran = true }
	if err := f.site.Remote("b", apply); !errors.Is(err, hub.ErrNoSuchRoom) {
		t.Errorf("Remote b: %v, want ErrNoSuchRoom", err)
	}
	if err := f.site.Remote("A", apply); !errors.Is(err, hub.ErrRoomName) {
		t.Errorf("Remote A (not folded): %v, want ErrRoomName", err)
	}
	if ran {
		t.Error("apply ran for a refused room")
	}
	if n := f.site.Rooms(); n != 0 {
		t.Errorf("rooms = %d after refusals, want 0", n)
	}
	if err := f.site.Remote("a", apply); err != nil || !ran {
		t.Errorf("Remote a: %v (applied %v), want it applied", err, ran)
	}
}

// TestARoomRemoteLeftEmptyIsForgottenAtTheNextPanelFlush: a room Remote
// created and apply left empty is forgotten at the next panel flush, and
// so is a remote room once its last remote person is gone (ApplyRemote
// Gone) or their instance forgotten (ForgetRemote).
func TestARoomRemoteLeftEmptyIsForgottenAtTheNextPanelFlush(t *testing.T) {
	f := newSite(t, nil)
	if err := f.site.Remote("nobody", func(*hub.Hub) {}); err != nil {
		t.Fatal(err)
	}
	room := f.site.RoomHub("nobody")
	if room == nil {
		t.Fatal("Remote created no room")
	}
	f.settle()
	if n := f.site.Rooms(); n != 0 {
		t.Errorf("rooms = %d a tick after apply left a room empty, want 0", n)
	}
	if !room.Closed() {
		t.Error("the forgotten room's hub is still open")
	}

	bob, carol := user("2", "bob"), user("3", "carol")
	apply := func(room string, do func(*hub.Hub)) {
		t.Helper()
		if err := f.site.Remote(room, do); err != nil {
			t.Fatalf("Remote %s: %v", room, err)
		}
	}
	apply("gone", func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{held(bob, 1)}) })
	apply("forgotten", func(h *hub.Hub) { h.ApplyRemote("C", []hub.Held{held(carol, 1)}) })
	f.clock.Advance(time.Minute)
	if n, p := f.site.Rooms(), f.site.Panel(); n != 2 || len(p.Rooms) != 2 {
		t.Fatalf("rooms = %d, panel %+v; want gone and forgotten", n, p)
	}
	apply("gone", func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{gone(bob)}) })
	apply("forgotten", func(h *hub.Hub) { h.ForgetRemote("C") })
	f.clock.Advance(time.Minute)
	if n := f.site.Rooms(); n != 0 {
		t.Errorf("rooms = %d once their remote people left, want 0", n)
	}
	if p := f.site.Panel(); len(p.Rooms) != 0 || p.More != 0 {
		t.Errorf("panel = %+v, want no rooms", p)
	}
	if n := f.clock.Pending(); n != 0 {
		t.Errorf("%d timers left behind", n)
	}
}

// TestRemoteKeepsARoomWhileItsApplyRuns: a room that asked to be forgotten
// (empty) is not forgotten by a panel flush that runs while a Remote's
// apply is at work on it: what apply adds stays shown.
func TestRemoteKeepsARoomWhileItsApplyRuns(t *testing.T) {
	f := newSite(t, nil)
	if err := f.site.Remote("a", func(*hub.Hub) {}); err != nil { // empty: to be forgotten at the next panel flush
		t.Fatal(err)
	}
	roomsDuringApply := -1
	err := f.site.Remote("a", func(h *hub.Hub) {
		f.clock.Advance(time.Minute) // the panel flush runs now
		roomsDuringApply = f.site.Rooms()
		h.ApplyRemote("B", []hub.Held{held(user("2", "bob"), 1)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if roomsDuringApply != 1 {
		t.Errorf("rooms = %d while apply ran, want 1", roomsDuringApply)
	}
	f.settle()
	if snap, ok := f.site.Room("a"); !ok || len(snap.Users) != 1 || snap.Users[0].Name != "bob" {
		t.Errorf("room a = %+v (exists %v), want bob in it", snap, ok)
	}
}

// TestRemoteAfterCloseReturnsErrShutdownWithoutApplying: once the site is
// closed, Remote refuses new and existing rooms alike and runs no apply.
func TestRemoteAfterCloseReturnsErrShutdownWithoutApplying(t *testing.T) {
	f := newSite(t, nil)
	if err := f.site.Remote("a", func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{held(user("2", "bob"), 1)}) }); err != nil {
		t.Fatal(err)
	}
	f.site.Close()
	for _, room := range []string{"a", "b"} {
		ran := false
		if err := f.site.Remote(room, func(*hub.Hub) { ran = true }); !errors.Is(err, hub.ErrShutdown) {
			t.Errorf("Remote %s after Close: %v, want ErrShutdown", room, err)
		}
		if ran {
			t.Errorf("apply ran on %s after Close", room)
		}
	}
}

// TestEachRoomVisitsEveryRoomOnce: rooms of local Joins, rooms in their
// grace period and rooms Remote created are each visited once, with
// their own hub.
func TestEachRoomVisitsEveryRoomOnce(t *testing.T) {
	f := newSite(t, nil)
	f.join(t, "a", user("1", "alice"))
	f.join(t, "b", guest("g")).Close() // in its grace period
	if err := f.site.Remote("c", func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{held(user("2", "bob"), 1)}) }); err != nil {
		t.Fatal(err)
	}
	visits := make(map[string]int)
	f.site.EachRoom(func(name string, h *hub.Hub) {
		visits[name]++
		if h != f.site.RoomHub(name) {
			t.Errorf("room %s visited with another hub", name)
		}
	})
	if want := map[string]int{"a": 1, "b": 1, "c": 1}; !maps.Equal(visits, want) {
		t.Errorf("visits = %v, want %v", visits, want)
	}
}

// TestRoomPeersGivesEachRoomItsOwnPeers: SiteConfig.RoomPeers is asked
// once per room, with its name, for rooms of Join and of Remote alike, and
// a room's Peers hears that room's changes alone; the lobby's Peers hears
// everyone the lobby holds.
func TestRoomPeersGivesEachRoomItsOwnPeers(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	roomPeers := make(map[string]*fakePeers)
	lobbyPeers := &fakePeers{}
	f := newSite(t, func(c *hub.SiteConfig) {
		c.Lobby.Peers = lobbyPeers
		c.RoomPeers = func(room string) hub.Peers {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, room)
			p := &fakePeers{}
			roomPeers[room] = p
			return p
		}
	})
	alice, bob := user("1", "alice"), user("2", "bob")
	f.join(t, "standup", alice)
	f.join(t, "other", bob)
	f.join(t, "standup", alice) // a second tab: told a tick later
	if err := f.site.Remote("remote", func(h *hub.Hub) { h.ApplyRemote("B", []hub.Held{held(user("3", "carol"), 1)}) }); err != nil {
		t.Fatal(err)
	}
	f.settle()

	mu.Lock()
	defer mu.Unlock()
	if want := []string{"standup", "other", "remote"}; !slices.Equal(asked, want) {
		t.Errorf("RoomPeers asked for %v, want %v", asked, want)
	}
	if got, want := roomPeers["standup"].take(), [][]hub.Held{{held(alice, 1)}, {held(alice, 2)}}; !equalCalls(got, want) {
		t.Errorf("standup's Peers heard %+v, want %+v", got, want)
	}
	if got, want := roomPeers["other"].take(), [][]hub.Held{{held(bob, 1)}}; !equalCalls(got, want) {
		t.Errorf("other's Peers heard %+v, want %+v", got, want)
	}
	if got := roomPeers["remote"].take(); len(got) != 0 {
		t.Errorf("the remote room's Peers heard %+v, want nothing (carol is not held here)", got)
	}
	lobbyHeard := make(map[string]int) // by person, the last Conns told
	for _, call := range lobbyPeers.take() {
		for _, c := range call {
			lobbyHeard[c.Person.Key] = c.Conns
		}
	}
	if want := map[string]int{"u-1": 2, "u-2": 1}; !maps.Equal(lobbyHeard, want) {
		t.Errorf("the lobby's Peers heard %v, want alice (2 holds) and bob", lobbyHeard)
	}
}

// TestReplaceRemoteOfAnInstanceHoldingNobodyIsNoChange: replacing (or
// forgetting) the share of an instance that held nobody in a hub with
// nobody schedules no flush and sends no frame: a cluster forgetting an
// instance asks every room.
func TestReplaceRemoteOfAnInstanceHoldingNobodyIsNoChange(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	rendered := f.render.count()

	f.clock.Advance(time.Second) // a quiet spell: a flush would run at once
	f.hub.ReplaceRemote("X", nil, false)
	f.hub.ForgetRemote("X")
	if n := f.render.count(); n != rendered {
		t.Errorf("%d frames rendered for replacing nobody with nobody", n-rendered)
	}

	f.hub.ApplyRemote("B", []hub.Held{held(user("2", "bob"), 1)}) // flushed at once
	drain(t, viewer)
	f.hub.ReplaceRemote("X", nil, false) // within the tick: a flush would wait for it
	if n := f.clock.Pending(); n != 0 {
		t.Errorf("%d timers pending after replacing nobody with nobody, want none", n)
	}
	if got := f.settle(t, viewer); len(got) != 0 {
		t.Errorf("the viewer got %+v, want nothing", got)
	}
}
