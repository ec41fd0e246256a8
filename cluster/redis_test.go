package cluster_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/cluster"
	"herenow/handlers"
	"herenow/hub"
	"herenow/internal/testkit"
)

// redisAddr is the Redis the tests use: HERENOW_TEST_REDIS, else the local one.
func redisAddr() string {
	if a := os.Getenv("HERENOW_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// node is one instance: a hub linked to the cluster through real Redis.
type node struct {
	name    string
	hub     *hub.Hub // the lobby
	site    *hub.Site
	client  *redis.Client
	backend *cluster.Redis
	stop    func()
}

func newNode(t *testing.T, prefix, instance string, opt cluster.Options) *node {
	t.Helper()
	return newNodeAt(t, redisAddr(), io.Discard, prefix, instance, opt)
}

// newRedisClient connects to addr as the program does: every call bounded
// by its context.
func newRedisClient(addr string, hooks ...redis.Hook) *redis.Client {
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	for _, h := range hooks {
		client.AddHook(h)
	}
	return client
}

// newNodeAt is newNode on the Redis at addr, logging to logs.
func newNodeAt(t *testing.T, addr string, logs io.Writer, prefix, instance string, opt cluster.Options, hooks ...redis.Hook) *node {
	t.Helper()
	return newWindowedNode(t, addr, logs, prefix, instance, opt, 0, hooks...)
}

// newWindowedNode is newNodeAt whose hubs have a log window: the cluster
// summarises guests once per window.
func newWindowedNode(t *testing.T, addr string, logs io.Writer, prefix, instance string, opt cluster.Options, window time.Duration, hooks ...redis.Hook) *node {
	t.Helper()
	client := newRedisClient(addr, hooks...)
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the cluster tests need Redis at %s (go tool task redis starts it): %v", addr, err)
	}
	opt.Prefix = prefix
	if logs == nil {
		logs = io.Discard
	}
	backend := cluster.NewRedis(client, instance, slog.New(slog.NewTextHandler(logs, nil)), opt)
	room := hub.Config{Render: handlers.Renderer{}, Tick: 10 * time.Millisecond, Grace: 0,
		ListLimit: 100, LogSize: 50, LogWindow: window, QueueSize: 64}
	lobby := room
	lobby.Peers = backend
	site, err := hub.NewSite(hub.SiteConfig{Room: room, Lobby: lobby, RoomPeers: backend.Room,
		RoomRender: func(name string) hub.Renderer { return handlers.Renderer{Room: name} },
		PanelLimit: 20, RenderPanel: handlers.RenderPanel})
	if err != nil {
		t.Fatal(err)
	}
	h := site.Lobby()
	n := &node{name: instance, hub: h, site: site, client: client, backend: backend}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		backend.Run(ctx, site)
	}()
	n.stop = func() {
		cancel()
		<-done
		site.Close()
		client.Close()
	}
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			n.stop()
		}
	})
	return n
}

func testPrefix() string { return "herenow-test-" + rand.Text() + ":" }

// waitLimit bounds every wait for a node or Redis.
const waitLimit = 5 * time.Second

func tabsOf(h *hub.Hub, key string) int {
	for _, u := range h.Snapshot().Users {
		if u.Key == key {
			return u.Tabs
		}
	}
	return 0
}

var (
	alice = hub.Person{Key: "u-1", Name: "alice"}
	bob   = hub.Person{Key: "u-2", Name: "bob"}
	carol = hub.Person{Key: "u-3", Name: "carol"}
)

func TestPresenceIsSharedAcrossInstances(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 200 * time.Millisecond, TTL: 2 * time.Second}
	a, b, c := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt), newNode(t, prefix, "C", opt)

	onB := b.hub.Connect(alice)
	testkit.WaitUntil(t, waitLimit, "A to see alice, connected to B", func() bool { return tabsOf(a.hub, "u-1") == 1 })
	onC := c.hub.Connect(alice)
	testkit.WaitUntil(t, waitLimit, "A to count alice's tabs on B and C", func() bool { return tabsOf(a.hub, "u-1") == 2 })
	if people := a.hub.Counts().People; people != 1 {
		t.Errorf("A counts %d people, want alice once", people)
	}

	onB.Close()
	testkit.WaitUntil(t, waitLimit, "A to see alice with her one tab left on C", func() bool { return tabsOf(a.hub, "u-1") == 1 })
	onC.Close()
	testkit.WaitUntil(t, waitLimit, "A to see alice gone when her last tab anywhere closed", func() bool { return a.hub.Counts().People == 0 })
	testkit.WaitUntil(t, waitLimit, "B to see alice gone", func() bool { return b.hub.Counts().People == 0 })
}

