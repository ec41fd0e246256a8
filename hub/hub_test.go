package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"herenow/hub"
	"herenow/hub/hubtest"
)

// jsonRenderer renders frames as JSON so tests can read back exactly what
// the hub decided to send, and counts how often it was asked to.
type jsonRenderer struct {
	mu        sync.Mutex
	snapshots int
	diffs     int
}

type testFrame struct {
	Snapshot *hub.Snapshot
	Diff     *hub.Diff
}

func (r *jsonRenderer) Snapshot(s hub.Snapshot) (*hub.Frame, error) {
	r.mu.Lock()
	r.snapshots++
	r.mu.Unlock()
	b, err := json.Marshal(testFrame{Snapshot: &s})
	return &hub.Frame{HTML: b}, err
}

func (r *jsonRenderer) Diff(d hub.Diff) (*hub.Frame, error) {
	r.mu.Lock()
	r.diffs++
	r.mu.Unlock()
	b, err := json.Marshal(testFrame{Diff: &d})
	return &hub.Frame{HTML: b}, err
}

const tick = 50 * time.Millisecond

type fixture struct {
	hub    *hub.Hub
	clock  *hubtest.Clock
	render *jsonRenderer
}

func newFixture(t *testing.T, change func(*hub.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: hubtest.NewClock(), render: &jsonRenderer{}}
	cfg := hub.Config{Render: f.render, Clock: f.clock, Tick: tick, Grace: 5 * time.Second, ListLimit: 100, LogSize: 50, QueueSize: 8}
	if change != nil {
		change(&cfg)
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f.hub = h
	return f
}

// connect subscribes person and consumes the snapshot it starts with.
func (f *fixture) connect(t *testing.T, p hub.Person) *hub.Subscription {
	t.Helper()
	s := f.hub.Connect(p)
	t.Cleanup(s.Close)
	if got := receive(t, s); got.Snapshot == nil {
		t.Fatalf("first frame for %s is not a snapshot: %+v", p.Key, got)
	}
	return s
}

// settle lets every pending tick pass and drains what sub received.
func (f *fixture) settle(t *testing.T, s *hub.Subscription) []hub.Diff {
	t.Helper()
	f.clock.Advance(tick)
	return drain(t, s)
}

func receive(t *testing.T, s *hub.Subscription) testFrame {
	t.Helper()
	select {
	case fr := <-s.Frames():
		var tf testFrame
		if err := json.Unmarshal(fr.HTML, &tf); err != nil {
			t.Fatal(err)
		}
		return tf
	default:
		t.Fatal("no frame waiting")
		return testFrame{}
	}
}

func drain(t *testing.T, s *hub.Subscription) []hub.Diff {
	t.Helper()
	var out []hub.Diff
	for len(s.Frames()) > 0 {
		tf := receive(t, s)
		if tf.Diff == nil {
			t.Fatal("snapshot in the middle of diffs")
		}
		out = append(out, *tf.Diff)
	}
	return out
}

func user(id, name string) hub.Person { return hub.Person{Key: "u-" + id, Name: name} }
func guest(id string) hub.Person      { return hub.Person{Key: "g-" + id, Guest: true} }

func TestTabsOfOnePersonCountOnce(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)

	a1 := f.connect(t, user("1", "alice"))
	a2 := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)

	snap := f.hub.Snapshot()
	if snap.Counts.People != 2 || snap.Counts.Guests != 1 {
		t.Errorf("counts = %+v, want 2 people of whom 1 guest", snap.Counts)
	}
	want := []hub.User{{Key: "u-1", Name: "alice", Tabs: 2}}
	if !slices.Equal(snap.Users, want) {
		t.Errorf("users = %+v, want %+v", snap.Users, want)
	}

	// Closing one of two tabs keeps alice online with one tab.
	a2.Close()
	diffs := f.settle(t, viewer)
	if len(diffs) != 1 || len(diffs[0].Updated) != 1 || diffs[0].Updated[0].Tabs != 1 || diffs[0].Counts != nil {
		t.Errorf("after closing one tab: %+v, want only alice's badge updated to 1 tab", diffs)
	}
	_ = a1
}

