package cluster

import (
	"context"
	"crypto/rand"
	"os"
	"sync"
	"testing"

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
	res, err := s.join.Run(context.Background(), c, nil, p, id, epoch, "s", "0", 0, 50, 10000, encodeOps(ops)).Slice()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tickAs(t *testing.T, s scripts, c *redis.Client, p, id, epoch string, seq int, floor uint64, ops ...op) []any {
	t.Helper()
	res, err := s.tick.Run(context.Background(), c, nil, p, id, epoch, seq, "s", floor, 50, 10000, encodeOps(ops)).Slice()
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
			res, err := s.reap.Run(context.Background(), c, nil, p, "X", 0, 50).Slice()
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
