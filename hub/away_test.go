package hub_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"herenow/hub"
)

const awayAfter = 10 * time.Minute

func awaySite(t *testing.T) *siteFixture {
	t.Helper()
	return newSite(t, func(c *hub.SiteConfig) { c.AwayAfter = awayAfter })
}

// row is alice's row as a hub with tabs of hers shows it.
func aliceRow(tabs int, status hub.Status) []hub.User {
	return []hub.User{{Key: "u-1", Name: "alice", Tabs: tabs, Status: status}}
}

// expectRow checks that each of subs got exactly one frame since the last
// look, replacing alice's row as want[i] says and nothing else.
func expectRow(t *testing.T, when string, subs []*hub.Subscription, want [][]hub.User) {
	t.Helper()
	for i, s := range subs {
		got := rest(t, s)
		if len(got) != 1 {
			t.Errorf("%s: viewer %d got %d frames, want 1: %+v", when, i, len(got), got)
			continue
		}
		if err := onlyUpdated(got[0].Diff, want[i]); err != nil {
			t.Errorf("%s: viewer %d: %v", when, i, err)
		}
	}
}

// expectNothing checks that none of subs got a frame since the last look.
func expectNothing(t *testing.T, when string, subs ...*hub.Subscription) {
	t.Helper()
	for i, s := range subs {
		if got := rest(t, s); len(got) != 0 {
			t.Errorf("%s: viewer %d got %+v, want nothing", when, i, got)
		}
	}
}

// TestAwayAfterNoActivityAndBackOnActivity: alice shows as away in the
// lobby and her room once AwayAfter has passed without activity, in one
// updated row each, and as available again at once on activity; activity
// that changes nothing sends and renders nothing.
func TestAwayAfterNoActivityAndBackOnActivity(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	inA := f.join(t, "a", guest("va"))
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	subs := []*hub.Subscription{lobby, inA}
	rest(t, lobby)
	rest(t, inA)

	f.clock.Advance(awayAfter - time.Millisecond - 2*tick) // settle took two ticks
	expectNothing(t, "just before AwayAfter", subs...)
	f.clock.Advance(time.Millisecond)
	f.clock.Advance(tick) // the viewers' own going away may have taken this tick's frame
	expectRow(t, "at AwayAfter", subs, [][]hub.User{aliceRow(1, hub.StatusAway), aliceRow(1, hub.StatusAway)})

	f.clock.Advance(time.Second) // a quiet spell: the next change goes out at once
	alice.Active()
	expectRow(t, "on activity", subs, [][]hub.User{aliceRow(1, hub.StatusAvailable), aliceRow(1, hub.StatusAvailable)})

	rendered := f.rendered("a")
	for range 100 {
		f.clock.Advance(time.Second)
		alice.Active()
	}
	f.settle()
	expectNothing(t, "activity while active", subs...)
	if n := f.rendered("a") - rendered; n != 0 {
		t.Errorf("activity while active rendered %d frames", n)
	}
}

// TestAwayTimerCountsFromTheLastActivity: the timer set at the last change
// fires, finds newer activity and waits out only what is left of the
// period; activity sets no timer of its own.
func TestAwayTimerCountsFromTheLastActivity(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	rest(t, lobby)

	f.clock.Advance(awayAfter/2 - 2*tick)
	set := f.clock.Set()
	for range 1000 {
		alice.Active() // at AwayAfter/2
	}
	if n := f.clock.Set() - set; n != 0 {
		t.Errorf("1000 activities set %d timers, want none", n)
	}
	f.clock.Advance(awayAfter - time.Millisecond)
	expectNothing(t, "AwayAfter after the last activity, less a millisecond", lobby)
	f.clock.Advance(time.Millisecond)
	f.clock.Advance(tick)
	expectRow(t, "AwayAfter after the last activity", []*hub.Subscription{lobby}, [][]hub.User{aliceRow(1, hub.StatusAway)})
}

