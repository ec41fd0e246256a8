package cluster

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/hub"
)

// testWindow is the log window the windowed scripts are given, in ms.
const testWindow = 60000

// tickWindowed is tickAs with a log window: guests go into windows.
func tickWindowed(t *testing.T, s scripts, c *redis.Client, p, id, epoch string, seq int, ops ...op) []logged {
	t.Helper()
	res, err := s.tick.Run(context.Background(), c, nil, p, id, epoch, seq, "s", 0, 50, 10000, encodeOps(ops), testWindow).Slice()
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != "OK" {
		t.Fatalf("tick answered %v", res)
	}
	entries, err := decodeEntries(res[2].(string))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// beatAs runs instance id's heartbeat and returns the summaries of the
// windows it closed.
func beatAs(t *testing.T, s scripts, c *redis.Client, p, id, epoch string) []logged {
	t.Helper()
	res, err := s.beat.Run(context.Background(), c, nil, p, id, epoch, 10000, "s", "s", 0, 50).Slice()
	if err != nil {
		t.Error(err) // Error, not Fatal: beats race in goroutines
		return nil
	}
	b, err := parseBeat(res)
	if err != nil {
		t.Error(err)
	}
	closed, err := decodeEntries(b.closed)
	if err != nil {
		t.Error(err)
	}
	return closed
}

func windowKey(p, room string) string {
	if room == "" {
		return p + "window"
	}
	return p + "roomwindow:" + room
}

// windowOf is room's window as Redis holds it; empty when none is open.
func windowOf(t *testing.T, c *redis.Client, p, room string) map[string]string {
	t.Helper()
	w, err := c.HGetAll(context.Background(), windowKey(p, room)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// makeDue ends room's window now, as if its minute had passed.
func makeDue(t *testing.T, c *redis.Client, p, room string) {
	t.Helper()
	ctx := context.Background()
	if err := c.HSet(ctx, windowKey(p, room), "due", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, p+"windows", redis.Z{Score: 1, Member: room}).Err(); err != nil {
		t.Fatal(err)
	}
}

// isSummary reports whether e says what a window's summary does: guests
// who came, came and went, or went, and nobody by name.
func isSummary(e hub.Entry, arrived bool, guests, visits int) bool {
	return e.Arrived == arrived && e.Guests == guests && e.Visits == visits && len(e.Names) == 0 && e.Others == 0
}

// TestGuestsGoIntoTheWindowAndTheHeartbeatSummarisesThem: with a log
// window, a tick logs the users it decides came or went but no guest:
// guests who came go into the lobby's window (which opens with an end a
// window ahead, an expiry a little after it, and its place in
// p:windows); two of them who leave again are visits, and a guest who
// was here before it and leaves is one who went. The window closes only
// when due, at a heartbeat, into three entries in the order a hub on its
// own writes them, in the log and announced on the stream; the next
// heartbeat finds nothing to close.
func TestGuestsGoIntoTheWindowAndTheHeartbeatSummarisesThem(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	joinAs(t, s, c, p, "A", "ea", guest("g-0")) // before the window: logged as before
	before := time.Now().UnixMilli()
	entries := tickWindowed(t, s, c, p, "A", "ea", 1, guest("g-1"), guest("g-2"), guest("g-3"), user("u-1", "alice"))
	if len(entries) != 1 || !entries[0].entry.Arrived || entries[0].entry.Guests != 0 || entries[0].entry.Names[0] != "alice" {
		t.Fatalf("the tick logged %+v, want alice's arrival alone", entries)
	}
	w := windowOf(t, c, p, "")
	due, _ := strconv.ParseInt(w["due"], 10, 64)
	if due < before+testWindow || due > time.Now().UnixMilli()+testWindow || w["+g-1"] == "" || w["+g-2"] == "" || w["+g-3"] == "" {
		t.Fatalf("the window = %v, want g-1, g-2 and g-3 come, ending a window from now", w)
	}
	if score, err := c.ZScore(ctx, p+"windows", "").Result(); err != nil || int64(score) != due {
		t.Errorf("p:windows scores the lobby's window %v, %v; want its end, %d", score, err, due)
	}
	if ttl, _ := c.PTTL(ctx, windowKey(p, "")).Result(); ttl <= testWindow*time.Millisecond {
		t.Errorf("the window expires in %v, want a while after its end", ttl)
	}

	if entries := tickWindowed(t, s, c, p, "A", "ea", 2, letGo(guest("g-1")), letGo(guest("g-0")), letGo(guest("g-3"))); len(entries) != 0 {
		t.Fatalf("guests leaving logged %+v", entries)
	}
	if w := windowOf(t, c, p, ""); w["visits"] != "2" || w["went"] != "1" || w["+g-1"] != "" || w["+g-3"] != "" || w["+g-2"] == "" {
		t.Fatalf("the window = %v, want g-1's and g-3's visits, g-0 gone, g-2 still come", w)
	}
	if closed := beatAs(t, s, c, p, "A", "ea"); len(closed) != 0 {
		t.Fatalf("a heartbeat closed a window not due: %+v", closed)
	}

	makeDue(t, c, p, "")
	closed := beatAs(t, s, c, p, "A", "ea")
	if len(closed) != 3 || !isSummary(closed[0].entry, true, 1, 0) || !isSummary(closed[1].entry, false, 0, 2) || !isSummary(closed[2].entry, false, 1, 0) {
		t.Fatalf("the due window closed into %+v, want a guest came online, 2 guests came and went, a guest went offline", closed)
	}
	for i, e := range closed {
		if e.room != "" || e.entry.At.IsZero() || (i > 0 && e.entry.ID != closed[i-1].entry.ID+1) {
			t.Errorf("summary %d = %+v, want the lobby's, timed, numbered after the one before", i, e)
		}
	}
	log := logOf(t, c, p+"log")
	if len(log) != 5 || log[4].entry.ID != closed[2].entry.ID || log[3].entry.Visits != 2 {
		t.Errorf("the log = %+v, want g-0's and alice's arrivals, then the three summaries", log)
	}
	last, err := c.XRevRangeN(ctx, p+"events", "+", "-", 1).Result()
	if err != nil || len(last) != 1 || last[0].Values["t"] != "l" || last[0].Values["l"] != encodeEntries(closed) {
		t.Errorf("the stream's last event = %+v, %v; want the summaries announced", last, err)
	}
	if n, _ := c.Exists(ctx, windowKey(p, "")).Result(); n != 0 {
		t.Error("the window outlived its closing")
	}
	if n, _ := c.ZCard(ctx, p+"windows").Result(); n != 0 {
		t.Errorf("p:windows still lists %d windows", n)
	}
	if closed := beatAs(t, s, c, p, "A", "ea"); len(closed) != 0 {
		t.Errorf("the next heartbeat closed %+v", closed)
	}
}

// TestADueWindowIsClosedOnceByInstancesBeatingAtOnce: ten heartbeats of
// two instances race to close one due window: one does, and the log
// holds its summary once.
func TestADueWindowIsClosedOnceByInstancesBeatingAtOnce(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	joinAs(t, s, c, p, "B", "eb")
	tickWindowed(t, s, c, p, "A", "ea", 1, guest("g-1"))
	makeDue(t, c, p, "")
	var wg sync.WaitGroup
	results := make([][]logged, 10)
	for i := range results {
		id, epoch := "A", "ea"
		if i%2 == 1 {
			id, epoch = "B", "eb"
		}
		wg.Go(func() { results[i] = beatAs(t, s, c, p, id, epoch) })
	}
	wg.Wait()
	closers := 0
	for _, closed := range results {
		if len(closed) > 0 {
			closers++
		}
	}
	if closers != 1 {
		t.Errorf("%d heartbeats closed the window, want 1", closers)
	}
	if log := logOf(t, c, p+"log"); len(log) != 1 || !isSummary(log[0].entry, true, 1, 0) {
		t.Errorf("the log = %+v, want one summary: a guest came online", log)
	}
}

// TestATickClosesTheDueWindowItWouldFeed: a guest arriving after the
// window's end, before any heartbeat closed it, is not counted in it: the
// tick closes it first (its summary among the tick's entries) and opens
// the next, with that guest alone.
func TestATickClosesTheDueWindowItWouldFeed(t *testing.T) {
	s, c, p := scriptsOn(t)
	joinAs(t, s, c, p, "A", "ea")
	tickWindowed(t, s, c, p, "A", "ea", 1, guest("g-1"))
	makeDue(t, c, p, "")
	entries := tickWindowed(t, s, c, p, "A", "ea", 2, guest("g-2"))
	if len(entries) != 1 || !isSummary(entries[0].entry, true, 1, 0) {
		t.Fatalf("the tick logged %+v, want the due window's summary: a guest came online", entries)
	}
	w := windowOf(t, c, p, "")
	if due, _ := strconv.ParseInt(w["due"], 10, 64); due <= time.Now().UnixMilli() || w["+g-1"] != "" || w["+g-2"] == "" {
		t.Errorf("the next window = %v, want g-2 alone, ending later", w)
	}
}

// TestReapCountsADeadInstancesGuestsInTheWindow: X held g-0 from before
// the window and g-1, who came within it, and g-2, whom B holds too. X's
// reaping logs no guest: g-1 is a visit, g-0 went, g-2 is still here.
func TestReapCountsADeadInstancesGuestsInTheWindow(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	joinAs(t, s, c, p, "X", "ex", guest("g-0"), guest("g-2"))
	joinAs(t, s, c, p, "B", "eb", guest("g-2"))
	tickWindowed(t, s, c, p, "X", "ex", 1, guest("g-1"))
	c.Del(ctx, p+"alive:X")
	res, err := s.reap.Run(ctx, c, nil, p, "X", 0, 50, testWindow).Slice()
	if err != nil || res[0] != "OK" {
		t.Fatalf("reap answered %v, %v", res, err)
	}
	if res[1] != "" {
		t.Errorf("the reap logged %q, want no guest logged", res[1])
	}
	if w := windowOf(t, c, p, ""); w["visits"] != "1" || w["went"] != "1" || len(w) != 3 {
		t.Errorf("the window = %v, want g-1's visit and g-0 gone, and nobody come", w)
	}
}

// TestARoomsWindowExpiresAndGoesWithTheRoom: a guest joining standup
// opens standup's window, with an expiry; once she leaves and standup is
// empty, its window goes with its log, and p:windows forgets it.
func TestARoomsWindowExpiresAndGoesWithTheRoom(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	joinAs(t, s, c, p, "A", "ea")
	g := in("standup", guest("g-1"))
	if entries := tickWindowed(t, s, c, p, "A", "ea", 1, g); len(entries) != 0 {
		t.Fatalf("a guest joining standup logged %+v", entries)
	}
	if w := windowOf(t, c, p, "standup"); w["+g-1"] == "" {
		t.Fatalf("standup's window = %v, want g-1 come", w)
	}
	if ttl, _ := c.PTTL(ctx, windowKey(p, "standup")).Result(); ttl <= 0 {
		t.Errorf("standup's window has no expiry (%v)", ttl)
	}
	if _, err := c.ZScore(ctx, p+"windows", "standup").Result(); err != nil {
		t.Errorf("p:windows does not list standup's window: %v", err)
	}
	if n, _ := c.Exists(ctx, windowKey(p, "")).Result(); n != 0 {
		t.Error("a guest in standup alone opened the lobby's window")
	}
	tickWindowed(t, s, c, p, "A", "ea", 2, letGo(g))
	if n, _ := c.Exists(ctx, windowKey(p, "standup"), p+"roomlog:standup").Result(); n != 0 {
		t.Error("standup's window or log outlived the room")
	}
	if n, _ := c.ZCard(ctx, p+"windows").Result(); n != 0 {
		t.Errorf("p:windows lists %d windows, want none", n)
	}
}

// TestWindowsDueWhileTheClusterSettlesAreDroppedUnlogged: after a data
// loss a due window may be older than what Redis lost: the heartbeat
// forgets it without a word.
func TestWindowsDueWhileTheClusterSettlesAreDroppedUnlogged(t *testing.T) {
	s, c, p := scriptsOn(t)
	ctx := context.Background()
	joinAs(t, s, c, p, "A", "ea")
	tickWindowed(t, s, c, p, "A", "ea", 1, guest("g-1"))
	makeDue(t, c, p, "")
	c.Set(ctx, p+"settling", "1", time.Minute)
	if closed := beatAs(t, s, c, p, "A", "ea"); len(closed) != 0 {
		t.Errorf("a heartbeat while settling logged %+v", closed)
	}
	if n, _ := c.Exists(ctx, windowKey(p, ""), p+"log").Result(); n != 0 {
		t.Error("the window was kept, or logged")
	}
}

// TestAVisitsEntryCrossesTheWireWithItsVisits: "3 guests came and went"
// keeps its count through encodeEntry and decodeEntry; every other entry
// is written with seven fields, as before.
func TestAVisitsEntryCrossesTheWireWithItsVisits(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	visits := logged{room: "standup", entry: hub.Entry{ID: 7, At: at, Visits: 3}}
	got, err := decodeEntry(encodeEntry(visits))
	if err != nil || got.room != "standup" || got.entry.ID != 7 || !got.entry.At.Equal(at) || got.entry.Visits != 3 {
		t.Errorf("decoded %+v, %v; want %+v", got, err, visits)
	}
	if s := encodeEntry(logged{entry: hub.Entry{ID: 8, At: at, Arrived: true, Guests: 2}}); s != "8\x1e1700000000000\x1e1\x1e2\x1e0\x1e\x1e" {
		t.Errorf("an entry without visits is written %q, want seven fields", s)
	}
}

// TestARejoinAloudCountsItsGuestsInTheWindow: an instance the others
// reaped rejoins aloud (they logged its people as gone): its guests come
// back into the window, not into an entry of their own.
func TestARejoinAloudCountsItsGuestsInTheWindow(t *testing.T) {
	s, c, p := scriptsOn(t)
	c.SetNX(context.Background(), p+"epoch", "s", 0)
	res, err := s.join.Run(context.Background(), c, nil, p, "A", "ea", "s", "0", 0, 50, 10000,
		encodeOps([]op{guest("g-1"), user("u-1", "alice")}), testWindow).Slice()
	if err != nil || res[0] != "OK" {
		t.Fatalf("join answered %v, %v", res, err)
	}
	entries, err := decodeEntries(res[1].(string))
	if err != nil || len(entries) != 1 || entries[0].entry.Guests != 0 || entries[0].entry.Names[0] != "alice" {
		t.Errorf("the join logged %+v, %v; want alice's arrival alone", entries, err)
	}
	if w := windowOf(t, c, p, ""); w["+g-1"] == "" {
		t.Errorf("the window = %v, want g-1 come", w)
	}
}
