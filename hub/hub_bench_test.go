package hub_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"herenow/hub"
	"herenow/hub/hubtest"
)

// staticRenderer returns the same small frame for every change, so the
// benchmarks below measure the hub and not the templates.
type staticRenderer struct{ frame *hub.Frame }

func (r staticRenderer) Snapshot(hub.Snapshot) (*hub.Frame, error) { return r.frame, nil }
func (r staticRenderer) Diff(hub.Diff) (*hub.Frame, error)         { return r.frame, nil }

func benchHub(b *testing.B, clock hub.Clock) *hub.Hub {
	b.Helper()
	return benchHubAway(b, clock, 0)
}

func benchHubAway(b *testing.B, clock hub.Clock, awayAfter time.Duration) *hub.Hub {
	b.Helper()
	h, err := hub.New(hub.Config{Render: staticRenderer{&hub.Frame{HTML: make([]byte, 400)}}, Clock: clock,
		Tick: 50 * time.Millisecond, Grace: 0, ListLimit: 100, LogSize: 50, QueueSize: 32, AwayAfter: awayAfter})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return h
}

// fill connects n guests whose frames are drained by one goroutine each, as
// the transports' writers would, and returns their subscriptions.
func fill(b *testing.B, h *hub.Hub, n int) []*hub.Subscription {
	b.Helper()
	var wg sync.WaitGroup
	subs := make([]*hub.Subscription, n)
	for i := range subs {
		subs[i] = h.Connect(hub.Person{Key: fmt.Sprintf("g-%d", i), Guest: true})
		wg.Add(1)
		go func(s *hub.Subscription) {
			defer wg.Done()
			for {
				select {
				case <-s.Frames():
				case <-s.Done():
					return
				}
			}
		}(subs[i])
	}
	b.Cleanup(func() {
		h.Close()
		wg.Wait()
	})
	return subs
}

// BenchmarkArrivalAndDeparture is one person arriving and leaving, each
// change flushed at once to 10,000 subscribers: apply, diff, fan-out.
func BenchmarkArrivalAndDeparture(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("online=%d", n), func(b *testing.B) {
			clock := hubtest.NewClock()
			h := benchHub(b, clock)
			fill(b, h, n)
			probe := hub.Person{Key: "u-probe", Name: "probe"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clock.Advance(time.Second) // quiet spell: the next change goes out at once
				s := h.Connect(probe)
				clock.Advance(time.Second)
				s.Close()
			}
		})
	}
}

// BenchmarkCoalescedChanges is 100 arrivals inside one tick merged into one
// frame, with nobody subscribed: the cost of applying changes and diffing.
func BenchmarkCoalescedChanges(b *testing.B) {
	clock := hubtest.NewClock()
	h := benchHub(b, clock)
	people := make([]hub.Person, 100)
	for i := range people {
		people[i] = hub.Person{Key: fmt.Sprintf("u-%d", i), Name: fmt.Sprintf("user %d", i)}
	}
	subs := make([]*hub.Subscription, len(people))
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(time.Second)
		for i, p := range people {
			subs[i] = h.Connect(p)
		}
		clock.Advance(time.Second)
		for _, s := range subs {
			s.Close()
		}
	}
}

// BenchmarkApplyRemote is one person arriving or leaving on another
// instance, flushed at once, while 500,000 people are held by nine other
// instances: the cost must follow the change, not the people online.
// Replacing that instance's whole share (the old protocol's way) is there
// for comparison.
func BenchmarkApplyRemote(b *testing.B) {
	const instances, people = 9, 500_000
	clock := hubtest.NewClock()
	h := benchHub(b, clock)
	for i := range instances {
		share := make([]hub.Held, 0, people/instances+1)
		for j := i; j < people; j += instances {
			share = append(share, hub.Held{Person: hub.Person{Key: fmt.Sprintf("g-%d", j), Guest: true}, Conns: 1})
		}
		h.ReplaceRemote(fmt.Sprintf("i-%d", i), share, true)
	}
	clock.Advance(time.Second)
	if c := h.Counts(); c.People != people {
		b.Fatalf("%d people online, want %d", c.People, people)
	}
	probe := hub.Person{Key: "u-probe", Name: "probe"}
	b.Run("delta", func(b *testing.B) {
		b.ReportAllocs()
		arrived := false
		for b.Loop() {
			clock.Advance(time.Second) // quiet spell: flushed at once
			arrived = !arrived
			h.ApplyRemote("i-0", []hub.Held{{Person: probe, Conns: 1, Gone: !arrived}})
		}
	})
	b.Run("whole-share", func(b *testing.B) {
		var share []hub.Held
		for j := 0; j < people; j += instances {
			share = append(share, hub.Held{Person: hub.Person{Key: fmt.Sprintf("g-%d", j), Guest: true}, Conns: 1})
		}
		withProbe := append(slices.Clone(share), hub.Held{Person: probe, Conns: 1})
		b.ReportAllocs()
		arrived := false
		for b.Loop() {
			clock.Advance(time.Second)
			arrived = !arrived
			if arrived {
				h.ReplaceRemote("i-0", withProbe, false)
			} else {
				h.ReplaceRemote("i-0", share, false)
			}
		}
	})
}

// BenchmarkActive is the hot input of away-by-itself: activity from one of
// 10,000 connected people, who are active already, on the system clock.
// It must cost a clock read and two atomic operations, send no frame and
// set no timer; "parallel" has every core report activity at once. The
// load the issue names, 10,000 clients each active once a minute, is 167
// calls a second.
func BenchmarkActive(b *testing.B) {
	const online = 10_000
	h := benchHubAway(b, hub.SystemClock{}, 10*time.Minute)
	subs := fill(b, h, online)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			subs[i].Active()
			if i++; i == online {
				i = 0
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(997)) % online
			for pb.Next() {
				subs[i].Active()
				if i++; i == online {
					i = 0
				}
			}
		})
	})
}

// BenchmarkAwayAndBack is a listed user going away by themselves and
// coming back on activity, each change flushed at once to 10,000
// subscribers: the cost of activity that does change something, two
// frames per op.
func BenchmarkAwayAndBack(b *testing.B) {
	const away = 10 * time.Minute
	clock := hubtest.NewClock()
	h := benchHubAway(b, clock, away)
	fill(b, h, 10_000)
	alice := h.Connect(hub.Person{Key: "u-alice", Name: "alice"})
	b.Cleanup(alice.Close)
	go func() { // her own frames, as her transport would
		for {
			select {
			case <-alice.Frames():
			case <-alice.Done():
				return
			}
		}
	}()
	clock.Advance(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		// The guests go away with the first op and stay so (they have no
		// row: no frame); from then on an op is alice's away and back.
		clock.Advance(away)
		alice.Active()
	}
}
