package hub_test

import (
	"bytes"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"herenow/hub"
)

// trace is everything a site lets out of what happened: the bytes each
// visible viewer got, what each hub told its Peers, what Logged was told,
// the Rooms panel, the snapshots and Held.
type trace struct {
	Frames    map[string][][]byte
	Peers     map[string][][]hub.Held // by room, "" for the lobby
	Logged    map[string][]hub.Entry
	Departed  []hub.Person
	Panel     hub.Panel
	Snapshots map[string]hub.Snapshot
	Held      map[string][]hub.Held
}

// tracedSite is a site whose Peers, Logged and Departed are recorded.
type tracedSite struct {
	*siteFixture
	mu       sync.Mutex
	peers    map[string]*fakePeers
	logged   map[string][]hub.Entry
	departed []hub.Person
}

func newTracedSite(t *testing.T) *tracedSite {
	t.Helper()
	ts := &tracedSite{peers: map[string]*fakePeers{"": {}}, logged: make(map[string][]hub.Entry)}
	ts.siteFixture = newSite(t, func(c *hub.SiteConfig) {
		c.AwayAfter = awayAfter
		c.Lobby.Peers = ts.peers[""]
		c.RoomPeers = func(room string) hub.Peers {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			p := &fakePeers{}
			ts.peers[room] = p
			return p
		}
		c.Logged = func(room string, entries []hub.Entry) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.logged[room] = append(ts.logged[room], entries...)
		}
		c.Departed = func(p hub.Person, at time.Time) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.departed = append(ts.departed, p)
		}
	})
	return ts
}

// trace records what the site let out about rooms, with what viewers got.
func (ts *tracedSite) trace(viewers map[string][][]byte, rooms ...string) trace {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tr := trace{Frames: viewers, Peers: make(map[string][][]hub.Held), Logged: make(map[string][]hub.Entry),
		Departed: slices.Clone(ts.departed), Panel: ts.site.Panel(), Snapshots: make(map[string]hub.Snapshot), Held: make(map[string][]hub.Held)}
	tr.Snapshots[""], tr.Held[""] = ts.site.Lobby().Snapshot(), sortHeld(ts.site.Lobby().Held())
	tr.Peers[""], tr.Logged[""] = ts.peers[""].take(), ts.logged[""]
	for _, room := range rooms {
		tr.Snapshots[room], _ = ts.site.Room(room)
		if h := ts.site.RoomHub(room); h != nil {
			tr.Held[room] = sortHeld(h.Held())
		}
		if calls := ts.peers[room].take(); len(calls) > 0 {
			tr.Peers[room] = calls
		}
		tr.Logged[room] = ts.logged[room]
	}
	return tr
}

func sortHeld(h []hub.Held) []hub.Held {
	slices.SortFunc(h, func(a, b hub.Held) int {
		if a.Person.Key < b.Person.Key {
			return -1
		}
		return 1
	})
	return h
}

// TestInvisibleLeaksNothing: alice, invisible, in room a, in room b (where
// nobody else is) and in the lobby, active, setting a status, then gone:
// everything the site lets out (every byte the other viewers got, Peers,
// Logged, Departed, the panel, the snapshots, Held) is what it is without
// her. She gets the same frames as everyone, and is told she is invisible.
func TestInvisibleLeaksNothing(t *testing.T) {
	run := func(withAlice bool) (trace, []*hub.Subscription, map[string][][]byte) {
		ts := newTracedSite(t)
		f := ts.siteFixture
		lobby := f.lobby(t, guest("viewer"))
		inA := f.join(t, "a", guest("va"))
		bob := f.join(t, "a", user("2", "bob"))
		f.settle()
		viewers := map[string][][]byte{"lobby": raw(lobby), "a": raw(inA)}

		var alice []*hub.Subscription
		invisible := user("1", "alice")
		invisible.Invisible, invisible.Status, invisible.Text = true, hub.StatusBusy, "hiding"
		if withAlice {
			inLobby := f.site.Lobby().Connect(invisible)
			t.Cleanup(inLobby.Close)
			inA, err := f.site.Join("a", invisible, nil) // its snapshot is read below
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(inA.Close)
			alice = []*hub.Subscription{inA, f.join(t, "b", invisible), inLobby}
		}
		f.settle()
		if withAlice {
			alice[0].Active()
			f.site.SetStatus("u-1", hub.StatusAway, "still hiding")
		}
		f.clock.Advance(time.Second)
		bob.Close()
		f.clock.Advance(grace)
		f.settle()
		f.clock.Advance(awayAfter)
		f.settle()
		for _, s := range alice {
			s.Close()
		}
		f.clock.Advance(grace)
		f.settle()
		after := map[string][][]byte{"lobby": raw(lobby), "a": raw(inA)}
		for k, v := range after {
			viewers[k] = append(viewers[k], v...)
		}
		return ts.trace(viewers, "a", "b"), alice, after
	}
	without, _, _ := run(false)
	with, alice, after := run(true)

	for name, want := range without.Frames {
		got := with.Frames[name]
		if len(got) != len(want) {
			t.Errorf("viewer in %s got %d frames with alice invisible, %d without", name, len(got), len(want))
			continue
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("viewer in %s, frame %d: with alice invisible\n%s\nwithout her\n%s", name, i, got[i], want[i])
			}
		}
	}
	with.Frames, without.Frames = nil, nil
	if !reflect.DeepEqual(with, without) {
		t.Errorf("with alice invisible the site let out\n%+v\nwithout her\n%+v", with, without)
	}
	if len(with.Frames["a"]) == 0 && len(after["a"]) == 0 {
		t.Fatal("room a's viewer got no frame after alice came: nothing was compared")
	}

	// She got what everyone got: in room a, a snapshot that does not show
	// her, then the frames room a's viewer got since.
	inA := alice[0]
	if !inA.Invisible() || inA.CountedAfter() != 0 {
		t.Errorf("Invisible() = %v, CountedAfter() = %d; want true, 0", inA.Invisible(), inA.CountedAfter())
	}
	frames := raw(inA)
	if len(frames) == 0 {
		t.Fatal("alice got no frame in room a")
	}
	snap := decode(t, frames[0]).Snapshot
	if snap == nil || snap.Counts != (hub.Counts{People: 2, Guests: 1}) || len(snap.Users) != 1 || snap.Users[0].Name != "bob" {
		t.Errorf("alice's snapshot of room a: %+v, want va and bob", snap)
	}
	if !slices.EqualFunc(frames[1:], after["a"], bytes.Equal) {
		t.Errorf("alice's frames in room a:\n%q\nroom a's viewer's:\n%q", frames[1:], after["a"])
	}
}

// TestInvisibleViewerIsNotCountedByTheirOwnPage: a page rendered for an
// invisible viewer shows the site as everyone else sees it, without them.
func TestInvisibleViewerIsNotCountedByTheirOwnPage(t *testing.T) {
	f := newSite(t, nil)
	f.lobby(t, guest("viewer"))
	f.settle()
	alice := user("1", "alice")
	alice.Invisible = true
	if got, want := f.site.Lobby().SnapshotFor(alice), f.site.Lobby().Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("the lobby for invisible alice: %+v, want %+v", got, want)
	}
	if got := f.site.RoomFor("nobody-here", alice); got.Counts != (hub.Counts{}) || len(got.Users) != 0 {
		t.Errorf("an empty room for invisible alice: %+v, want nobody", got)
	}
}
