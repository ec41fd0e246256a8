package cluster_test

import (
	"context"
	"herenow/internal/testkit"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/cluster"
	"herenow/hub"
)

// TestGuestsAreSummarisedAlikeOnEveryInstance: with a log window, two
// instances log no guest as they come and go, in the lobby or in
// standup: g-a joins standup on A and stays, g-b joins it on B and
// leaves, alice comes to A's lobby. The windows are Redis's (here made
// to end by hand, standing in for an hour's passing); once they end,
// both instances show the same summaries under the same IDs: in the
// lobby "a guest came online" and "a guest came and went" beside alice's
// own entry, in standup the same two.
func TestGuestsAreSummarisedAlikeOnEveryInstance(t *testing.T) {
	prefix := testPrefix()
	opt := cluster.Options{Heartbeat: 100 * time.Millisecond, TTL: 2 * time.Second}
	a := newWindowedNode(t, redisAddr(), nil, prefix, "A", opt, time.Hour)
	b := newWindowedNode(t, redisAddr(), nil, prefix, "B", opt, time.Hour)
	linked(t, a, b)
	ctx := context.Background()
	window := func(room string) map[string]string {
		key := prefix + "window"
		if room != "" {
			key = prefix + "roomwindow:" + room
		}
		w, _ := a.client.HGetAll(ctx, key).Result()
		return w
	}

	join(t, a, "standup", hub.Person{Key: "g-a", Guest: true})
	onB := join(t, b, "standup", hub.Person{Key: "g-b", Guest: true})
	a.hub.Connect(alice)
	for _, room := range []string{"", "standup"} {
		testkit.WaitUntil(t, waitLimit, "the window of "+room+" to hold both guests come", func() bool {
			w := window(room)
			return w["+g-a"] != "" && w["+g-b"] != ""
		})
	}
	onB.Close()
	for _, room := range []string{"", "standup"} {
		testkit.WaitUntil(t, waitLimit, "the window of "+room+" to count g-b's visit", func() bool { return window(room)["visits"] == "1" })
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to log alice's arrival", func() bool { return said(n.hub.Snapshot().Log, "alice", true) == 1 })
		// The stream is in order: a guest's entry would be here by now.
		if log := n.hub.Snapshot().Log; len(log) != 1 {
			t.Errorf("%s's lobby log = %+v, want alice's arrival alone", name, log)
		}
		if log := roomOf(n, "standup").Log; len(log) != 0 {
			t.Errorf("%s's standup log = %+v, want nothing yet", name, log)
		}
	}

	for _, room := range []string{"", "standup"} {
		key := prefix + "window"
		if room != "" {
			key = prefix + "roomwindow:" + room
		}
		if err := a.client.HSet(ctx, key, "due", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if err := a.client.ZAdd(ctx, prefix+"windows", redis.Z{Score: 1, Member: room}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	summarised := func(log []hub.Entry) bool {
		return len(log) >= 2 && log[0].Visits == 1 && log[0].Guests == 0 && !log[0].Arrived &&
			log[1].Arrived && log[1].Guests == 1 && len(log[1].Names) == 0 && log[1].ID+1 == log[0].ID
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+" to show the summaries", func() bool {
			return summarised(n.hub.Snapshot().Log) && summarised(roomOf(n, "standup").Log)
		})
	}
	lobbyA, lobbyB := a.hub.Snapshot().Log, b.hub.Snapshot().Log
	if len(lobbyA) != 3 || said(lobbyA[2:], "alice", true) != 1 {
		t.Errorf("A's lobby log = %+v, want the two summaries above alice's arrival", lobbyA)
	}
	if !reflect.DeepEqual(lobbyA, lobbyB) {
		t.Errorf("the lobby logs differ:\nA %+v\nB %+v", lobbyA, lobbyB)
	}
	roomA, roomB := roomOf(a, "standup").Log, roomOf(b, "standup").Log
	if len(roomA) != 2 || !reflect.DeepEqual(roomA, roomB) {
		t.Errorf("standup's logs = \nA %+v\nB %+v\nwant the two summaries, the same on both", roomA, roomB)
	}
}
