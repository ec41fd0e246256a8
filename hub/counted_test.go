package hub_test

import (
	"testing"
	"time"

	"herenow/hub"
)

// TestCountedAfterSaysWhichFrameCountsTheNewcomer: a subscription says after
// how many frames its person is in the figures: at once when its snapshot
// counted them (a second tab, a reload within the grace period), else after
// the next frame, which carries the counts even when someone else's going
// left them as they were.
func TestCountedAfterSaysWhichFrameCountsTheNewcomer(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.hub.Connect(guest("viewer"))
	t.Cleanup(viewer.Close)
	if got := viewer.CountedAfter(); got != 2 {
		t.Errorf("the first guest: counted after %d frames, want 2 (the snapshot of nobody, then the frame that shows them)", got)
	}
	if snap := receive(t, viewer); snap.Snapshot == nil || snap.Snapshot.Counts.People != 0 {
		t.Fatalf("first frame %+v, want a snapshot of nobody", snap)
	}
	if diffs := f.settle(t, viewer); len(diffs) != 1 || diffs[0].Counts == nil || diffs[0].Counts.People != 1 {
		t.Fatalf("after a tick: %+v, want one frame counting 1 person", diffs)
	}

	second := f.connect(t, guest("viewer"))
	if got := second.CountedAfter(); got != 1 {
		t.Errorf("the guest's second tab: counted after %d frames, want 1 (its snapshot counts them)", got)
	}
	f.settle(t, viewer)
	second.Close()
	viewer.Close() // into the grace period: still shown
	f.settle(t, second)
	again := f.connect(t, guest("viewer"))
	if got := again.CountedAfter(); got != 1 {
		t.Errorf("a reload within the grace period: counted after %d frames, want 1", got)
	}

	// One guest goes as another comes, within a tick: the figures do not
	// change, but the frame that shows the newcomer carries them.
	leaving := f.connect(t, guest("leaving"))
	f.settle(t, again)
	newcomer := f.hub.Connect(guest("newcomer"))
	t.Cleanup(newcomer.Close)
	leaving.Leave()
	if got := newcomer.CountedAfter(); got != 2 {
		t.Errorf("a newcomer: counted after %d frames, want 2", got)
	}
	receive(t, newcomer) // the snapshot
	diffs := f.settle(t, newcomer)
	if len(diffs) != 1 || diffs[0].Counts == nil || diffs[0].Counts.People != 2 {
		t.Errorf("as one guest went and another came: %+v, want one frame counting 2 people", diffs)
	}
}

// TestCountedAfterCountsTheAttachedFrame: a hub with an attached region
// (the lobby's Rooms panel) queues it after the snapshot, before the frame
// that counts a newcomer; after a quiet spell that frame comes at once.
func TestCountedAfterCountsTheAttachedFrame(t *testing.T) {
	f := newFixture(t, nil)
	f.hub.Attach(&hub.Frame{HTML: []byte(`{}`)})
	f.clock.Advance(time.Minute)
	s := f.hub.Connect(guest("a"))
	t.Cleanup(s.Close)
	if got := s.CountedAfter(); got != 3 {
		t.Errorf("counted after %d frames, want 3: the snapshot, the attached frame, the frame that shows them", got)
	}
	if first := receive(t, s); first.Snapshot == nil || first.Snapshot.Counts.People != 0 {
		t.Fatalf("first frame %+v, want a snapshot of nobody", first)
	}
	if second := receive(t, s); second.Snapshot != nil || second.Diff != nil {
		t.Fatalf("second frame %+v, want the attached one", second)
	}
	if third := receive(t, s); third.Diff == nil || third.Diff.Counts == nil || third.Diff.Counts.People != 1 {
		t.Fatalf("third frame %+v, want one counting 1 person", third)
	}
}