func TestGuestBrowsersCountOnceEach(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, user("1", "alice"))
	f.connect(t, guest("a"))
	f.connect(t, guest("a"))
	f.connect(t, guest("b"))
	f.settle(t, viewer)
	c := f.hub.Snapshot().Counts
	if c != (hub.Counts{People: 3, Guests: 2}) {
		t.Errorf("counts = %+v, want 3 people, 2 guests", c)
	}
	if users := f.hub.Snapshot().Users; len(users) != 1 {
		t.Errorf("guests must not be listed by name: %+v", users)
	}
}

func TestArrivalGoesOutAtOnceAndLaterChangesCoalesce(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)

	f.connect(t, user("1", "alice"))
	first := drain(t, viewer) // no time has passed: the leading edge
	if len(first) != 1 || len(first[0].Added) != 1 || first[0].Added[0].Name != "alice" {
		t.Fatalf("first change after quiet: %+v, want alice added at once", first)
	}

	f.connect(t, user("2", "bob"))
	f.connect(t, user("3", "carol"))
	if got := drain(t, viewer); len(got) != 0 {
		t.Fatalf("changes within a tick went out early: %+v", got)
	}
	f.clock.Advance(tick)
	got := drain(t, viewer)
	if len(got) != 1 {
		t.Fatalf("got %d frames after one tick, want 1 merged frame", len(got))
	}
	d := got[0]
	// Inserted last first: carol at the end, then bob before her.
	if want := []hub.Placed{{User: hub.User{Key: "u-3", Name: "carol", Tabs: 1}}, {User: hub.User{Key: "u-2", Name: "bob", Tabs: 1}, Before: "u-3"}}; !slices.Equal(d.Added, want) {
		t.Errorf("added = %+v, want %+v", d.Added, want)
	}
	if d.Counts == nil || d.Counts.People != 4 {
		t.Errorf("counts = %+v, want 4 people", d.Counts)
	}
	if len(d.Logged) != 1 || !slices.Equal(d.Logged[0].Names, []string{"bob", "carol"}) {
		t.Errorf("log = %+v, want one entry naming bob and carol", d.Logged)
	}
}

func TestOfflineIsHeldForTheGracePeriod(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)

	alice.Close()
	f.clock.Advance(5*time.Second - time.Millisecond)
	if got := drain(t, viewer); len(got) != 0 {
		t.Fatalf("departure announced inside the grace period: %+v", got)
	}
	f.clock.Advance(time.Millisecond)
	got := drain(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-1"}) {
		t.Fatalf("after the grace period: %+v, want alice removed", got)
	}
	e := got[0].Logged
	if len(e) != 1 || e[0].Arrived || !slices.Equal(e[0].Names, []string{"alice"}) {
		t.Errorf("log = %+v, want 'alice went offline'", e)
	}
}

func TestReloadInsideGracePeriodAnnouncesNothing(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)

	alice.Close()
	f.clock.Advance(time.Second)
	f.connect(t, user("1", "alice"))
	f.clock.Advance(10 * time.Second)
	if got := drain(t, viewer); len(got) != 0 {
		t.Errorf("a reload was announced: %+v", got)
	}
}

func TestJoinAndLeaveWithinOneFrameCancelOut(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	f.connect(t, user("1", "alice")) // leading edge: sent at once
	drain(t, viewer)

	bob := f.hub.Connect(user("2", "bob"))
	bob.Close()
	f.clock.Advance(time.Minute)
	if got := drain(t, viewer); len(got) != 0 {
		t.Errorf("bob's join and leave inside one tick produced frames: %+v", got)
	}
	if r := f.render.diffs; r != 2 {
		t.Errorf("rendered %d diffs, want 2 (viewer, alice)", r)
	}
}

