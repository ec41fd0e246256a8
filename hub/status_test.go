package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"herenow/hub"
)

// raw drains what s received as the bytes the hub sent, undecoded.
func raw(s *hub.Subscription) [][]byte {
	var out [][]byte
	for len(s.Frames()) > 0 {
		out = append(out, (<-s.Frames()).HTML)
	}
	return out
}

// decode reads a frame's bytes as the site's test renderers wrote them.
func decode(t *testing.T, b []byte) siteFrame {
	t.Helper()
	var sf siteFrame
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	return sf
}

// onlyUpdated reports what is wrong with a diff that should replace rows
// and do nothing else: no count, no row added or removed, no log line, no
// panel.
func onlyUpdated(d *hub.Diff, want []hub.User) error {
	switch {
	case d == nil:
		return fmt.Errorf("not a diff")
	case !slices.Equal(d.Updated, want):
		return fmt.Errorf("updated %+v, want %+v", d.Updated, want)
	case d.Counts != nil || len(d.Added)+len(d.Removed) > 0:
		return fmt.Errorf("counts %+v, added %+v, removed %+v: a status change is neither a leave nor a join", d.Counts, d.Added, d.Removed)
	case len(d.Logged)+len(d.Relogged)+len(d.Trimmed) > 0 || d.LogReplaced:
		return fmt.Errorf("log changed (%+v): a status change is not logged", d.Logged)
	case d.Extra != nil:
		return fmt.Errorf("the rooms panel went out with a status change")
	}
	return nil
}

// statusSite puts alice in rooms a and b (so in the lobby too) with others
// more people in both rooms, a viewer in each, and settles. It returns the
// lobby's, room a's and room b's viewers.
func statusSite(t *testing.T, others int) (f *siteFixture, lobby, inA, inB *hub.Subscription) {
	t.Helper()
	f = newSite(t, nil)
	lobby = f.lobby(t, guest("viewer"))
	inA = f.join(t, "a", guest("va"))
	inB = f.join(t, "b", guest("vb"))
	alice := user("1", "alice")
	f.join(t, "a", alice)
	f.join(t, "b", alice)
	for i := range others {
		p := user(fmt.Sprint(100+i), fmt.Sprint("user", i))
		f.join(t, "a", p)
		f.join(t, "b", p)
	}
	f.settle()
	for _, s := range []*hub.Subscription{lobby, inA, inB} {
		rest(t, s)
	}
	f.clock.Advance(time.Second) // a quiet spell: the next change goes out at once
	return f, lobby, inA, inB
}