// TestActivityInAnyTabKeepsThePersonActiveEverywhere: activity in one of
// alice's rooms keeps her active in the lobby and in every room she is in;
// once she stops, she goes away in all of them together.
func TestActivityInAnyTabKeepsThePersonActiveEverywhere(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	inA := f.join(t, "a", guest("va"))
	inB := f.join(t, "b", guest("vb"))
	f.join(t, "a", user("1", "alice"))
	inBAlice := f.join(t, "b", user("1", "alice"))
	f.settle()
	subs := []*hub.Subscription{lobby, inA, inB}
	for _, s := range subs {
		rest(t, s)
	}

	for range 6 {
		f.clock.Advance(awayAfter / 2)
		inBAlice.Active()
	}
	expectNothing(t, "alice active in room b for three periods", subs...)

	f.clock.Advance(awayAfter)
	f.clock.Advance(tick)
	expectRow(t, "alice idle in every tab", subs, [][]hub.User{aliceRow(2, hub.StatusAway), aliceRow(1, hub.StatusAway), aliceRow(1, hub.StatusAway)})
}

// TestStatusSetByHandWinsOverAway: a busy person's row stays busy when
// they go idle (no frame); set back to available while idle, it shows away;
// away set by hand stays away whatever the activity.
func TestStatusSetByHandWinsOverAway(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	rest(t, lobby)
	f.site.SetStatus("u-1", hub.StatusBusy, "")
	rest(t, lobby)

	f.clock.Advance(awayAfter)
	expectNothing(t, "busy alice idle", lobby)
	f.site.SetStatus("u-1", hub.StatusAvailable, "")
	f.clock.Advance(tick)
	expectRow(t, "idle alice set available", []*hub.Subscription{lobby}, [][]hub.User{aliceRow(1, hub.StatusAway)})

	f.clock.Advance(time.Second)
	alice.Active()
	expectRow(t, "alice active", []*hub.Subscription{lobby}, [][]hub.User{aliceRow(1, hub.StatusAvailable)})
	f.clock.Advance(time.Second)
	f.site.SetStatus("u-1", hub.StatusAway, "")
	expectRow(t, "alice sets away", []*hub.Subscription{lobby}, [][]hub.User{aliceRow(1, hub.StatusAway)})
	for range 3 {
		f.clock.Advance(awayAfter / 2)
		alice.Active()
	}
	f.clock.Advance(awayAfter)
	expectNothing(t, "alice away by hand, active then idle", lobby)
}

// TestGuestsGoAwayAndPeersHearIt: a guest goes away too (they have no row:
// only Held and Peers say so), and an away that another instance reports
// shows only when every instance holding the person says so.
func TestGuestsGoAwayAndPeersHearIt(t *testing.T) {
	f, peers := newPeersFixture(t, hub.LogAlone, func(c *hub.Config) { c.AwayAfter = awayAfter })
	viewer := f.connect(t, guest("viewer"))
	g := f.connect(t, guest("g"))
	f.settle(t, viewer)
	peers.take()

	f.clock.Advance(awayAfter)
	f.clock.Advance(tick)
	idle := func(p hub.Person) hub.Held { return hub.Held{Person: p, Conns: 1, Away: true} }
	got := slices.Concat(peers.take()...)
	if len(got) != 2 || !slices.Contains(got, idle(guest("g"))) || !slices.Contains(got, idle(guest("viewer"))) {
		t.Errorf("after AwayAfter Peers heard %+v, want both guests away", got)
	}
	if held := f.hub.Held(); !slices.Contains(held, idle(guest("g"))) {
		t.Errorf("Held() = %+v, want the guest away", held)
	}
	if frames := drain(t, viewer); len(frames) != 0 {
		t.Errorf("guests going away sent %+v: they have no row", frames)
	}
	f.clock.Advance(time.Second)
	g.Active()
	if got, want := peers.take(), [][]hub.Held{{held(guest("g"), 1)}}; !equalCalls(got, want) {
		t.Errorf("after the guest's activity Peers heard %+v, want %+v", got, want)
	}
	viewer.Active()
	f.settle(t, viewer)
	peers.take()

	// bob is held on B and C; he shows away only once both say so.
	bob := user("2", "bob")
	f.hub.ApplyRemote("B", []hub.Held{{Person: bob, Conns: 1, Away: true}})
	f.hub.ApplyRemote("C", []hub.Held{{Person: bob, Conns: 1}})
	f.settle(t, viewer)
	f.hub.ApplyRemote("C", []hub.Held{{Person: bob, Conns: 1, Away: true}})
	d := f.settle(t, viewer)
	want := []hub.User{{Key: "u-2", Name: "bob", Tabs: 2, Status: hub.StatusAway}}
	if len(d) != 1 || !slices.Equal(d[0].Updated, want) {
		t.Errorf("B and C both report bob away: %+v, want his row away", d)
	}
	// A tab of his here, active, wins.
	f.connect(t, bob)
	d = f.settle(t, viewer)
	want = []hub.User{{Key: "u-2", Name: "bob", Tabs: 3, Status: hub.StatusAvailable}}
	if len(d) != 1 || !slices.Equal(d[0].Updated, want) {
		t.Errorf("bob opens a tab here: %+v, want his row available", d)
	}
}

