package hub_test

import (
	"slices"
	"testing"
	"time"

	"herenow/hub"
)

// TestLogLabelsFollowTheUTCDay: entries are labelled ("today 09:59 UTC")
// relative to the frame that carries them, so frames and snapshots say
// when they were made; a snapshot cached before UTC midnight is rendered
// again after it, and the first frame of a new day replaces the log whole.
func TestLogLabelsFollowTheUTCDay(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	f.connect(t, user("1", "alice"))
	diffs := f.settle(t, viewer)
	if len(diffs) != 1 || len(diffs[0].Logged) != 1 || !diffs[0].At.Equal(diffs[0].Logged[0].At) {
		t.Fatalf("alice's arrival: %+v, want one entry in a frame made when it was", diffs)
	}

	f.clock.Advance(11*time.Hour + 59*time.Minute) // 23:59:50 or so, the same UTC day
	f.connect(t, guest("a"))
	f.settle(t, viewer)
	snapshots := f.render.snapshots
	if snap := receive(t, f.hub.Connect(guest("a"))).Snapshot; snap == nil || !snap.At.Equal(f.clock.Now()) {
		t.Fatalf("a snapshot taken at %v says %+v", f.clock.Now(), snap)
	}
	if f.render.snapshots != snapshots+1 {
		t.Fatalf("the snapshot was rendered %d times, want once", f.render.snapshots-snapshots)
	}
	f.hub.Connect(guest("a"))
	if f.render.snapshots != snapshots+1 {
		t.Fatal("a snapshot was rendered again on the same day, with nothing changed")
	}

	f.clock.Advance(2 * time.Minute) // past midnight
	if snap := receive(t, f.hub.Connect(guest("a"))).Snapshot; snap == nil || !snap.At.Equal(f.clock.Now()) {
		t.Fatalf("after midnight the cached snapshot was sent: %+v", snap)
	}
	if f.render.snapshots != snapshots+2 {
		t.Fatal("the snapshot of yesterday was not rendered again")
	}

	// The guest's new tabs changed nothing shown but a frame is due: the
	// first of the day carries the whole log, for its labels.
	diffs = f.settle(t, viewer)
	if len(diffs) != 1 || !diffs[0].LogReplaced || len(diffs[0].Log) != 3 {
		t.Fatalf("the first frame of the day: %+v, want the whole log (3 entries) replaced", diffs)
	}
	f.connect(t, user("2", "bob"))
	diffs = f.settle(t, viewer)
	if len(diffs) != 1 || diffs[0].LogReplaced || len(diffs[0].Logged) != 1 {
		t.Fatalf("a later frame of the same day: %+v, want bob's entry alone", diffs)
	}
}

// logged collects the entries diffs added, oldest first, and the entries
// they sent again (Relogged).
func logged(diffs []hub.Diff) (added, relogged []hub.Entry) {
	for _, d := range diffs {
		for i := len(d.Logged) - 1; i >= 0; i-- {
			added = append(added, d.Logged[i])
		}
		relogged = append(relogged, d.Relogged...)
	}
	return added, relogged
}

// TestLogWindowSummarisesGuests: with a LogWindow, guests are not logged
// as they come and go but once per window: those who came and stayed,
// those who came and went within it, and those who went.
func TestLogWindowSummarisesGuests(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.Grace = 0; c.LogWindow = time.Minute })
	viewer := f.connect(t, user("v", "vic"))
	f.settle(t, viewer)

	g0 := f.connect(t, guest("0"))
	f.clock.Advance(time.Minute - time.Millisecond)
	if added, _ := logged(drain(t, viewer)); len(added) != 0 {
		t.Fatalf("a guest's arrival was logged within the window: %+v", added)
	}
	f.clock.Advance(time.Millisecond)
	added, _ := logged(drain(t, viewer))
	if len(added) != 1 || !added[0].Arrived || added[0].Guests != 1 || added[0].Visits != 0 {
		t.Fatalf("at the window's end: %+v, want one entry, a guest came online", added)
	}

	g1, g2 := f.connect(t, guest("1")), f.connect(t, guest("2"))
	f.connect(t, guest("3"))
	f.clock.Advance(tick) // the frame that opens the window
	f.clock.Advance(10 * time.Second)
	g1.Close()
	g2.Close()
	g0.Close()
	f.clock.Advance(50*time.Second - time.Millisecond)
	if added, _ := logged(drain(t, viewer)); len(added) != 0 {
		t.Fatalf("guests were logged within the window: %+v", added)
	}
	f.clock.Advance(time.Millisecond)
	added, _ = logged(drain(t, viewer))
	want := []hub.Entry{
		{Arrived: true, Guests: 1}, // guest 3, still here
		{Visits: 2},                // guests 1 and 2
		{Guests: 1},                // guest 0, here since the last window
	}
	if len(added) != len(want) {
		t.Fatalf("at the window's end: %+v, want %+v", added, want)
	}
	for i, e := range added {
		if e.Arrived != want[i].Arrived || e.Guests != want[i].Guests || e.Visits != want[i].Visits || len(e.Names) != 0 || !e.At.Equal(f.clock.Now()) {
			t.Errorf("entry %d = %+v, want %+v at %v", i, e, want[i], f.clock.Now())
		}
	}

	f.clock.Advance(5 * time.Minute)
	if added, _ := logged(drain(t, viewer)); len(added) != 0 {
		t.Errorf("a quiet window logged %+v", added)
	}
}

