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