// TestStatusIsOneUpdatedRowPerHub: setting alice's status replaces her row
// in the lobby and in each room she is in, one frame each, with no count,
// no row added or removed and no log line; the frames are the same bytes
// whether 1 or 151 people are online, and setting the same status again
// sends nothing.
func TestStatusIsOneUpdatedRowPerHub(t *testing.T) {
	run := func(others int) (frames [3][][]byte, f *siteFixture, subs [3]*hub.Subscription) {
		f, lobby, inA, inB := statusSite(t, others)
		subs = [3]*hub.Subscription{lobby, inA, inB}
		f.site.SetStatus("u-1", hub.StatusBusy, "in a meeting")
		f.settle()
		for i, s := range subs {
			frames[i] = raw(s)
		}
		return frames, f, subs
	}
	few, _, _ := run(0)
	many, f, subs := run(150)

	busy := func(tabs int) []hub.User {
		return []hub.User{{Key: "u-1", Name: "alice", Tabs: tabs, Status: hub.StatusBusy, Text: "in a meeting"}}
	}
	for i, name := range []string{"lobby", "room a", "room b"} {
		if len(many[i]) != 1 {
			t.Errorf("%s got %d frames, want exactly 1", name, len(many[i]))
			continue
		}
		tabs := 1
		if i == 0 {
			tabs = 2 // a tab in each room
		}
		if err := onlyUpdated(decode(t, many[i][0]).Diff, busy(tabs)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(few[i]) != 1 || !bytes.Equal(few[i][0], many[i][0]) {
			t.Errorf("%s: the frame with 1 person online is %q, with 151 %q: want the same bytes", name, few[i], many[i])
		}
	}
	if snap := f.site.Lobby().Snapshot(); !slices.Contains(snap.Users, busy(2)[0]) {
		t.Errorf("the lobby's snapshot lists %+v, want alice busy", snap.Users[:1])
	}
	if snap, _ := f.site.Room("a"); !slices.Contains(snap.Users, busy(1)[0]) {
		t.Errorf("room a's snapshot lists %+v, want alice busy", snap.Users[:1])
	}

	before := f.rendered("a") + f.rendered("b")
	f.clock.Advance(time.Second)
	f.site.SetStatus("u-1", hub.StatusBusy, "in a meeting")
	f.settle()
	for i, s := range subs {
		if got := raw(s); len(got) != 0 {
			t.Errorf("the same status again sent %d frames to viewer %d: %q", len(got), i, got)
		}
	}
	if n := f.rendered("a") + f.rendered("b") - before; n != 0 {
		t.Errorf("the same status again rendered %d frames", n)
	}

	f.site.SetStatus("u-1", hub.StatusBusy, "")
	f.settle()
	for i, s := range subs {
		got := rest(t, s)
		want := busy(1)
		if i == 0 {
			want = busy(2)
		}
		want[0].Text = ""
		if len(got) != 1 {
			t.Errorf("clearing the text: viewer %d got %d frames, want 1", i, len(got))
		} else if err := onlyUpdated(got[0].Diff, want); err != nil {
			t.Errorf("clearing the text: viewer %d: %v", i, err)
		}
	}

	// Away and back to busy within one tick: the row shows what it showed.
	f.clock.Advance(time.Second)
	f.site.SetStatus("u-1", hub.StatusAvailable, "")
	for _, s := range subs {
		rest(t, s) // went out at once, after the quiet spell
	}
	f.site.SetStatus("u-1", hub.StatusAway, "brb")
	f.site.SetStatus("u-1", hub.StatusAvailable, "")
	f.settle()
	for i, s := range subs {
		if got := raw(s); len(got) != 0 {
			t.Errorf("a status set and set back within a tick sent %d frames to viewer %d: %q", len(got), i, got)
		}
	}
}

// TestStatusComesWithTheFirstConnection: a person's first connection on
// this instance brings the status they set; a later tab does not change
// it (only SetStatus does); a snapshot shows it.
func TestStatusComesWithTheFirstConnection(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.connect(t, guest("viewer"))
	f.settle(t, viewer)
	alice := user("1", "alice")
	alice.Status, alice.Text = hub.StatusAway, "lunch"
	f.connect(t, alice)
	got := f.settle(t, viewer)
	want := hub.User{Key: "u-1", Name: "alice", Tabs: 1, Status: hub.StatusAway, Text: "lunch"}
	if len(got) != 1 || !slices.Equal(got[0].Added, []hub.Placed{{User: want}}) {
		t.Fatalf("alice's arrival: %+v, want her row added away with her text", got)
	}

	stale := user("1", "alice") // read before she set her status
	f.connect(t, stale)
	got = f.settle(t, viewer)
	want.Tabs = 2
	if len(got) != 1 || !slices.Equal(got[0].Updated, []hub.User{want}) {
		t.Errorf("alice's second tab: %+v, want her row with 2 tabs, still away", got)
	}
	if snap := receive(t, f.hub.Connect(guest("late"))).Snapshot; snap == nil || !slices.Equal(snap.Users, []hub.User{want}) {
		t.Errorf("a newcomer's snapshot: %+v, want alice away with her text", snap)
	}
}

// TestStatusOfAPersonBeyondTheListIsKeptForTheirRow: a status change of a
// user counted beyond the list sends nothing (no row shows it); once they
// get a place in the list, their row shows it.
func TestStatusOfAPersonBeyondTheListIsKeptForTheirRow(t *testing.T) {
	f := newFixture(t, func(c *hub.Config) { c.ListLimit = 1; c.Grace = 0 })
	viewer := f.connect(t, guest("viewer"))
	alice := f.connect(t, user("1", "alice"))
	f.connect(t, user("2", "bob"))
	f.settle(t, viewer)
	f.clock.Advance(time.Second)

	f.hub.SetStatus("u-2", hub.StatusBusy, "focus")
	if got := f.settle(t, viewer); len(got) != 0 {
		t.Errorf("a status change beyond the list sent %+v", got)
	}
	alice.Close()
	got := f.settle(t, viewer)
	want := []hub.Placed{{User: hub.User{Key: "u-2", Name: "bob", Tabs: 1, Status: hub.StatusBusy, Text: "focus"}}}
	if len(got) != 1 || !slices.Equal(got[0].Added, want) {
		t.Errorf("bob's promotion: %+v, want his row busy with his text", got)
	}
}

// TestPeersHearAStatusChange: the status goes to the cluster with the
// person (Held), as a change of this instance's share, and Held reports
// it; a status another instance reports is shown, in place, unless this
// instance holds the person, whose status here wins.
func TestPeersHearAStatusChange(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogAlone, nil)
	viewer := f.connect(t, guest("viewer"))
	f.connect(t, user("1", "alice"))
	f.settle(t, viewer)
	peers.take()
	f.clock.Advance(time.Second)

	f.hub.SetStatus("u-1", hub.StatusBusy, "call")
	busy := user("1", "alice")
	busy.Status, busy.Text = hub.StatusBusy, "call"
	if got, want := peers.take(), [][]hub.Held{{held(busy, 1)}}; !equalCalls(got, want) {
		t.Errorf("Peers heard %+v, want %+v", got, want)
	}
	if got := f.hub.Held(); !slices.Contains(got, held(busy, 1)) {
		t.Errorf("Held() = %+v, want alice busy", got)
	}
	f.settle(t, viewer)

	// bob is held by instance B only: his status is B's.
	bob := user("2", "bob")
	f.hub.ApplyRemote("B", []hub.Held{held(bob, 1)})
	f.settle(t, viewer)
	bob.Status, bob.Text = hub.StatusAway, "back at 3"
	f.hub.ApplyRemote("B", []hub.Held{held(bob, 1)})
	got := f.settle(t, viewer)
	want := []hub.User{{Key: "u-2", Name: "bob", Tabs: 1, Status: hub.StatusAway, Text: "back at 3"}}
	if len(got) != 1 || !slices.Equal(got[0].Updated, want) || got[0].Counts != nil || len(got[0].Logged) != 0 {
		t.Errorf("B reports bob away: %+v, want his row updated in place", got)
	}

	// B reports alice with an older status: this instance holds her, so
	// its own wins.
	f.hub.ApplyRemote("B", []hub.Held{held(user("1", "alice"), 1)})
	got = f.settle(t, viewer)
	want = []hub.User{{Key: "u-1", Name: "alice", Tabs: 2, Status: hub.StatusBusy, Text: "call"}}
	if len(got) != 1 || !slices.Equal(got[0].Updated, want) {
		t.Errorf("B reports alice available: %+v, want her row with B's tab, still busy", got)
	}
	if got := peers.take(); len(got) != 0 {
		t.Errorf("Peers heard of other instances' statuses: %+v", got)
	}
}