// TestGuestReloadInsideGracePeriodIsNeverLogged: a guest's reload within
// the grace period is neither an arrival nor a visit.
func TestGuestReloadInsideGracePeriodIsNeverLogged(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.LogWindow = time.Minute })
	viewer := f.connect(t, user("v", "vic"))
	g := f.connect(t, guest("1"))
	f.clock.Advance(2 * time.Minute)
	drain(t, viewer)

	g.Close()
	f.clock.Advance(time.Second)
	f.connect(t, guest("1"))
	f.clock.Advance(5 * time.Minute)
	if diffs := drain(t, viewer); len(diffs) != 0 {
		t.Errorf("a guest's reload inside the grace period sent %+v", diffs)
	}
}

// TestLogWindowCollapsesBursts: users who come within a LogWindow of the
// newest entry's first, with nothing logged between, join it; the shown
// entry is sent again under its ID. Another entry between, or the window
// passing, starts a new one.
func TestLogWindowCollapsesBursts(t *testing.T) {
	var told []hub.Entry // what Config.Logged heard; under the hub's lock, read after it returns
	f := newFixture(t, func(c *hub.Config) {
		c.Grace = 0
		c.LogWindow = time.Minute
		c.Logged = func(entries []hub.Entry) { told = append(told, entries...) }
	})
	viewer := f.connect(t, user("v", "vic"))
	f.settle(t, viewer)
	f.clock.Advance(time.Minute)

	f.connect(t, user("1", "alice"))
	added, _ := logged(f.settle(t, viewer))
	if len(added) != 1 || !slices.Equal(added[0].Names, []string{"alice"}) {
		t.Fatalf("alice's arrival: %+v", added)
	}
	first := added[0]
	snap := f.hub.Snapshot() // shares alice's entry; must not change under it

	for i, name := range []string{"bob", "carol", "dave", "erin"} {
		f.clock.Advance(10 * time.Second)
		f.connect(t, user(string(rune('2'+i)), name))
	}
	added, relogged := logged(f.settle(t, viewer))
	if len(added) != 0 || len(relogged) == 0 {
		t.Fatalf("a burst within the window: added %+v, relogged %+v, want the first entry sent again", added, relogged)
	}
	last := relogged[len(relogged)-1]
	if last.ID != first.ID || !last.At.Equal(first.At) || !slices.Equal(last.Names, []string{"alice", "bob", "carol"}) || last.Others != 2 {
		t.Errorf("the burst's entry = %+v, want entry %d of %v naming alice, bob, carol and 2 others", last, first.ID, first.At)
	}
	if names := snap.Log[0].Names; !slices.Equal(names, []string{"alice"}) {
		t.Errorf("a snapshot taken before the burst now reads %v", names)
	}
	if log := f.hub.Snapshot().Log; log[0].ID != first.ID || log[0].Others != 2 {
		t.Errorf("the log = %+v, want the burst's entry on top", log)
	}
	if e := told[len(told)-1]; e.ID != first.ID || e.Others != 2 {
		t.Errorf("Config.Logged last heard %+v, want the burst's entry as it now reads", e)
	}

	// The window has passed since alice's entry began: a new entry.
	f.clock.Advance(30 * time.Second)
	frank := f.connect(t, user("7", "frank"))
	added, relogged = logged(f.settle(t, viewer))
	if len(added) != 1 || len(relogged) != 0 || !slices.Equal(added[0].Names, []string{"frank"}) {
		t.Fatalf("after the window: added %+v, relogged %+v, want frank's own entry", added, relogged)
	}

	// An entry between breaks a burst: frank goes, then gina comes.
	frank.Close()
	f.settle(t, viewer)
	f.clock.Advance(time.Second)
	f.connect(t, user("8", "gina"))
	added, relogged = logged(f.settle(t, viewer))
	if len(added) != 1 || len(relogged) != 0 || !slices.Equal(added[0].Names, []string{"gina"}) {
		t.Errorf("after a departure: added %+v, relogged %+v, want gina's own entry", added, relogged)
	}
}
