package hub_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"herenow/hub"
)

const grace = 5 * time.Second

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
	for deadline := time.Now().Add(5 * time.Second); !f.hub.Closed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not close the hub")
		}
	}
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

func TestBroadcastGoesOutInOrderAndToNewcomers(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.QueueSize = 3 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	slow := f.hub.Connect(guest("slow")) // never reads
	t.Cleanup(slow.Close)
	f.settle(t, viewer)

	f.connect(t, user("1", "alice")) // a diff at once (leading edge)
	panel := &hub.Frame{HTML: []byte(`{}`)}
	f.hub.Broadcast(panel)
	if got := queued(viewer); len(got) != 2 || got[0] == panel || got[1] != panel {
		t.Fatalf("viewer got %d frames, want alice's diff then the broadcast", len(got))
	}

	late := f.hub.Connect(guest("late"))
	t.Cleanup(late.Close)
	if got := queued(late); len(got) != 2 || got[1] != panel {
		t.Error("a newcomer did not get the latest broadcast after its snapshot")
	}

	// slow has its snapshot, the diffs of its own and alice's arrival, and
	// the broadcast: one more is too many.
	f.hub.Broadcast(&hub.Frame{HTML: []byte(`{}`)})
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