// TestActivityWhileTheTimerDecidesCounts: activity that comes after the
// away timer read the last activity, and before it marked the person
// away, keeps them active (Active read the flag before it was raised, so
// only the timer can notice).
func TestActivityWhileTheTimerDecidesCounts(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	alice := f.join(t, "a", user("1", "alice"))
	f.settle()
	rest(t, lobby)
	once := false
	f.site.OnAwayDeciding(func(key string) {
		if key == "u-1" && !once {
			once = true
			alice.Active()
		}
	})
	f.clock.Advance(awayAfter)
	f.clock.Advance(tick)
	if !once {
		t.Fatal("the away timer never decided")
	}
	if got := f.site.Lobby().Snapshot().Users; !slices.Equal(got, aliceRow(1, hub.StatusAvailable)) {
		t.Errorf("after activity while the timer decided: %+v, want alice available", got)
	}
	f.clock.Advance(awayAfter)
	if got := f.site.Lobby().Snapshot().Users; !slices.Equal(got, aliceRow(1, hub.StatusAway)) {
		t.Errorf("AwayAfter after that activity: %+v, want alice away", got)
	}
}

// TestActivityRacingTheAwayTimer: activity from many tabs while the timer
// fires never leaves the person away after their last activity, nor
// active once AwayAfter has passed since it (run with -race).
func TestActivityRacingTheAwayTimer(t *testing.T) {
	f := awaySite(t)
	lobby := f.lobby(t, guest("viewer"))
	tabs := make([]*hub.Subscription, 4)
	for i := range tabs {
		tabs[i] = f.join(t, "a", user("1", "alice"))
	}
	f.settle()
	for round := range 50 {
		var wg sync.WaitGroup
		for _, s := range tabs {
			wg.Go(func() {
				for range 20 {
					s.Active()
				}
			})
		}
		f.clock.Advance(awayAfter / 3 * time.Duration(1+round%4)) // sometimes past AwayAfter, while they run
		wg.Wait()
		tabs[round%len(tabs)].Active()
		f.clock.Advance(tick)
		if got := f.site.Lobby().Snapshot().Users; !slices.Equal(got, aliceRow(1, hub.StatusAvailable)) && !slices.Equal(got, []hub.User{{Key: "u-1", Name: "alice", Tabs: 4}}) {
			t.Fatalf("round %d, just after activity: %+v, want alice available", round, got)
		}
	}
	f.clock.Advance(awayAfter)
	if got := f.site.Lobby().Snapshot().Users; len(got) != 1 || got[0].Status != hub.StatusAway {
		t.Errorf("AwayAfter after the last activity: %+v, want alice away", got)
	}
	rest(t, lobby)
}
