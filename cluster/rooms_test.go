package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"herenow/cluster"
	"herenow/hub"
	"herenow/internal/cutproxy"
	"herenow/internal/testkit"
)

// join puts person in room on n, as a room's page does.
func join(t *testing.T, n *node, room string, person hub.Person) *hub.Subscription {
	t.Helper()
	sub, err := n.site.Join(room, person, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// roomOf is what room shows on n; the zero Snapshot while n has no such
// room.
func roomOf(n *node, room string) hub.Snapshot {
	s, _ := n.site.Room(room)
	return s
}

func tabsIn(s hub.Snapshot, key string) int {
	for _, u := range s.Users {
		if u.Key == key {
			return u.Tabs
		}
	}
	return 0
}

// said counts a log's entries naming name as arriving (or leaving).
func said(log []hub.Entry, name string, arrived bool) int {
	n := 0
	for _, e := range log {
		if e.Arrived == arrived && slices.Contains(e.Names, name) {
			n++
		}
	}
	return n
}

func panelLists(p hub.Panel, room string, people int) bool {
	for _, r := range p.Rooms {
		if r.Name == room {
			return r.People == people
		}
	}
	return people == 0
}

// TestAPersonInARoomOnOneInstanceShowsInThatRoomOnAnother: alice joins
// standup on A. B shows her in its standup, with her joining logged once,
// in its lobby, and in its Rooms panel; when she closes her tab, she
// leaves all three on B.
func TestAPersonInARoomOnOneInstanceShowsInThatRoomOnAnother(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	sub := join(t, a, "standup", alice)
	testkit.WaitUntil(t, waitLimit, "B's standup to show alice and her joining", func() bool {
		s := roomOf(b, "standup")
		return tabsIn(s, "u-1") == 1 && said(s.Log, "alice", true) == 1
	})
	testkit.WaitUntil(t, waitLimit, "B's lobby to show alice", func() bool { return tabsOf(b.hub, "u-1") == 1 })
	testkit.WaitUntil(t, waitLimit, "B's Rooms panel to list standup with alice", func() bool { return panelLists(b.site.Panel(), "standup", 1) })
	if _, ok := b.site.Room("design"); ok {
		t.Error("B has a design room nobody is in")
	}

	sub.Close()
	testkit.WaitUntil(t, waitLimit, "alice to leave B's standup", func() bool { return tabsIn(roomOf(b, "standup"), "u-1") == 0 })
	testkit.WaitUntil(t, waitLimit, "alice to leave B's lobby", func() bool { return b.hub.Counts().People == 0 })
	testkit.WaitUntil(t, waitLimit, "B's Rooms panel to drop standup", func() bool { return panelLists(b.site.Panel(), "standup", 0) })
}

// TestAnInstanceStartingLoadsTheRoomsItsPeersShow: alice and bob joined
// standup on A, and bob left it; C, started after, shows alice there
// with standup's whole log, under A's IDs.
func TestAnInstanceStartingLoadsTheRoomsItsPeersShow(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a := newNode(t, prefix, "A", opt)
	linked(t, a)
	join(t, a, "standup", alice)
	testkit.WaitUntil(t, waitLimit, "A to log alice joining", func() bool { return len(roomOf(a, "standup").Log) == 1 })
	onA := join(t, a, "standup", bob)
	testkit.WaitUntil(t, waitLimit, "A to show bob", func() bool { return tabsIn(roomOf(a, "standup"), "u-2") == 1 })
	onA.Close()
	testkit.WaitUntil(t, waitLimit, "A to log bob joining and leaving", func() bool { return len(roomOf(a, "standup").Log) == 3 })

	c := newNode(t, prefix, "C", opt)
	linked(t, c)
	testkit.WaitUntil(t, waitLimit, "C's standup to show alice and its log", func() bool {
		s := roomOf(c, "standup")
		return tabsIn(s, "u-1") == 1 && len(s.Log) == 3
	})
	want, got := roomOf(a, "standup").Log, roomOf(c, "standup").Log
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Arrived != want[i].Arrived || !slices.Equal(got[i].Names, want[i].Names) {
			t.Errorf("C's standup log = %+v, want A's %+v", got, want)
			break
		}
	}
	if tabsIn(roomOf(c, "standup"), "u-2") != 0 {
		t.Error("C shows bob in standup, which he left")
	}
}

// TestADeadInstancesPeopleLeaveEveryRoom: A holds alice in standup and
// in design, and dies without a word; carol, on B, is in both. Once A is
// reaped, B shows only carol in each room and in its lobby, and each
// room's log says alice left, once.
func TestADeadInstancesPeopleLeaveEveryRoom(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	rooms := []string{"standup", "design"}
	for _, room := range rooms {
		join(t, b, room, carol)
		join(t, a, room, alice)
	}
	for _, room := range rooms {
		testkit.WaitUntil(t, waitLimit, "B's "+room+" to show alice and carol", func() bool {
			s := roomOf(b, room)
			return tabsIn(s, "u-1") == 1 && tabsIn(s, "u-3") == 1
		})
	}

	// A dies: its connection to Redis goes first, so that it cannot send
	// anything on the way out.
	a.client.Close()
	a.stop()
	for _, room := range rooms {
		testkit.WaitUntil(t, waitLimit, "alice to leave B's "+room, func() bool {
			s := roomOf(b, room)
			return tabsIn(s, "u-1") == 0 && said(s.Log, "alice", false) >= 1
		})
	}
	testkit.WaitUntil(t, waitLimit, "alice to leave B's lobby", func() bool { return tabsOf(b.hub, "u-1") == 0 })
	time.Sleep(3 * opt.Heartbeat) // room for a second entry to show
	for _, room := range rooms {
		s := roomOf(b, room)
		if said(s.Log, "alice", false) != 1 || said(s.Log, "alice", true) != 1 || tabsIn(s, "u-3") != 1 || s.Counts.People != 1 {
			t.Errorf("B's %s = %+v, want carol, and alice joining and leaving once", room, s)
		}
	}
	if b.hub.Counts().People != 1 || !panelLists(b.site.Panel(), "standup", 1) || !panelLists(b.site.Panel(), "design", 1) {
		t.Errorf("B's lobby counts %d, its panel %+v; want carol alone everywhere", b.hub.Counts().People, b.site.Panel())
	}
}

// TestARoomEntryLoggedWhileCutOffIsRenumberedOnRejoining: A's link goes
// through a proxy that is cut; alice joins standup on A, which logs it
// itself, provisionally. Once healed, A and B show that entry under one
// shared ID, and standup's shared log holds it once.
func TestARoomEntryLoggedWhileCutOffIsRenumberedOnRejoining(t *testing.T) {
	proxy, err := cutproxy.New(redisAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() }) // after the nodes have stopped
	cluster.QuietRedisLogs()
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 5 * time.Second}
	a, b := newNodeAt(t, proxy.Addr(), nil, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)

	proxy.Cut()
	// Logging is asked here only while A's hubs are idle: it records what
	// the hubs were last told.
	testkit.WaitUntil(t, waitLimit, "A to log on its own", func() bool { return a.backend.Logging() == hub.LogProvisional })
	join(t, a, "standup", alice)
	testkit.WaitUntil(t, waitLimit, "A to log alice joining standup provisionally", func() bool {
		log := roomOf(a, "standup").Log
		return len(log) == 1 && log[0].ID > hub.ProvisionalBase
	})

	proxy.Heal()
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to show alice joining standup under a shared ID", func() bool {
			log := roomOf(n, "standup").Log
			return len(log) == 1 && log[0].ID < hub.ProvisionalBase && said(log, "alice", true) == 1
		})
	}
	time.Sleep(3 * opt.Heartbeat) // room for a second entry to show
	shared := roomOf(a, "standup").Log
	for name, n := range map[string]*node{"A": a, "B": b} {
		if log := roomOf(n, "standup").Log; len(log) != 1 || log[0].ID != shared[0].ID {
			t.Errorf("%s's standup log = %+v, want alice joining once, as %d", name, log, shared[0].ID)
		}
	}
	if n, _ := b.client.ZCard(context.Background(), prefix+"roomlog:standup").Result(); n != 1 {
		t.Errorf("standup's shared log holds %d entries, want 1", n)
	}
}
