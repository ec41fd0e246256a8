package hub_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"herenow/hub"
)

// fakePeers records what the hub tells it and logs as told.
type fakePeers struct {
	mu      sync.Mutex
	logging hub.Logging
	calls   [][]hub.Held
}

func (p *fakePeers) Changed(changes []hub.Held) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, slices.Clone(changes))
}

func (p *fakePeers) Logging() hub.Logging {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logging
}

func (p *fakePeers) setLogging(l hub.Logging) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logging = l
}

// take returns the Changed calls since the last take; none from nil.
func (p *fakePeers) take() [][]hub.Held {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	calls := p.calls
	p.calls = nil
	return calls
}

func newPeersFixture(t *testing.T, logging hub.Logging, change func(*hub.Config)) (*fixture, *fakePeers) {
	t.Helper()
	peers := &fakePeers{logging: logging}
	f := newFixture(t, func(c *hub.Config) {
		c.Peers = peers
		if change != nil {
			change(c)
		}
	})
	return f, peers
}

func held(p hub.Person, conns int) hub.Held { return hub.Held{Person: p, Conns: conns} }
func gone(p hub.Person) hub.Held            { return hub.Held{Person: p, Gone: true} }

func equalCalls(a, b [][]hub.Held) bool {
	return slices.EqualFunc(a, b, func(x, y []hub.Held) bool { return slices.Equal(x, y) })
}

func logIDs(entries []hub.Entry) []uint64 {
	ids := make([]uint64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

func TestWithoutPeersTheHubNumbersItsOwnEntries(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)
	alice.Close()
	f.settle(t, viewer)
	if got := logIDs(f.hub.Snapshot().Log); !slices.Equal(got, []uint64{3, 2, 1}) {
		t.Errorf("log IDs = %v, want 3, 2, 1", got)
	}
}

func TestPeersHearOneListOfLocalChangesPerFlush(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogAlone, nil)
	viewer := f.connect(t, guest("viewer")) // after a quiet spell: flushed at once
	if got, want := peers.take(), [][]hub.Held{{held(guest("viewer"), 1)}}; !equalCalls(got, want) {
		t.Errorf("after the first connect: %+v, want %+v", got, want)
	}
	f.connect(t, user("1", "alice"))
	f.connect(t, user("2", "bob"))
	f.connect(t, user("1", "alice")) // a second tab, same tick
	if got := peers.take(); len(got) != 0 {
		t.Errorf("told before the tick: %+v", got)
	}
	f.settle(t, viewer)
	want := [][]hub.Held{{held(user("1", "alice"), 2), held(user("2", "bob"), 1)}}
	if got := peers.take(); !equalCalls(got, want) {
		t.Errorf("after one tick: %+v, want one call %+v", got, want)
	}

	// A second tab of a guest changes nothing shown: Peers still hears it,
	// and no frame goes out.
	f.clock.Advance(time.Second)
	f.connect(t, guest("viewer"))
	if got, want := peers.take(), [][]hub.Held{{held(guest("viewer"), 2)}}; !equalCalls(got, want) {
		t.Errorf("after a guest's second tab: %+v, want %+v", got, want)
	}
	if got := f.settle(t, viewer); len(got) != 0 {
		t.Errorf("a guest's second tab sent frames: %+v", got)
	}
	// Remote changes are not this instance's share.
	f.hub.ApplyRemote("B", []hub.Held{held(user("3", "carol"), 1)})
	f.settle(t, viewer)
	if got := peers.take(); len(got) != 0 {
		t.Errorf("told of another instance's people: %+v", got)
	}
}

func TestPeersHearGraceAsNoConnectionThenGone(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogAlone, nil)
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)
	peers.take()

	// A reload within a tick tells nothing, even after a quiet spell.
	f.clock.Advance(time.Second)
	alice.Close()
	alice = f.connect(t, user("1", "alice"))
	f.clock.Advance(time.Second)
	if got := peers.take(); len(got) != 0 {
		t.Errorf("a reload within a tick was told: %+v", got)
	}

	alice.Close()
	f.clock.Advance(tick)
	if got, want := peers.take(), [][]hub.Held{{held(user("1", "alice"), 0)}}; !equalCalls(got, want) {
		t.Errorf("a tick into the grace period: %+v, want %+v", got, want)
	}
	if got := drain(t, viewer); len(got) != 0 {
		t.Errorf("the grace period's start sent frames: %+v", got)
	}
	f.clock.Advance(5 * time.Second)
	if got, want := peers.take(), [][]hub.Held{{gone(user("1", "alice"))}}; !equalCalls(got, want) {
		t.Errorf("after the grace period: %+v, want %+v", got, want)
	}

	bob := f.connect(t, user("2", "bob"))
	f.settle(t, viewer)
	peers.take()
	bob.Leave()
	f.settle(t, viewer)
	if got, want := peers.take(), [][]hub.Held{{gone(user("2", "bob"))}}; !equalCalls(got, want) {
		t.Errorf("after Leave: %+v, want %+v", got, want)
	}
}