func TestNewInstanceStartsFromTheSharedState(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 200 * time.Millisecond, TTL: 2 * time.Second}
	a := newNode(t, prefix, "A", opt)
	linked(t, a)
	a.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "A to log bob's arrival", func() bool { return len(a.hub.Snapshot().Log) == 1 })
	late := newNode(t, prefix, "late", opt)
	testkit.WaitUntil(t, waitLimit, "a new instance to show bob", func() bool { return tabsOf(late.hub, "u-2") == 1 })
	testkit.WaitUntil(t, waitLimit, "the new instance to show the shared log", func() bool { return len(late.hub.Snapshot().Log) == 1 })
	if got, want := late.hub.Snapshot().Log[0], a.hub.Snapshot().Log[0]; got.ID != want.ID || !got.Arrived || got.Names[0] != "bob" {
		t.Errorf("the new instance's log starts with %+v, want A's %+v, logged once", got, want)
	}
}

// An instance that starts just as another shares an entry must not lose
// it between reading the shared log and subscribing to new entries. (Before
// the subscription came first, this failed about two runs in five.)
func TestInstanceStartingAsAnEntryIsSharedShowsIt(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 200 * time.Millisecond, TTL: 2 * time.Second}
	a := newNode(t, prefix, "A", opt)
	linked(t, a)
	late := newNode(t, prefix, "late", opt)
	a.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "the starting instance to show bob's arrival in its log", func() bool { return len(late.hub.Snapshot().Log) == 1 })
}

// linked waits until every node has joined the cluster and read the
// others' shares.
func linked(t *testing.T, nodes ...*node) {
	t.Helper()
	testkit.WaitUntil(t, waitLimit, "the instances to be linked", func() bool {
		for _, n := range nodes {
			if n.backend.Ready(context.Background()) != nil {
				return false
			}
		}
		return true
	})
}

func TestEveryInstanceShowsOneEntryPerEvent(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 3 * time.Second}
	a, b, c := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt), newNode(t, prefix, "C", opt)
	linked(t, a, b, c)
	onB := b.hub.Connect(alice)
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		testkit.WaitUntil(t, waitLimit, name+" to log alice's arrival", func() bool { return len(n.hub.Snapshot().Log) >= 1 })
	}
	onB.Close()
	for name, n := range map[string]*node{"A": a, "B": b, "C": c} {
		testkit.WaitUntil(t, waitLimit, name+" to log alice's departure", func() bool { return len(n.hub.Snapshot().Log) >= 2 })
	}
	time.Sleep(3 * opt.Heartbeat) // room for a duplicate to show up
	want := a.hub.Snapshot().Log
	for name, n := range map[string]*node{"B": b, "C": c} {
		got := n.hub.Snapshot().Log
		if len(got) != 2 || got[0].ID != want[0].ID || got[1].ID != want[1].ID {
			t.Errorf("%s's log = %+v, want A's %+v", name, got, want)
		}
	}
	if len(want) != 2 || want[0].Arrived || !want[1].Arrived || !slices.Equal(want[0].Names, []string{"alice"}) || !slices.Equal(want[1].Names, []string{"alice"}) {
		t.Errorf("log = %+v, want alice arriving, then leaving, once each", want)
	}
}

func TestADeadInstancesPeopleGoOfflineWhenItsShareExpires(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	b.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "A to see bob and his arrival", func() bool {
		return tabsOf(a.hub, "u-2") == 1 && len(a.hub.Snapshot().Log) == 1
	})

	// B dies without a word: its connection to Redis goes first, so it
	// cannot remove its share on the way out.
	b.client.Close()
	b.stop()
	testkit.WaitUntil(t, waitLimit, "A to see bob offline once B's share expired", func() bool { return a.hub.Counts().People == 0 })
	log := a.hub.Snapshot().Log
	if len(log) != 2 || log[0].Arrived || log[0].Names[0] != "bob" {
		t.Errorf("A's log = %+v, want bob arriving, then leaving once", log)
	}
}

