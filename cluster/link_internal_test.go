package cluster

import (
	"log/slog"
	"testing"

	"herenow/hub"
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