func TestApplyRemoteTouchesOnlyThePeopleItNames(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.hub.ApplyRemote("B", []hub.Held{held(user("2", "bob"), 1), held(user("3", "carol"), 1), held(guest("g"), 2)})
	f.hub.ApplyRemote("C", []hub.Held{held(user("4", "dave"), 1)})
	f.settle(t, viewer)
	if c := f.hub.Counts(); c.People != 5 {
		t.Fatalf("counts = %+v, want 5 people", c)
	}

	f.clock.Advance(time.Second)
	f.hub.ApplyRemote("B", []hub.Held{held(user("5", "eve"), 1)}) // at once: the leading edge
	f.hub.ApplyRemote("B", []hub.Held{gone(user("2", "bob"))})    // waits for the tick
	if n := f.hub.DirtyLen(); n != 1 {
		t.Errorf("%d people wait for the flush after a change to one of B's four, want 1", n)
	}
	got := append(drain(t, viewer), f.settle(t, viewer)...)
	if len(got) != 2 || len(got[0].Added) != 1 || got[0].Added[0].Name != "eve" || !got[0].Logged[0].Arrived {
		t.Fatalf("frames = %+v, want eve's arrival, then bob's departure", got)
	}
	if !slices.Equal(got[1].Removed, []string{"u-2"}) || got[1].Logged[0].Arrived || !slices.Equal(got[1].Logged[0].Names, []string{"bob"}) {
		t.Errorf("second frame = %+v, want bob removed and 'bob went offline'", got[1])
	}
	// Gone for someone the instance does not hold changes nothing.
	f.hub.ApplyRemote("C", []hub.Held{gone(user("2", "bob"))})
	if n := f.hub.DirtyLen(); n != 0 {
		t.Errorf("%d people dirty after an unknown Gone", n)
	}
}

func TestReplaceRemoteQuietShowsWithoutLoggingAndDropsTheMissing(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	f.hub.ReplaceRemote("B", []hub.Held{held(user("2", "bob"), 1), held(user("3", "carol"), 1)}, true)
	got := f.settle(t, viewer)
	if len(got) != 1 || len(got[0].Added) != 2 || len(got[0].Logged) != 0 {
		t.Fatalf("after a quiet replace: %+v, want bob and carol listed and nothing logged", got)
	}
	f.hub.ReplaceRemote("B", []hub.Held{held(user("2", "bob"), 1), held(user("4", "dave"), 1)}, false)
	got = f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-3"}) || len(got[0].Added) != 1 || got[0].Added[0].Name != "dave" {
		t.Fatalf("after a replace without carol: %+v, want carol removed and dave added", got)
	}
	if e := got[0].Logged; len(e) != 2 || !e[1].Arrived || !slices.Equal(e[1].Names, []string{"dave"}) || e[0].Arrived || !slices.Equal(e[0].Names, []string{"carol"}) {
		t.Errorf("log = %+v, want 'dave came online' and 'carol went offline'", e)
	}
}

func TestForgetRemoteDropsOnlyThatInstancesShare(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	f.connect(t, user("1", "alice"))
	f.hub.ApplyRemote("B", []hub.Held{held(user("1", "alice"), 2), held(user("2", "bob"), 1)})
	f.hub.ApplyRemote("C", []hub.Held{held(user("3", "carol"), 1)})
	f.settle(t, viewer)

	f.hub.ForgetRemote("B")
	got := f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-2"}) || len(got[0].Updated) != 1 || got[0].Updated[0].Tabs != 1 {
		t.Fatalf("after forgetting B: %+v, want bob removed and alice down to her 1 tab here", got)
	}
	if c := f.hub.Counts(); c.People != 3 {
		t.Errorf("counts = %+v, want viewer, alice and carol", c)
	}
}

