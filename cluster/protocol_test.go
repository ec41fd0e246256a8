package cluster_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/cluster"
	"herenow/hub"
	"herenow/internal/testkit"
)

// TestTwoInstancesHoldingOnePersonLogOneArrival connects alice on two
// instances at once: the cluster counts her once, so exactly one arrival
// is logged, and every instance shows that one entry.
func TestTwoInstancesHoldingOnePersonLogOneArrival(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a, b := newNode(t, prefix, "A", opt), newNode(t, prefix, "B", opt)
	linked(t, a, b)
	a.hub.Connect(alice)
	b.hub.Connect(alice)
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to show alice's two tabs", func() bool { return tabsOf(n.hub, "u-1") == 2 })
		testkit.WaitUntil(t, waitLimit, name+" to log her arrival", func() bool { return len(n.hub.Snapshot().Log) >= 1 })
	}
	time.Sleep(5 * opt.Heartbeat) // room for a second entry to show
	for name, n := range map[string]*node{"A": a, "B": b} {
		if log := n.hub.Snapshot().Log; len(log) != 1 || !log[0].Arrived || log[0].Names[0] != "alice" {
			t.Errorf("%s's log = %+v, want alice's arrival once", name, log)
		}
	}
}

// commandCounter counts the commands a client sends, by name, scripts'
// inner commands not included.
type commandCounter struct{ hgetall atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}
func (c *commandCounter) count(cmd redis.Cmder) {
	if cmd.Name() == "hgetall" {
		c.hgetall.Add(1)
	}
}

// TestAGapReadsThatOneInstanceOnce makes B see a delta from A that skips a
// sequence number: B reads A's whole share once, and nothing else is read
// in full; deltas in order cost no such read.
func TestAGapReadsThatOneInstanceOnce(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a := newNode(t, prefix, "A", opt)
	c := newNode(t, prefix, "C", opt)
	var reads commandCounter
	b := newNodeAt(t, redisAddr(), nil, prefix, "B", opt, &reads)
	linked(t, a, b, c)
	a.hub.Connect(alice)
	testkit.WaitUntil(t, waitLimit, "B to see alice", func() bool { return tabsOf(b.hub, "u-1") == 1 })
	time.Sleep(3 * opt.Heartbeat) // the heartbeat's second look at A's seq
	before := reads.hgetall.Load()
	a.hub.Connect(bob)
	testkit.WaitUntil(t, waitLimit, "B to see bob", func() bool { return tabsOf(b.hub, "u-2") == 1 })
	time.Sleep(3 * opt.Heartbeat)
	if n := reads.hgetall.Load() - before; n != 0 {
		t.Fatalf("B read %d shares in full for a delta in order, want none", n)
	}

	// A delta from A's epoch that skips seqs, with carol in it: B must not
	// apply it, but read A's share, where carol is not.
	version, err := a.client.HGet(context.Background(), prefix+"instances", "A").Result()
	if err != nil {
		t.Fatal(err)
	}
	epoch, seqText, _ := strings.Cut(version, ":")
	seq, _ := strconv.Atoi(seqText)
	if err := a.client.XAdd(context.Background(), &redis.XAddArgs{Stream: prefix + "events", Values: []string{
		"t", "d", "i", "A", "e", epoch, "s", strconv.Itoa(seq + 5), "o", "u-3\x1e1\x1ecarol\x1e0\x1e0", "l", "",
	}}).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, waitLimit, "B to read A's share after the gap", func() bool { return reads.hgetall.Load()-before >= 1 })
	time.Sleep(3 * opt.Heartbeat)
	if n := reads.hgetall.Load() - before; n != 1 {
		t.Errorf("B read %d shares in full after one gap, want 1", n)
	}
	if tabsOf(b.hub, "u-3") != 0 || tabsOf(b.hub, "u-1") != 1 || tabsOf(b.hub, "u-2") != 1 {
		t.Errorf("B shows %+v after the gap, want A's share as it is: alice and bob", b.hub.Snapshot().Users)
	}
}