func TestListIsCappedAndPromotesTheLongestWaiting(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.ListLimit = 2; c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.connect(t, user("2", "bob"))
	f.connect(t, user("3", "carol"))
	f.connect(t, user("4", "dave"))
	f.settle(t, viewer)

	snap := f.hub.Snapshot()
	if len(snap.Users) != 2 || snap.Counts.Unlisted != 2 || snap.Counts.People != 5 {
		t.Fatalf("snapshot = %+v, want 2 listed, 2 more, 5 people", snap)
	}

	alice.Close()
	got := f.settle(t, viewer)
	if len(got) != 1 {
		t.Fatalf("got %d frames, want 1", len(got))
	}
	d := got[0]
	if !slices.Equal(d.Removed, []string{"u-1"}) || len(d.Added) != 1 || d.Added[0].Name != "carol" {
		t.Errorf("diff = %+v, want alice removed and carol promoted", d)
	}
	if d.Counts == nil || d.Counts.Unlisted != 1 || d.Counts.People != 4 {
		t.Errorf("counts = %+v, want 4 people, 1 more", d.Counts)
	}
}

func TestActivityLogSummarisesAndTrims(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.LogSize = 2; c.Grace = 0 })
	viewer := f.connect(t, guest("viewer")) // entry 1
	f.settle(t, viewer)
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		f.connect(t, user(string(rune('1'+i)), name))
	}
	f.connect(t, guest("x"))
	f.connect(t, guest("y"))
	got := f.settle(t, viewer)
	// The leading edge carried "a" alone (entry 2); the tick carried the rest (entry 3).
	last := got[len(got)-1].Logged[0]
	if !slices.Equal(last.Names, []string{"b", "c", "d"}) || last.Others != 1 || last.Guests != 2 {
		t.Errorf("entry = %+v, want b, c, d and 1 other and 2 guests", last)
	}
	if tr := got[len(got)-1].Trimmed; !slices.Equal(tr, []uint64{1}) {
		t.Errorf("trimmed = %v, want the viewer's entry 1", tr)
	}
	if log := f.hub.Snapshot().Log; len(log) != 2 || log[0].ID != 3 || log[1].ID != 2 {
		t.Errorf("log = %+v, want entries 3, 2 (newest first)", log)
	}
}

func TestSlowSubscriberIsDroppedWhileOthersReceive(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.QueueSize = 2; c.Grace = 0 })
	slow := f.hub.Connect(guest("slow")) // never reads
	t.Cleanup(slow.Close)
	fast := f.connect(t, guest("fast"))

	var frames int
	for i := range 5 {
		f.connect(t, user(string(rune('a'+i)), "user"))
		f.clock.Advance(tick)
		frames += len(drain(t, fast))
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber was not dropped")
	}
	if !errors.Is(slow.Err(), hub.ErrSlow) {
		t.Errorf("slow.Err() = %v, want ErrSlow", slow.Err())
	}
	if frames < 5 {
		t.Errorf("fast subscriber got %d frames, want one per arrival (5)", frames)
	}
	if fast.Err() != nil {
		t.Errorf("fast subscriber ended: %v", fast.Err())
	}
}

func TestEveryFrameIsRenderedOnceForAllSubscribers(t *testing.T) {
	f := newFixture(t, nil)
	subs := make([]*hub.Subscription, 10)
	for i := range subs {
		subs[i] = f.hub.Connect(guest(string(rune('a' + i))))
		t.Cleanup(subs[i].Close)
	}
	// The first connect rendered the empty snapshot and then a leading-edge
	// diff; the nine inside the same tick share one snapshot render.
	if f.render.snapshots != 2 {
		t.Errorf("snapshot rendered %d times for 10 connects in one tick, want 2", f.render.snapshots)
	}
	for _, s := range subs {
		receive(t, s) // the snapshot
		drain(t, s)
	}
	f.connect(t, user("1", "alice"))
	f.clock.Advance(tick)
	var first *hub.Frame
	for _, s := range subs {
		fr := <-s.Frames()
		if first == nil {
			first = fr
		} else if fr != first {
			t.Fatal("subscribers got different frame values for one change")
		}
	}
}