func TestAddEntriesMergesByID(t *testing.T) {
	f, _ := newPeersFixture(t, hub.LogShared, func(c *hub.Config) { c.LogSize = 3 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	entry := func(id uint64) hub.Entry { return hub.Entry{ID: id, At: f.clock.Now(), Arrived: true, Guests: 1} }

	f.hub.AddEntries([]hub.Entry{entry(5), entry(7)})
	got := f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(logIDs(got[0].Logged), []uint64{7, 5}) || got[0].LogReplaced {
		t.Fatalf("first entries: %+v, want 7, 5 logged on top", got)
	}

	f.hub.AddEntries([]hub.Entry{entry(6), entry(7)}) // 7 is held: skipped; 6 goes between
	got = f.settle(t, viewer)
	if len(got) != 1 || !got[0].LogReplaced || !slices.Equal(logIDs(got[0].Log), []uint64{7, 6, 5}) || len(got[0].Logged)+len(got[0].Trimmed) != 0 {
		t.Fatalf("after an older entry: %+v, want one frame replacing the log with 7, 6, 5", got)
	}

	f.hub.AddEntries([]hub.Entry{entry(8)}) // newest again: the small frame
	got = f.settle(t, viewer)
	if len(got) != 1 || got[0].LogReplaced || !slices.Equal(logIDs(got[0].Logged), []uint64{8}) || !slices.Equal(got[0].Trimmed, []uint64{5}) {
		t.Fatalf("after a newer entry: %+v, want 8 on top and 5 trimmed", got)
	}

	f.hub.AddEntries([]hub.Entry{entry(4), entry(8)}) // too old for a full log, and a duplicate
	if got := f.settle(t, viewer); len(got) != 0 {
		t.Errorf("frames for nothing new: %+v", got)
	}
	if got := logIDs(f.hub.Snapshot().Log); !slices.Equal(got, []uint64{8, 7, 6}) {
		t.Errorf("log = %v, want 8, 7, 6", got)
	}
}

func TestLogSharedWritesNoEntry(t *testing.T) {
	f, _ := newPeersFixture(t, hub.LogShared, nil)
	viewer := f.connect(t, guest("viewer"))
	f.connect(t, user("1", "alice"))
	got := f.settle(t, viewer)
	if len(got) == 0 || len(got[len(got)-1].Added) != 1 {
		t.Fatalf("frames = %+v, want alice added", got)
	}
	if log := f.hub.Snapshot().Log; len(log) != 0 {
		t.Errorf("a shared-log hub wrote entries: log %+v", log)
	}
}

func TestLogProvisionalNumbersAboveTheBaseAndAnyHeld(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogAlone, nil)
	viewer := f.connect(t, guest("viewer")) // entry 1
	f.settle(t, viewer)
	peers.setLogging(hub.LogProvisional)
	f.connect(t, user("1", "alice"))
	f.settle(t, viewer)
	f.hub.AddEntries([]hub.Entry{{ID: hub.ProvisionalBase + 10, At: f.clock.Now(), Guests: 1}})
	f.connect(t, user("2", "bob"))
	f.settle(t, viewer)
	want := []uint64{hub.ProvisionalBase + 11, hub.ProvisionalBase + 10, hub.ProvisionalBase + 1, 1}
	if got := logIDs(f.hub.Snapshot().Log); !slices.Equal(got, want) {
		t.Errorf("log IDs = %v, want %v", got, want)
	}
	if got := logIDs(f.hub.Provisional()); !slices.Equal(got, []uint64{hub.ProvisionalBase + 1, hub.ProvisionalBase + 10, hub.ProvisionalBase + 11}) {
		t.Errorf("Provisional() = %v, want the three provisional entries, oldest first", got)
	}
}

func TestRenumberGivesAProvisionalEntryItsSharedPlace(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogProvisional, func(c *hub.Config) { c.Grace = 0 })
	viewer := f.connect(t, guest("viewer")) // provisional 1
	f.settle(t, viewer)
	alice := f.connect(t, user("1", "alice")) // provisional 2
	f.settle(t, viewer)
	alice.Close() // provisional 3
	f.settle(t, viewer)
	f.hub.AddEntries([]hub.Entry{{ID: 40, At: f.clock.Now(), Guests: 1}, {ID: 41, At: f.clock.Now(), Guests: 1}})
	f.settle(t, viewer)
	peers.setLogging(hub.LogShared)

	p := hub.ProvisionalBase
	f.hub.Renumber(p+1, 42)
	got := f.settle(t, viewer)
	want := []uint64{p + 3, p + 2, 42, 41, 40}
	if len(got) != 1 || !got[0].LogReplaced || !slices.Equal(logIDs(got[0].Log), want) {
		t.Fatalf("after Renumber: %+v, want one frame replacing the log with %v", got, want)
	}
	f.hub.Renumber(p+2, 41) // the shared copy is already held: the provisional one goes
	got = f.settle(t, viewer)
	want = []uint64{p + 3, 42, 41, 40}
	if len(got) != 1 || !got[0].LogReplaced || !slices.Equal(logIDs(got[0].Log), want) {
		t.Fatalf("after Renumber to a held ID: %+v, want one frame replacing the log with %v", got, want)
	}
	if got := logIDs(f.hub.Provisional()); !slices.Equal(got, []uint64{p + 3}) {
		t.Errorf("Provisional() = %v, want only %d", got, p+3)
	}
	f.hub.Renumber(p+9, 50) // unknown: nothing to do
	if got := f.settle(t, viewer); len(got) != 0 {
		t.Errorf("frames after renumbering an unknown entry: %+v", got)
	}
}