// TestEntryIDsNeverRestartWhenRedisLosesItsData empties Redis under two
// linked instances: nobody is logged as leaving or coming back, the log is
// put back, and the next entry's ID follows the ones already shown.
func TestEntryIDsNeverRestartWhenRedisLosesItsData(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	redisServer(t, addr)
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: time.Second}
	a, b := newNodeAt(t, addr, nil, prefix, "A", opt), newNodeAt(t, addr, nil, prefix, "B", opt)
	linked(t, a, b)
	a.hub.Connect(alice)
	b.hub.Connect(bob)
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log both arrivals", func() bool { return len(n.hub.Snapshot().Log) == 2 })
	}
	top := a.hub.Snapshot().Log[0].ID

	if err := a.client.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*opt.TTL + 2*opt.Heartbeat) // through the restart window and past a TTL
	for name, n := range map[string]*node{"A": a, "B": b} {
		if log := n.hub.Snapshot().Log; len(log) != 2 {
			t.Errorf("%s's log after Redis lost its data = %+v, want the two arrivals only", name, log)
		}
		if n.hub.Counts().People != 2 {
			t.Errorf("%s shows %d people, want alice and bob", name, n.hub.Counts().People)
		}
	}
	if got, _ := a.client.ZCard(context.Background(), prefix+"log").Result(); got != 2 {
		t.Errorf("the shared log holds %d entries after the restart, want the 2 put back", got)
	}

	b.hub.Connect(carol)
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log carol", func() bool { return len(n.hub.Snapshot().Log) == 3 })
		if e := n.hub.Snapshot().Log[0]; e.ID <= top || e.Names[0] != "carol" {
			t.Errorf("%s logged carol as %+v, want an ID above %d", name, e, top)
		}
	}
}