func TestShutdownEndsSubscriptionsAndWaitsForTheirOwners(t *testing.T) {
	f := newFixture(t, nil)
	s := f.connect(t, guest("a"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- f.hub.Shutdown(ctx) }()
	<-s.Done()
	if !errors.Is(s.Err(), hub.ErrShutdown) {
		t.Errorf("Err() = %v, want ErrShutdown", s.Err())
	}
	select {
	case err := <-result:
		t.Fatalf("Shutdown returned before the subscription was closed: %v", err)
	default:
	}
	s.Close()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	late := f.hub.Connect(guest("late"))
	if !errors.Is(late.Err(), hub.ErrShutdown) {
		t.Errorf("connect after shutdown: Err() = %v, want ErrShutdown", late.Err())
	}
}

func TestLeaveSkipsTheGracePeriod(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)

	alice.Leave()
	got := f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-1"}) {
		t.Fatalf("after Leave: %+v, want alice removed within one tick", got)
	}
	alice.Close() // a no-op after Leave
	f.clock.Advance(time.Minute)
	if extra := drain(t, viewer); len(extra) != 0 {
		t.Errorf("frames after Leave then Close: %+v", extra)
	}
}

func TestConnectWakeIsCalledForEveryQueuedFrameAndTheEnd(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.QueueSize = 3 })
	var wakes int
	s := f.hub.ConnectWake(guest("a"), func() { wakes++ })
	t.Cleanup(s.Close)
	if wakes != 2 { // the snapshot, then the leading-edge diff of a's own arrival
		t.Errorf("after connect: %d wakes, want 2", wakes)
	}
	f.clock.Advance(tick)
	f.connect(t, guest("b"))
	f.clock.Advance(tick)
	if wakes != 3 {
		t.Errorf("after b arrived: %d wakes, want 3", wakes)
	}
	f.connect(t, guest("c")) // the queue (3) is full: a is dropped and woken to see it
	if wakes != 4 || !errors.Is(s.Err(), hub.ErrSlow) {
		t.Errorf("after the queue overflowed: %d wakes, err %v; want 4 and ErrSlow", wakes, s.Err())
	}
}

func TestPeopleHeldByOtherInstancesCountOnceWithTheirTabs(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.settle(t, viewer)

	// alice has two more tabs on instance B; bob is on instance C only.
	f.hub.ReplaceRemote("B", []hub.Held{{Person: user("1", "alice"), Conns: 2}}, false)
	f.hub.ReplaceRemote("C", []hub.Held{{Person: user("2", "bob"), Conns: 1}}, false)
	f.settle(t, viewer)
	snap := f.hub.Snapshot()
	want := []hub.User{{Key: "u-1", Name: "alice", Tabs: 3}, {Key: "u-2", Name: "bob", Tabs: 1}}
	if !slices.Equal(snap.Users, want) || snap.Counts.People != 3 {
		t.Fatalf("snapshot = %+v, want alice with 3 tabs, bob, 3 people", snap)
	}

	// alice closes her tab here: B still holds her, so she stays.
	alice.Close()
	f.settle(t, viewer)
	if users := f.hub.Snapshot().Users; len(users) != 2 || users[0].Tabs != 2 {
		t.Errorf("after alice's local tab closed: %+v, want her still online with 2 tabs", users)
	}

	// Instance C stops reporting (it died, or bob left there): bob goes.
	f.hub.ForgetRemote("C")
	got := f.settle(t, viewer)
	if len(got) != 1 || !slices.Equal(got[0].Removed, []string{"u-2"}) {
		t.Errorf("after C forgot bob: %+v, want bob removed", got)
	}
	f.hub.ForgetRemote("B")
	if users := f.settle(t, viewer); len(users) != 1 || !slices.Equal(users[0].Removed, []string{"u-1"}) {
		t.Errorf("after B forgot alice: %+v, want alice removed", users)
	}
}

