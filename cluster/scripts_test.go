package cluster

import (
	"context"
	"crypto/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/hub"
)

// scriptsOn returns the scripts and a client on the test Redis, with a
// prefix of the test's own.
func scriptsOn(t *testing.T) (scripts, *redis.Client, string) {
	t.Helper()
	addr := os.Getenv("HERENOW_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the cluster tests need Redis at %s (go tool task redis starts it): %v", addr, err)
	}
	return loadScripts(), c, "herenow-test-" + rand.Text() + ":"
}

func guest(key string) op {
	return op{held: hub.Held{Person: hub.Person{Key: key, Guest: true}, Conns: 1}}
}

// joinAs registers instance id with epoch on the sentinel "s".
func joinAs(t *testing.T, s scripts, c *redis.Client, p, id, epoch string, ops ...op) []any {
	t.Helper()
	c.SetNX(context.Background(), p+"epoch", "s", 0)
	res, err := s.join.Run(context.Background(), c, nil, p, id, epoch, "s", "0", 0, 50, 10000, encodeOps(ops), 0).Slice()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tickAs(t *testing.T, s scripts, c *redis.Client, p, id, epoch string, seq int, floor uint64, ops ...op) []any {
	t.Helper()
	res, err := s.tick.Run(context.Background(), c, nil, p, id, epoch, seq, "s", floor, 50, 10000, encodeOps(ops), 0).Slice()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTickCountsAPersonOnceAcrossInstances adds one guest on two
// instances: only the first is an arrival; she leaves only when both
// let her go.
func TestTickCountsAPersonOnceAcrossInstances(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	joinAs(t, s, c, p, "B", "eb")
	first := tickAs(t, s, c, p, "A", "ea", 1, 0, guest("g-1"))
	second := tickAs(t, s, c, p, "B", "eb", 1, 0, guest("g-1"))
	if first[2] == "" || second[2] != "" {
		t.Fatalf("entries %q then %q, want one arrival, logged by the first", first[2], second[2])
	}
	gone := guest("g-1")
	gone.held.Gone = true
	if res := tickAs(t, s, c, p, "A", "ea", 2, 0, gone); res[2] != "" {
		t.Errorf("a departure logged while B still holds her: %q", res[2])
	}
	res := tickAs(t, s, c, p, "B", "eb", 2, 0, gone)
	entries, err := decodeEntries(res[2].(string))
	if err != nil || len(entries) != 1 || entries[0].entry.Arrived || entries[0].entry.Guests != 1 {
		t.Errorf("her last instance letting her go logged %+v, %v; want one departure of a guest", entries, err)
	}
}

// TestTickAnswersRestartedAndRejoin: a tick is refused when Redis lost its
// data (the sentinel is gone) or when the instance is not registered with
// that epoch and seq, so nothing is applied out of step.
func TestTickAnswersRestartedAndRejoin(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	if res := tickAs(t, s, c, p, "A", "ea", 5, 0, guest("g-1")); res[0] != "REJOIN" {
		t.Errorf("a tick out of step answered %v, want REJOIN", res)
	}
	c.Del(context.Background(), p+"epoch")
	if res := tickAs(t, s, c, p, "A", "ea", 1, 0, guest("g-1")); res[0] != "RESTARTED" {
		t.Errorf("a tick after the data loss answered %v, want RESTARTED", res)
	}
	if n, _ := c.HLen(context.Background(), p+"share:A").Result(); n != 0 {
		t.Errorf("a refused tick changed the share: %d people", n)
	}
}

// TestEntryIDsNeverGoBelowTheFloor: after Redis lost its counter, the next
// ID is above what the instance holds.
func TestEntryIDsNeverGoBelowTheFloor(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	res := tickAs(t, s, c, p, "A", "ea", 1, 41, guest("g-1"))
	entries, err := decodeEntries(res[2].(string))
	if err != nil || len(entries) != 1 || entries[0].entry.ID != 42 {
		t.Fatalf("entries %+v, %v; want one with ID 42", entries, err)
	}
	res = tickAs(t, s, c, p, "A", "ea", 2, 0, guest("g-2"))
	if entries, _ := decodeEntries(res[2].(string)); len(entries) != 1 || entries[0].entry.ID != 43 {
		t.Errorf("the next entry is %+v, want ID 43", entries)
	}
}

// TestReapIsDoneOnceWhenManyTryAtOnce: ten reapers of one dead instance
// log its people's departure once.
func TestReapIsDoneOnceWhenManyTryAtOnce(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "X", "ex", guest("g-1"), guest("g-2"))
	c.Del(context.Background(), p+"alive:X")
	var wg sync.WaitGroup
	results := make([][]any, 10)
	for i := range results {
		wg.Go(func() {
			res, err := s.reap.Run(context.Background(), c, nil, p, "X", 0, 50, 0).Slice()
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	done := 0
	for _, res := range results {
		if len(res) > 0 && res[0] == "OK" {
			done++
		}
	}
	if done != 1 {
		t.Errorf("%d reapers did it, want 1", done)
	}
	if n, _ := c.ZCard(context.Background(), p+"log").Result(); n != 2 {
		t.Errorf("the log has %d entries, want the join's arrival and one departure", n)
	}
	if n, _ := c.HLen(context.Background(), p+"online").Result(); n != 0 {
		t.Errorf("%d people still counted online", n)
	}
}

// TestRestoreAddsNothingTwice restores the same shared entries twice, and
// the same provisional one twice (as when the first answer was lost): the
// log holds each once, and the provisional one keeps the ID it got first.
func TestRestoreAddsNothingTwice(t *testing.T) {
	s, c, p := scriptsOn(t)
	shared := encodeEntries([]logged{{entry: hub.Entry{ID: 7, Arrived: true, Guests: 1}}, {entry: hub.Entry{ID: 9, Guests: 1}}})
	provisional := encodeEntries([]logged{{entry: hub.Entry{ID: hub.ProvisionalBase + 1, Arrived: true, Names: []string{"alice"}}}})
	for range 2 {
		if _, err := s.restore.Run(context.Background(), c, nil, p, 0, 50, shared, "", "A").Result(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		renumbered, err := s.restore.Run(context.Background(), c, nil, p, 0, 50, "", provisional, "A").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		if e, err := decodeEntry(renumbered[0]); err != nil || e.entry.ID != 10 || e.entry.Names[0] != "alice" {
			t.Errorf("the provisional entry became %+v, %v; want alice's under ID 10", e, err)
		}
	}
	if n, _ := c.ZCard(context.Background(), p+"log").Result(); n != 3 {
		t.Errorf("the log has %d entries, want 3", n)
	}
	if n, _ := c.XLen(context.Background(), p+"events").Result(); n != 1 {
		t.Errorf("%d announcements of restored entries, want 1", n)
	}
}

func user(key, name string) op {
	return op{held: hub.Held{Person: hub.Person{Key: key, Name: name}, Conns: 1}}
}

// in puts o in room.
func in(room string, o op) op {
	o.room = room
	return o
}

// letGo is o as the op of an instance that no longer holds its person.
func letGo(o op) op {
	o.held.Gone = true
	return o
}

// logOf reads a log from Redis, oldest first.
func logOf(t *testing.T, c *redis.Client, key string) []logged {
	t.Helper()
	items, err := c.ZRange(context.Background(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []logged
	for _, item := range items {
		e, err := decodeEntry(item)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// describe says, for a message, each entry's room, whom it names and
// whether they came or left.
func describe(entries []logged) []string {
	var out []string
	for _, e := range entries {
		verb := "left"
		if e.entry.Arrived {
			verb = "came"
		}
		out = append(out, e.room+": "+strings.Join(e.entry.Names, ",")+" "+verb)
	}
	return out
}

// TestATickLogsOneEntryPerRoomInThatRoomsLog: one tick with arrivals in
// two rooms and the lobby logs three entries, each tagged with its room
// and kept in its room's log (the lobby's in p:log), every room's log
// with a TTL.
func TestATickLogsOneEntryPerRoomInThatRoomsLog(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	res := tickAs(t, s, c, p, "A", "ea", 1, 0,
		user("u-1", "alice"), in("standup", user("u-1", "alice")), in("standup", user("u-2", "bob")), in("design", user("u-1", "alice")))
	entries, err := decodeEntries(res[2].(string))
	if err != nil || len(entries) != 3 {
		t.Fatalf("the tick logged %v, %v; want one entry per room", describe(entries), err)
	}
	want := map[string][]string{"": {"alice"}, "standup": {"alice", "bob"}, "design": {"alice"}}
	for room, names := range want {
		key := p + "log"
		if room != "" {
			key = p + "roomlog:" + room
		}
		log := logOf(t, c, key)
		if len(log) != 1 || log[0].room != room || !log[0].entry.Arrived || !slices.Equal(log[0].entry.Names, names) {
			t.Errorf("%s holds %v, want one arrival of %v tagged %q", key, describe(log), names, room)
		}
		if room != "" {
			if ttl, _ := c.PTTL(context.Background(), key).Result(); ttl <= 0 {
				t.Errorf("%s has no TTL (%v)", key, ttl)
			}
		}
	}
}

// TestAPersonInARoomOnTwoInstancesJoinsAndLeavesOnce: alice in standup on
// A and on B joined it once; A letting her go logs nothing; B letting her
// go logs that she left, and with nobody left in standup its count and
// its log go.
func TestAPersonInARoomOnTwoInstancesJoinsAndLeavesOnce(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	joinAs(t, s, c, p, "A", "ea")
	joinAs(t, s, c, p, "B", "eb")
	alice := in("standup", user("u-1", "alice"))
	first := tickAs(t, s, c, p, "A", "ea", 1, 0, alice)
	second := tickAs(t, s, c, p, "B", "eb", 1, 0, alice)
	entries, _ := decodeEntries(first[2].(string))
	if len(entries) != 1 || entries[0].room != "standup" || !entries[0].entry.Arrived || second[2] != "" {
		t.Fatalf("entries %v then %q, want alice joining standup once, logged by the first", describe(entries), second[2])
	}
	if n, _ := c.HGet(ctx, p+"rooms", "standup").Int(); n != 1 {
		t.Errorf("p:rooms counts %d in standup, want 1", n)
	}
	if res := tickAs(t, s, c, p, "A", "ea", 2, 0, letGo(alice)); res[2] != "" {
		t.Errorf("A letting her go logged %q while B still holds her there", res[2])
	}
	if n, _ := c.ZCard(ctx, p+"roomlog:standup").Result(); n != 1 {
		t.Errorf("standup's log holds %d entries while B holds alice there, want her joining", n)
	}
	res := tickAs(t, s, c, p, "B", "eb", 2, 0, letGo(alice))
	entries, _ = decodeEntries(res[2].(string))
	if len(entries) != 1 || entries[0].room != "standup" || entries[0].entry.Arrived || !slices.Equal(entries[0].entry.Names, []string{"alice"}) {
		t.Errorf("her last instance letting her go logged %v, want alice leaving standup once", describe(entries))
	}
	if ok, _ := c.HExists(ctx, p+"rooms", "standup").Result(); ok {
		t.Error("p:rooms still counts standup, emptied")
	}
	if ok, _ := c.HExists(ctx, p+"online", "standup\x1cu-1").Result(); ok {
		t.Error("p:online still counts alice in standup")
	}
	if n, _ := c.Exists(ctx, p+"roomlog:standup").Result(); n != 0 {
		t.Error("standup's log outlived the room")
	}
}

// TestReapLogsADeadInstancesPeopleLeavingEachRoom: X holds alice and bob
// in the lobby and standup and alice in design; B holds alice in the
// lobby and standup. Reaping X logs bob going offline and leaving
// standup, and alice leaving design (nobody else holds her there), and
// nothing of alice in the lobby or standup; standup counts one person
// and design is gone with its log.
func TestReapLogsADeadInstancesPeopleLeavingEachRoom(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	alice, bob := user("u-1", "alice"), user("u-2", "bob")
	joinAs(t, s, c, p, "X", "ex", alice, bob, in("standup", alice), in("standup", bob), in("design", alice))
	joinAs(t, s, c, p, "B", "eb", alice, in("standup", alice))
	c.Del(ctx, p+"alive:X")
	res, err := s.reap.Run(ctx, c, nil, p, "X", 0, 50, 0).Slice()
	if err != nil || res[0] != "OK" {
		t.Fatalf("reap answered %v, %v", res, err)
	}
	entries, err := decodeEntries(res[1].(string))
	got := describe(entries)
	slices.Sort(got)
	if want := []string{": bob left", "design: alice left", "standup: bob left"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("the reap logged %v, %v; want %v", got, err, want)
	}
	if log := logOf(t, c, p+"roomlog:standup"); len(log) != 2 || log[1].entry.Arrived || !slices.Equal(log[1].entry.Names, []string{"bob"}) {
		t.Errorf("standup's log = %v, want the join's arrival, then bob leaving", describe(log))
	}
	if n, _ := c.HGet(ctx, p+"rooms", "standup").Int(); n != 1 {
		t.Errorf("p:rooms counts %d in standup, want alice, whom B holds", n)
	}
	if ok, _ := c.HExists(ctx, p+"rooms", "design").Result(); ok {
		t.Error("p:rooms still counts design, emptied")
	}
	if n, _ := c.Exists(ctx, p+"roomlog:design").Result(); n != 0 {
		t.Error("design's log outlived the room")
	}
}

// TestRestoreGivesProvisionalEntriesOfTwoRoomsTheirOwnIDs: standup's and
// design's first entries logged while cut off are both ProvisionalBase+1.
// Each gets a shared ID of its own, in its room's log, and restoring them
// again (the first answer lost) gives the same IDs and adds nothing.
func TestRestoreGivesProvisionalEntriesOfTwoRoomsTheirOwnIDs(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	provisional := encodeEntries([]logged{
		{room: "standup", entry: hub.Entry{ID: hub.ProvisionalBase + 1, Arrived: true, Names: []string{"alice"}}},
		{room: "design", entry: hub.Entry{ID: hub.ProvisionalBase + 1, Arrived: true, Names: []string{"bob"}}},
	})
	var first []string
	for i := range 2 {
		renumbered, err := s.restore.Run(ctx, c, nil, p, 0, 50, "", provisional, "A").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = renumbered
		} else if !slices.Equal(renumbered, first) {
			t.Errorf("restoring again renumbered them %q, the first time %q", renumbered, first)
		}
	}
	entries, err := decodeEntries(strings.Join(first, itemSep))
	if err != nil || len(entries) != 2 || entries[0].room != "standup" || entries[1].room != "design" ||
		entries[0].entry.Names[0] != "alice" || entries[1].entry.Names[0] != "bob" || entries[0].entry.ID == entries[1].entry.ID {
		t.Fatalf("renumbered %v, %v; want alice's in standup and bob's in design, with IDs of their own", first, err)
	}
	for _, e := range entries {
		if log := logOf(t, c, p+"roomlog:"+e.room); len(log) != 1 || log[0].entry.ID != e.entry.ID {
			t.Errorf("%s's log = %+v, want its entry once, under ID %d", e.room, log, e.entry.ID)
		}
	}
	if n, _ := c.ZCard(ctx, p+"log").Result(); n != 0 {
		t.Errorf("the lobby's log holds %d entries, want none", n)
	}
	if n, _ := c.XLen(ctx, p+"events").Result(); n != 1 {
		t.Errorf("%d announcements of restored entries, want 1", n)
	}
}

// TestARoomCalledNextLeavesTheEntryCounterAlone: rooms' logs have a
// namespace of their own, so a room named "next" neither breaks nor
// deletes the entry counter, p:log:next.
func TestARoomCalledNextLeavesTheEntryCounterAlone(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	in := guest("g-1")
	in.room = "next"
	if res := tickAs(t, s, c, p, "A", "ea", 1, 0, in); res[0] != "OK" {
		t.Fatalf("a tick into room next answered %v", res)
	}
	out := in
	out.held.Gone = true // the room empties: its log goes
	tickAs(t, s, c, p, "A", "ea", 2, 0, out)
	if n, err := c.Get(context.Background(), p+"log:next").Int(); err != nil || n != 2 {
		t.Errorf("the entry counter reads %d, %v after a joined and a left in room next; want 2", n, err)
	}
}

// TestRestoreTellsAProvisionalEntryFromALaterOneWithTheSameID: a room
// made anew numbers its provisional entries from the same base, so within
// the day restored:<instance> is kept, a later cut-off entry of room r
// may be ProvisionalBase+1 again. Its time tells it apart: it gets a
// shared ID of its own and goes into r's log beside the first, while
// restoring it again (the answer lost) still gives the same ID.
func TestRestoreTellsAProvisionalEntryFromALaterOneWithTheSameID(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	t1 := time.UnixMilli(1_700_000_000_000).UTC()
	restore := func(at time.Time, name string) logged {
		t.Helper()
		provisional := encodeEntries([]logged{
			{room: "r", entry: hub.Entry{ID: hub.ProvisionalBase + 1, At: at, Arrived: true, Names: []string{name}}},
		})
		renumbered, err := s.restore.Run(ctx, c, nil, p, 0, 50, "", provisional, "A").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		entries, err := decodeEntries(strings.Join(renumbered, itemSep))
		if err != nil || len(entries) != 1 || entries[0].room != "r" || entries[0].entry.Names[0] != name {
			t.Fatalf("restoring %s's entry renumbered %q, %v; want it, in r", name, renumbered, err)
		}
		return entries[0]
	}
	first := restore(t1, "alice")
	later := restore(t1.Add(time.Hour), "bob")
	if later.entry.ID == first.entry.ID || later.entry.ID >= hub.ProvisionalBase {
		t.Errorf("the later entry got shared ID %d, the first %d; want one of its own", later.entry.ID, first.entry.ID)
	}
	if again := restore(t1.Add(time.Hour), "bob"); again.entry.ID != later.entry.ID {
		t.Errorf("restoring the later entry again gave ID %d, the first time %d", again.entry.ID, later.entry.ID)
	}
	if got := describe(logOf(t, c, p+"roomlog:r")); !slices.Equal(got, []string{"r: alice came", "r: bob came"}) {
		t.Errorf("r's log = %v, want alice's entry, then bob's", got)
	}
	if n, _ := c.XLen(ctx, p+"events").Result(); n != 2 {
		t.Errorf("%d announcements of restored entries, want 2", n)
	}
}
