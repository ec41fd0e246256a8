package cluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/handlers"
	"herenow/hub"
	"herenow/hub/hubtest"
)

// TestChangesLoggedWhileCutOffAreQuietOnePersonAtATime: a change heard
// while the hub logs provisionally is quiet (already logged) unless that
// same person has a change waiting that was not; one person's loud change
// does not make the next person's loud.
func TestChangesLoggedWhileCutOffAreQuietOnePersonAtATime(t *testing.T) {
	r := NewRedis(nil, "A", slog.New(slog.DiscardHandler), Options{})
	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	bob := hub.Held{Person: hub.Person{Key: "u-2", Name: "bob"}, Conns: 1}
	r.mu.Lock()
	r.answered = hub.LogShared
	r.mu.Unlock()
	r.Changed([]hub.Held{alice}) // logged by the cluster: loud
	r.mu.Lock()
	r.answered = hub.LogProvisional
	r.mu.Unlock()
	r.Changed([]hub.Held{alice, bob}) // both logged here
	if r.pending[place{"", "u-1"}] {
		t.Error("alice's change is quiet, but one of her changes waiting was never logged")
	}
	if !r.pending[place{"", "u-2"}] {
		t.Error("bob's change is loud, but it was logged here")
	}
}

// TestEachHubsChangesAreQuietAsThatHubLoggedThem: the lobby and a room
// each ask how to log, then report their changes, under locks of their
// own, so another hub may ask in between while the link joins or is cut
// off. Each hub's changes are quiet exactly when that hub logged them.
func TestEachHubsChangesAreQuietAsThatHubLoggedThem(t *testing.T) {
	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	for _, c := range []struct {
		lobbyTold, roomTold hub.Logging
	}{
		{hub.LogProvisional, hub.LogShared}, // the link joined in between
		{hub.LogShared, hub.LogProvisional}, // the link was cut off in between
	} {
		r := NewRedis(nil, "A", slog.New(slog.DiscardHandler), Options{})
		room := r.Room("standup")
		set := func(l hub.Logging) {
			r.mu.Lock()
			r.logging = l
			r.mu.Unlock()
		}
		set(c.lobbyTold)
		r.Logging()
		set(c.roomTold)
		room.Logging()
		r.Changed([]hub.Held{alice})
		room.Changed([]hub.Held{alice})
		if quiet := r.pending[place{"", "u-1"}]; quiet != (c.lobbyTold == hub.LogProvisional) {
			t.Errorf("lobby told %v, room %v: the lobby's change is quiet=%v", c.lobbyTold, c.roomTold, quiet)
		}
		if quiet := r.pending[place{"standup", "u-1"}]; quiet != (c.roomTold == hub.LogProvisional) {
			t.Errorf("lobby told %v, room %v: the room's change is quiet=%v", c.lobbyTold, c.roomTold, quiet)
		}
	}
}

// eagerPanel is a Site whose panel timer fires as soon as each Remote
// call returns, as it does at once after a quiet spell: a room left
// empty by one call is forgotten before the next. It counts the calls.
type eagerPanel struct {
	*hub.Site
	clock *hubtest.Clock
	calls map[string]int
}

func (p *eagerPanel) Remote(room string, apply func(*hub.Hub)) error {
	p.calls[room]++
	err := p.Site.Remote(room, apply)
	p.clock.Advance(0)
	return err
}

// TestADeltasEntryAndPeopleReachANewRoomInOneCall: another instance's
// delta brings alice into standup, new here, with her "joined" entry. The
// entry and alice go to the room in one Remote call, so the room, made
// for the entry, is never empty between them: were they applied one
// after the other, the Site could forget it as empty in between, and the
// entry would be lost with it.
func TestADeltasEntryAndPeopleReachANewRoomInOneCall(t *testing.T) {
	r := NewRedis(nil, "A", slog.New(slog.DiscardHandler), Options{})
	clock := hubtest.NewClock()
	room := hub.Config{Render: handlers.Renderer{}, Clock: clock, Tick: 10 * time.Millisecond,
		ListLimit: 100, LogSize: 50, QueueSize: 64}
	lobby := room
	lobby.Peers = r
	site, err := hub.NewSite(hub.SiteConfig{Room: room, Lobby: lobby, RoomPeers: r.Room,
		RoomRender: func(name string) hub.Renderer { return handlers.Renderer{Room: name} },
		PanelLimit: 20, RenderPanel: handlers.RenderPanel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(site.Close)
	presence := &eagerPanel{Site: site, clock: clock, calls: make(map[string]int)}
	r.presence = presence
	r.remotes["B"] = &remote{epoch: "eb", seq: 4}
	r.mu.Lock()
	r.logging = hub.LogShared
	r.mu.Unlock()

	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	joined := hub.Entry{ID: 7, At: clock.Now().Truncate(time.Millisecond), Arrived: true, Names: []string{"alice"}}
	r.apply(context.Background(), batch{events: []redis.XMessage{{ID: "1-0", Values: map[string]any{
		"t": "d", "i": "B", "e": "eb", "s": "5",
		"o": encodeOps([]op{{room: "standup", held: alice}}),
		"l": encodeEntries([]logged{{room: "standup", entry: joined}}),
	}}}})
	clock.Advance(room.Tick) // the room's frame

	if n := presence.calls["standup"]; n != 1 {
		t.Errorf("%d Remote calls for standup, want 1", n)
	}
	if seq := r.remotes["B"].seq; seq != 5 {
		t.Errorf("B's delta 5 not applied: at %d", seq)
	}
	snap, ok := site.Room("standup")
	if !ok {
		t.Fatal("standup was forgotten, alice in it")
	}
	if len(snap.Users) != 1 || snap.Users[0].Key != "u-1" {
		t.Errorf("standup lists %+v, want alice", snap.Users)
	}
	if len(snap.Log) != 1 || snap.Log[0].ID != joined.ID || !snap.Log[0].Arrived {
		t.Errorf("standup's log = %+v, want alice joining, as %d", snap.Log, joined.ID)
	}
}