func TestHeldIsWhatThisInstanceHolds(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.connect(t, user("1", "alice"))
	f.connect(t, guest("g"))
	f.hub.ReplaceRemote("B", []hub.Held{{Person: user("2", "bob"), Conns: 1}}, false)
	alice.Close() // grace period: still held here, with no connection
	held := f.hub.Held()
	slices.SortFunc(held, func(a, b hub.Held) int { return strings.Compare(a.Person.Key, b.Person.Key) })
	want := []hub.Held{{Person: guest("g"), Conns: 1}, {Person: user("1", "alice"), Conns: 0}}
	if !slices.Equal(held, want) {
		t.Errorf("Held() = %+v, want %+v", held, want)
	}
	f.clock.Advance(5 * time.Second)
	if held := f.hub.Held(); len(held) != 1 {
		t.Errorf("after alice's grace: Held() = %+v, want the guest only", held)
	}
}

func TestAQuietReplaceShowsPeopleWithoutAnnouncingThem(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	f.hub.ReplaceRemote("B", []hub.Held{{Person: user("2", "bob"), Conns: 1}}, true)
	got := f.settle(t, viewer)
	if len(got) != 1 || len(got[0].Added) != 1 || len(got[0].Logged) != 0 {
		t.Fatalf("after a baseline: %+v, want bob listed and nothing logged", got)
	}
	// Later changes from the same instance are news again.
	f.hub.ForgetRemote("B")
	got = f.settle(t, viewer)
	if len(got) != 1 || len(got[0].Logged) != 1 || got[0].Logged[0].Arrived {
		t.Errorf("after B dropped bob: %+v, want 'bob went offline' logged", got)
	}
}

// TestSnapshotForCountsTheViewer: a page rendered for a viewer counts them
// as their connection will: a guest among the guests, a user at the end of
// the list, or beyond it when it is full; someone already shown (another
// tab) once.
func TestSnapshotForCountsTheViewer(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.ListLimit = 2 })
	if s := f.hub.SnapshotFor(guest("g")); s.Counts != (hub.Counts{People: 1, Guests: 1}) || len(s.Users) != 0 {
		t.Errorf("an empty hub's snapshot for a guest: %+v, want the guest alone", s)
	}
	if s := f.hub.SnapshotFor(user("1", "alice")); s.Counts != (hub.Counts{People: 1}) ||
		!slices.Equal(s.Users, []hub.User{{Key: "u-1", Name: "alice", Tabs: 1}}) {
		t.Errorf("an empty hub's snapshot for alice: %+v, want alice alone, listed", s)
	}

	g := f.connect(t, guest("g"))
	f.connect(t, user("1", "alice"))
	f.settle(t, g)
	for _, c := range []struct {
		viewer hub.Person
		want   hub.Counts
		users  []string
	}{
		{guest("g"), hub.Counts{People: 2, Guests: 1}, []string{"alice"}},
		{user("1", "alice"), hub.Counts{People: 2, Guests: 1}, []string{"alice"}},
		{guest("h"), hub.Counts{People: 3, Guests: 2}, []string{"alice"}},
		{user("2", "bob"), hub.Counts{People: 3, Guests: 1}, []string{"alice", "bob"}},
	} {
		s := f.hub.SnapshotFor(c.viewer)
		var names []string
		for _, u := range s.Users {
			names = append(names, u.Name)
		}
		if s.Counts != c.want || !slices.Equal(names, c.users) {
			t.Errorf("snapshot for %s: %+v listing %q, want %+v listing %q", c.viewer.Key, s.Counts, names, c.want, c.users)
		}
	}

	f.connect(t, user("2", "bob"))
	f.settle(t, g)
	if s := f.hub.SnapshotFor(user("3", "carol")); s.Counts != (hub.Counts{People: 4, Guests: 1, Unlisted: 1}) || len(s.Users) != 2 {
		t.Errorf("with the list full, the snapshot for carol: %+v, want her counted beyond the list", s)
	}
	if s := f.hub.Snapshot(); s.Counts != (hub.Counts{People: 3, Guests: 1}) {
		t.Errorf("after the snapshots for viewers, the hub shows %+v, want them not counted for good", s.Counts)
	}
}
