package hub_test

import (
	"testing"
	"time"
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