// departures records what SiteConfig.Departed is told.
type departures struct {
	mu  sync.Mutex
	got []string // "key at time"
}

func (d *departures) departed(p hub.Person, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, fmt.Sprint(p.Key, " ", at.Format("15:04:05.000")))
}

func (d *departures) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	got := d.got
	d.got = nil
	return got
}

// TestDepartedOnceWhenPresenceReallyEnds: Departed is told once per
// person, from the lobby, when their presence on the instance ends after
// the grace period, with when their last connection closed; not for a
// reload inside the grace period, not once per room, not for guests; at
// once after Leave.
func TestDepartedOnceWhenPresenceReallyEnds(t *testing.T) {
	var d departures
	f := newSite(t, func(c *hub.SiteConfig) { c.Departed = d.departed })
	alice := user("1", "alice")
	tabs := []*hub.Subscription{f.join(t, "a", alice), f.join(t, "b", alice), f.lobby(t, alice), f.join(t, "a", guest("g"))}
	f.settle()

	f.clock.Advance(time.Second)
	for _, s := range tabs { // at 12:00:01.100, the guest's too
		s.Close()
	}
	f.clock.Advance(grace / 2)
	reload := f.join(t, "a", alice) // inside the grace period
	f.clock.Advance(grace)
	f.settle()
	if got := d.take(); len(got) != 0 {
		t.Errorf("after a reload inside the grace period, Departed heard %q; want nothing (and nothing of the guest)", got)
	}

	bob := f.join(t, "b", user("2", "bob"))
	f.settle()
	bob.Leave() // at 12:00:08.800
	f.settle()
	if got, want := d.take(), []string{"u-2 12:00:08.800"}; !slices.Equal(got, want) {
		t.Errorf("after bob's Leave, Departed heard %q, want %q", got, want)
	}

	reload.Close() // at 12:00:08.900
	f.clock.Advance(grace - time.Millisecond)
	if got := d.take(); len(got) != 0 {
		t.Errorf("inside the grace period, Departed heard %q", got)
	}
	f.clock.Advance(time.Millisecond)
	f.settle()
	if got, want := d.take(), []string{"u-1 12:00:08.900"}; !slices.Equal(got, want) {
		t.Errorf("after alice's grace period, Departed heard %q, want %q: once, when she was last seen", got, want)
	}
}