// redisServer runs a Redis of the test's own on addr until stopped.
func redisServer(t *testing.T, addr string) (stop func()) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (go tool task redis installs it): %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(stop)
	probe := redis.NewClient(&redis.Options{Addr: addr})
	defer probe.Close()
	testkit.WaitUntil(t, waitLimit, "redis-server to answer", func() bool { return probe.Ping(context.Background()).Err() == nil })
	return stop
}

func TestPresenceHealsWhenRedisReturns(t *testing.T) {
	cluster.QuietRedisLogs()
	addr := testkit.FreeLoopbackAddr(t)
	stopRedis := redisServer(t, addr)

	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 200 * time.Millisecond, TTL: 2 * time.Second}
	var logs testkit.LogBuffer
	a := newNodeAt(t, addr, &logs, prefix, "A", opt)
	b := newNodeAt(t, addr, io.Discard, prefix, "B", opt)
	b.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "A to see bob", func() bool { return tabsOf(a.hub, "u-2") == 1 })

	stopRedis()
	testkit.WaitUntil(t, waitLimit, "A to report not ready", func() bool { return a.backend.Ready(context.Background()) != nil })
	a.hub.Connect(alice) // A keeps serving its local presence
	// Shown with the next frame: at once, or at the next tick if a frame
	// (such as bob's arrival entry, shared late on a busy machine) just
	// went out.
	testkit.WaitUntil(t, waitLimit, "A to show alice, who came while Redis was away", func() bool { return tabsOf(a.hub, "u-1") == 1 })
	b.hub.Connect(carol)          // news A cannot hear yet
	time.Sleep(3 * opt.Heartbeat) // several failed heartbeats: still one log line

	redisServer(t, addr) // back, and empty
	returned := time.Now()
	testkit.WaitUntil(t, waitLimit, "A to see carol, who came while Redis was away", func() bool { return tabsOf(a.hub, "u-3") == 1 })
	testkit.WaitUntil(t, waitLimit, "B to see alice", func() bool { return tabsOf(b.hub, "u-1") == 1 })
	if healed := time.Since(returned); healed > 5*time.Second {
		t.Errorf("presence was correct %v after Redis returned, want within 5 s", healed)
	}
	testkit.WaitUntil(t, waitLimit, "A to report ready", func() bool { return a.backend.Ready(context.Background()) == nil })
	if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
		t.Errorf("A logged the outage %d times, want once", n)
	}
	if n := strings.Count(logs.String(), "redis available again"); n != 1 {
		t.Errorf("A logged the recovery %d times, want once", n)
	}
}

// A cleanly stopped instance's people leave the others' views when its
// share expires, and the log says so once. (This test once failed under load
// while passing alone: it went on as soon as the log writer's lease existed,
// before both instances had done their first sync. An instance in its first
// sync takes the people it reads for people online before it joined, so
// bob's arrival was logged nowhere. And a writer that stopped with his
// arrival not yet shared lost it. The test now waits for the link, and a
// stopping writer shares what it logged.)
func TestACleanlyStoppedInstancesPeopleLeaveWhenItsShareExpires(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	b.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "A to see bob", func() bool { return tabsOf(a.hub, "u-2") == 1 })

	// B stops cleanly (a rolling restart): its share stays until it
	// expires, so bob, reconnecting elsewhere in time, would never leave.
	b.stop()
	if tabsOf(a.hub, "u-2") != 1 {
		t.Error("bob left A's view at once; his share should outlive B's clean stop")
	}
	testkit.WaitUntil(t, waitLimit, "A to see bob leave once B's share expired", func() bool { return a.hub.Counts().People == 0 })
	testkit.WaitUntil(t, waitLimit, "A to log it", func() bool {
		log := a.hub.Snapshot().Log
		return len(log) == 2 && !log[0].Arrived && log[0].Names[0] == "bob"
	})
}

// An instance that stops cleanly sends the changes it has not sent yet: a
// person who arrived just before is logged, and shown elsewhere.
func TestACleanlyStoppingInstanceSendsWhatChanged(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	a.hub.Connect(bob)
	a.stop() // at once: bob's arrival may not be sent yet
	testkit.WaitUntil(t, waitLimit, "the other instance to show bob's arrival", func() bool {
		log := b.hub.Snapshot().Log
		return len(log) == 1 && log[0].Arrived && log[0].Names[0] == "bob" && tabsOf(b.hub, "u-2") == 1
	})
}