// TestIdleCostDoesNotGrowWithPeopleOrRooms holds 100, then 2,000 people
// on each of three instances, each person in a room of their own (rooms
// shared by the three: 100, then 2,000 rooms of 3), and counts what Redis
// does over an idle window: the same commands, and about the same bytes.
// The people are guests and the log window an hour, so every room's
// guest window (and the lobby's) is open all along: open windows cost
// the heartbeat nothing until one is due.
func TestIdleCostDoesNotGrowWithPeopleOrRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("an idle window of seconds, twice")
	}
	addr := testkit.FreeLoopbackAddr(t)
	redisServer(t, addr)
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	var nodes []*node
	for _, name := range []string{"A", "B", "C"} {
		nodes = append(nodes, newWindowedNode(t, addr, nil, prefix, name, opt, time.Hour))
	}
	linked(t, nodes...)
	stats := newRedisClient(addr)
	defer stats.Close()
	held := 0
	measure := func(people int) (calls map[string]int64, outBytes int64) {
		t.Helper()
		for ; held < people; held++ {
			for i, n := range nodes {
				person := hub.Person{Key: "g-" + strconv.Itoa(i) + "-" + strconv.Itoa(held), Guest: true}
				if _, err := n.site.Join("r-"+strconv.Itoa(held), person, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		testkit.WaitUntil(t, waitLimit, "every instance to show everyone, and every room", func() bool {
			for _, n := range nodes {
				if n.hub.Counts().People != 3*people || n.site.Rooms() != people {
					return false
				}
			}
			return true
		})
		time.Sleep(5 * opt.Heartbeat) // the heartbeats' second looks settle
		ctx := context.Background()
		if open, err := stats.ZCard(ctx, prefix+"windows").Result(); err != nil || open != int64(people)+1 {
			t.Fatalf("%d guest windows open (%v), want every room's and the lobby's: %d", open, err, people+1)
		}
		stats.ConfigResetStat(ctx)
		time.Sleep(30 * opt.Heartbeat)
		return commandStats(t, stats), statsField(t, stats, "total_net_output_bytes")
	}
	few, fewBytes := measure(100)
	many, manyBytes := measure(2000)
	for cmd, n := range few {
		if strings.HasPrefix(cmd, "config") || cmd == "info" {
			continue // the test's own
		}
		if d := many[cmd] - n; d < -drift(cmd, n) || d > drift(cmd, n) {
			t.Errorf("%s: %d calls idle at 100 people each, %d at 2,000", cmd, n, many[cmd])
		}
	}
	for cmd, n := range many {
		if _, ok := few[cmd]; !ok && n > 6 {
			t.Errorf("%s: %d calls idle at 2,000 people each, none at 100", cmd, n)
		}
	}
	if float64(manyBytes) > 1.1*float64(fewBytes)+2000 {
		t.Errorf("Redis sent %d bytes idle at 2,000 people each, %d at 100: want about the same", manyBytes, fewBytes)
	}
	t.Logf("idle window of %v: %v at 100 people and rooms each (%d bytes out), %v at 2,000 (%d bytes out)", 30*opt.Heartbeat, few, fewBytes, many, manyBytes)
}

// drift is how far the calls of cmd may differ between two idle windows of
// the same length when nothing grows: each of the three instances may beat
// once more or less in a window (beat.lua, per beat: SET, PTTL, XRANGE,
// HGETALL, GET twice, an EXISTS per other instance, a ZRANGE of the
// earliest guest window and, while one is open, TIME), and the blocking
// stream read, one per heartbeat and instance, is paced by its timeout and
// the machine's scheduling, so it may drift by a quarter of its count. A
// cost that grew with the 20 times as many people would be far outside.
func drift(cmd string, calls int64) int64 {
	switch cmd {
	case "xread":
		return 6 + calls/4
	case "exists", "get":
		return 3 * 2 * 2
	}
	return 3 * 2
}

func commandStats(t *testing.T, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		out[name], _ = strconv.ParseInt(calls, 10, 64)
	}
	return out
}

func statsField(t *testing.T, c *redis.Client, field string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in INFO stats", field)
	return 0
}

// TestARedisReloadedFromAnOldFileLogsNobody puts back what Redis held a
// moment ago under two linked instances (as a reload of an old file or a
// failover to a replica behind would): the sentinel survives, but the
// registrations, the counts and the entry counter are behind. Nobody is
// logged coming or going or reaped, carol (who came since) stays shown,
// and the next entry's ID follows the ones already shown.
func TestARedisReloadedFromAnOldFileLogsNobody(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	redisServer(t, addr)
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: time.Second}
	a, b := newNodeAt(t, addr, nil, prefix, "A", opt), newNodeAt(t, addr, nil, prefix, "B", opt)
	linked(t, a, b)
	a.hub.Connect(alice)
	b.hub.Connect(bob)
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log both arrivals", func() bool { return len(n.hub.Snapshot().Log) == 2 })
	}
	ctx := context.Background()
	old := map[string]string{}
	keys, err := a.client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, ":alive:") {
			continue // expired by the time an old file is loaded
		}
		dump, err := a.client.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		old[k] = dump
	}
	b.hub.Connect(carol)
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log carol", func() bool { return len(n.hub.Snapshot().Log) == 3 })
	}
	top := a.hub.Snapshot().Log[0].ID

	if err := a.client.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for k, dump := range old {
		if err := a.client.Restore(ctx, k, 0, dump).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2*opt.TTL + 3*opt.Heartbeat)
	for name, n := range map[string]*node{"A": a, "B": b} {
		if log := n.hub.Snapshot().Log; len(log) != 3 {
			t.Errorf("%s's log after Redis went back in time = %+v, want the three arrivals only", name, log)
		}
		if n.hub.Counts().People != 3 {
			t.Errorf("%s shows %d people, want alice, bob and carol", name, n.hub.Counts().People)
		}
	}
	a.hub.Connect(hub.Person{Key: "u-4", Name: "dave"})
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log dave", func() bool { return len(n.hub.Snapshot().Log) == 4 })
		if e := n.hub.Snapshot().Log[0]; e.ID <= top || e.Names[0] != "dave" {
			t.Errorf("%s logged dave as %+v, want an ID above %d", name, e, top)
		}
	}
}
