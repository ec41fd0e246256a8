package hub_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"herenow/hub"
)

// page is the list as a viewer's browser holds it: built from a snapshot,
// then changed by each diff as htmx applies it (delete by id, replace by
// id, insert before the row a Placed names or at the end).
type page struct {
	rows []hub.User
}

func (p *page) index(key string) int {
	return slices.IndexFunc(p.rows, func(u hub.User) bool { return u.Key == key })
}

// apply changes the page as the diff's swaps would, and reports a swap
// whose target the page does not hold (htmx would drop it, and the page
// would drift from what the hub shows).
func (p *page) apply(d hub.Diff) error {
	for _, key := range d.Removed {
		i := p.index(key)
		if i < 0 {
			return fmt.Errorf("removes %s, which the page does not show", key)
		}
		p.rows = slices.Delete(p.rows, i, i+1)
	}
	for _, u := range d.Updated {
		i := p.index(u.Key)
		if i < 0 {
			return fmt.Errorf("updates %s, which the page does not show", u.Key)
		}
		p.rows[i] = u
	}
	for _, a := range d.Added {
		if p.index(a.Key) >= 0 {
			return fmt.Errorf("adds %s, which the page shows already", a.Key)
		}
		at := len(p.rows)
		if a.Before != "" {
			if at = p.index(a.Before); at < 0 {
				return fmt.Errorf("adds %s before %s, which the page does not show", a.Key, a.Before)
			}
		}
		p.rows = slices.Insert(p.rows, at, a.User)
	}
	return nil
}

func names(us []hub.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return out
}

// TestListIsOrderedByName: the list shows its users by name, ignoring case
// and accents, whatever the order they came in; the snapshot and a page
// kept up to date by diffs agree.
func TestListIsOrderedByName(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	var p page
	for i, name := range []string{"zoe", "Émile", "bob", "Carol", "dave", "ana", "émilie", "Ωmega", "11th"} {
		f.connect(t, user(strconv.Itoa(i+1), name))
		if i%3 == 0 {
			f.clock.Advance(tick) // some arrive alone, some together
		}
		for _, d := range drain(t, viewer) {
			if err := p.apply(d); err != nil {
				t.Fatalf("after %s came: the frame %v", name, err)
			}
		}
	}
	for _, d := range f.settle(t, viewer) {
		if err := p.apply(d); err != nil {
			t.Fatalf("the last frame %v", err)
		}
	}
	want := []string{"11th", "ana", "bob", "Carol", "dave", "Émile", "émilie", "zoe", "Ωmega"}
	if got := names(f.hub.Snapshot().Users); !slices.Equal(got, want) {
		t.Errorf("the snapshot lists %q, want %q", got, want)
	}
	if got := names(p.rows); !slices.Equal(got, want) {
		t.Errorf("a page kept up by diffs lists %q, want %q", got, want)
	}
	if got := names(f.hub.SnapshotFor(user("99", "Bea")).Users); !slices.Equal(got, slices.Insert(slices.Clone(want), 2, "Bea")) {
		t.Errorf("the page rendered for Bea lists %q, want her in her place after ana", got)
	}
}

// TestPromotedUserWhoLeavesInTheSameFrameIsNeverShown: with the list
// full, alice leaves and bob takes her place, then bob leaves within the
// same tick and carol takes it: the frame removes alice and adds carol,
// and says nothing of bob, whom no page showed.
func TestPromotedUserWhoLeavesInTheSameFrameIsNeverShown(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.ListLimit = 1; c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	bob := f.connect(t, user("2", "bob"))
	f.connect(t, user("3", "carol"))
	f.settle(t, viewer)

	alice.Close()
	bob.Close()
	got := f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-1"}) ||
		!slices.Equal(got[0].Added, []hub.Placed{{User: hub.User{Key: "u-3", Name: "carol", Tabs: 1}}}) {
		t.Errorf("frames = %+v, want one removing alice and adding carol", got)
	}
}

// TestFramesKeepEveryPageInOrder runs a long, seeded mix of arrivals,
// departures and extra tabs, with a short list so that places change hands
// often, and keeps a page up to date from the frames alone: every swap must
// find its target, and once the changes are out the page must show what a
// new viewer's snapshot shows, in the same order.
func TestFramesKeepEveryPageInOrder(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.ListLimit = 5; c.Grace = 0; c.QueueSize = 64 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	var p page
	follow := func(step int, diffs []hub.Diff) {
		t.Helper()
		for _, d := range diffs {
			if err := p.apply(d); err != nil {
				t.Fatalf("step %d: the frame %v (frame %+v)", step, err, d)
			}
		}
	}
	pool := []string{"zoe", "Ana", "bob", "émile", "Emil", "carol", "dave", "ö", "o", "yan", "Xi", "mallory", "ned", "ola"}
	tabs := map[int][]*hub.Subscription{} // a user's open tabs, by their index in pool
	t.Cleanup(func() {
		for _, ts := range tabs {
			for _, s := range ts {
				s.Close()
			}
		}
	})
	rng := rand.New(rand.NewPCG(17, 3))
	for step := range 600 {
		i := rng.IntN(len(pool))
		switch ts := tabs[i]; {
		case len(ts) == 0 || len(ts) < 3 && rng.IntN(3) == 0:
			tabs[i] = append(ts, f.hub.Hold(hub.Person{Key: "u-" + strconv.Itoa(i), Name: pool[i]}))
		default:
			j := rng.IntN(len(ts))
			ts[j].Close()
			tabs[i] = slices.Delete(ts, j, j+1)
		}
		if rng.IntN(4) > 0 {
			follow(step, drain(t, viewer)) // a change alone, or several in one frame
			continue
		}
		follow(step, f.settle(t, viewer))
		follow(step, f.settle(t, viewer)) // and a departure's tick later
		if want := f.hub.Snapshot().Users; !slices.Equal(p.rows, want) {
			t.Fatalf("step %d: the page lists %+v, a snapshot %+v", step, p.rows, want)
		}
	}
}
