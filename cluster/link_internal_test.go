package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/handlers"
	"herenow/hub"
	"herenow/hub/hubtest"
)

// TestChangesLoggedWhileCutOffAreQuietOnePersonAtATime: a change heard
// while the hub logs provisionally is quiet (already logged) unless that
// same person has a change waiting that was not; one person's loud change
// does not make the next person's loud.
func TestChangesLoggedWhileCutOffAreQuietOnePersonAtATime(t *testing.T) {
	r := NewRedis(nil, "A", slog.New(slog.DiscardHandler), Options{})
	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	bob := hub.Held{Person: hub.Person{Key: "u-2", Name: "bob"}, Conns: 1}
	r.mu.Lock()
	r.answered = hub.LogShared
	r.mu.Unlock()
	r.Changed([]hub.Held{alice}) // logged by the cluster: loud
	r.mu.Lock()
	r.answered = hub.LogProvisional
	r.mu.Unlock()
	r.Changed([]hub.Held{alice, bob}) // both logged here
	if r.pending[place{"", "u-1"}] {
		t.Error("alice's change is quiet, but one of her changes waiting was never logged")
	}
	if !r.pending[place{"", "u-2"}] {
		t.Error("bob's change is loud, but it was logged here")
	}
}

// TestEachHubsChangesAreQuietAsThatHubLoggedThem: the lobby and a room
// each ask how to log, then report their changes, under locks of their
// own, so another hub may ask in between while the link joins or is cut
// off. Each hub's changes are quiet exactly when that hub logged them.
func TestEachHubsChangesAreQuietAsThatHubLoggedThem(t *testing.T) {
	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	for _, c := range []struct {
		lobbyTold, roomTold hub.Logging
	}{
		{hub.LogProvisional, hub.LogShared}, // the link joined in between
		{hub.LogShared, hub.LogProvisional}, // the link was cut off in between
	} {
		r := NewRedis(nil, "A", slog.New(slog.DiscardHandler), Options{})
		room := r.Room("standup")
		set := func(l hub.Logging) {
			r.mu.Lock()
			r.logging = l
			r.mu.Unlock()
		}
		set(c.lobbyTold)
		r.Logging()
		set(c.roomTold)
		room.Logging()
		r.Changed([]hub.Held{alice})
		room.Changed([]hub.Held{alice})
		if quiet := r.pending[place{"", "u-1"}]; quiet != (c.lobbyTold == hub.LogProvisional) {
			t.Errorf("lobby told %v, room %v: the lobby's change is quiet=%v", c.lobbyTold, c.roomTold, quiet)
		}
		if quiet := r.pending[place{"standup", "u-1"}]; quiet != (c.roomTold == hub.LogProvisional) {
			t.Errorf("lobby told %v, room %v: the room's change is quiet=%v", c.lobbyTold, c.roomTold, quiet)
		}
	}
}

// eagerPanel is a Site whose panel timer fires as soon as each Remote
// call returns, as it does at once after a quiet spell: a room left
// empty by one call is forgotten before the next. It counts the calls.
type eagerPanel struct {
	*hub.Site
	clock *hubtest.Clock
	calls map[string]int
}

func (p *eagerPanel) Remote(room string, apply func(*hub.Hub)) error {
	p.calls[room]++
	err := p.Site.Remote(room, apply)
	p.clock.Advance(0)
	return err
}

// TestADeltasEntryAndPeopleReachANewRoomInOneCall: another instance's
// delta brings alice into standup, new here, with her "joined" entry. The
// entry and alice go to the room in one Remote call, so the room, made
// for the entry, is never empty between them: were they applied one
// after the other, the Site could forget it as empty in between, and the
// entry would be lost with it.
func TestADeltasEntryAndPeopleReachANewRoomInOneCall(t *testing.T) {
	r, site, presence, clock, room := newEagerLink(t, nil, "")
	r.remotes["B"] = &remote{epoch: "eb", seq: 4}

	alice := hub.Held{Person: hub.Person{Key: "u-1", Name: "alice"}, Conns: 1}
	joined := hub.Entry{ID: 7, At: clock.Now().Truncate(time.Millisecond), Arrived: true, Names: []string{"alice"}}
	r.apply(context.Background(), batch{events: []redis.XMessage{{ID: "1-0", Values: map[string]any{
		"t": "d", "i": "B", "e": "eb", "s": "5",
		"o": encodeOps([]op{{room: "standup", held: alice}}),
		"l": encodeEntries([]logged{{room: "standup", entry: joined}}),
	}}}})
	clock.Advance(room.Tick) // the room's frame

	if n := presence.calls["standup"]; n != 1 {
		t.Errorf("%d Remote calls for standup, want 1", n)
	}
	if seq := r.remotes["B"].seq; seq != 5 {
		t.Errorf("B's delta 5 not applied: at %d", seq)
	}
	snap, ok := site.Room("standup")
	if !ok {
		t.Fatal("standup was forgotten, alice in it")
	}
	if len(snap.Users) != 1 || snap.Users[0].Key != "u-1" {
		t.Errorf("standup lists %+v, want alice", snap.Users)
	}
	if len(snap.Log) != 1 || snap.Log[0].ID != joined.ID || !snap.Log[0].Arrived {
		t.Errorf("standup's log = %+v, want alice joining, as %d", snap.Log, joined.ID)
	}
}

// newEagerLink is instance A's link, joined, applying to a Site on a fake
// clock whose panel timer fires between any two Remote calls.
func newEagerLink(t *testing.T, client *redis.Client, prefix string) (*Redis, *hub.Site, *eagerPanel, *hubtest.Clock, hub.Config) {
	t.Helper()
	r := NewRedis(client, "A", slog.New(slog.DiscardHandler), Options{Prefix: prefix, Heartbeat: time.Second})
	clock := hubtest.NewClock()
	room := hub.Config{Render: handlers.Renderer{}, Clock: clock, Tick: 10 * time.Millisecond,
		ListLimit: 100, LogSize: 50, QueueSize: 64}
	lobby := room
	lobby.Peers = r
	site, err := hub.NewSite(hub.SiteConfig{Room: room, Lobby: lobby, RoomPeers: r.Room,
		RoomRender: func(name string) hub.Renderer { return handlers.Renderer{Room: name} },
		PanelLimit: 20, RenderPanel: handlers.RenderPanel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(site.Close)
	presence := &eagerPanel{Site: site, clock: clock, calls: make(map[string]int)}
	r.presence = presence
	r.mu.Lock()
	r.logging = hub.LogShared
	r.mu.Unlock()
	return r, site, presence, clock, room
}

// TestAJoinsEntryAndPeopleReachANewRoomInOneCall: as for a delta, an
// instance (re)joining aloud announces its people with their entries; the
// share it holds is read then, and a new room gets its entry and its
// people in one Remote call, not forgotten as empty in between.
func TestAJoinsEntryAndPeopleReachANewRoomInOneCall(t *testing.T) {
	_, c, p := scriptsOn(t)
	ctx := context.Background()
	c.HSet(ctx, p+"share:B", "standup"+roomSep+"u-1", "1"+innerSep+"alice"+innerSep+"0")
	c.HSet(ctx, p+"instances", "B", "eb:1")
	t.Cleanup(func() { c.Del(ctx, p+"share:B", p+"instances") })
	r, site, presence, clock, room := newEagerLink(t, c, p)

	joined := hub.Entry{ID: 7, At: clock.Now().Truncate(time.Millisecond), Arrived: true, Names: []string{"alice"}}
	r.apply(ctx, batch{events: []redis.XMessage{{ID: "1-0", Values: map[string]any{
		"t": "j", "i": "B", "e": "eb", "s": "1",
		"l": encodeEntries([]logged{{room: "standup", entry: joined}}),
	}}}})
	clock.Advance(room.Tick)

	if n := presence.calls["standup"]; n != 1 {
		t.Errorf("%d Remote calls for standup, want 1", n)
	}
	snap, ok := site.Room("standup")
	if !ok {
		t.Fatal("standup was forgotten, alice in it")
	}
	if len(snap.Users) != 1 || snap.Users[0].Key != "u-1" {
		t.Errorf("standup lists %+v, want alice", snap.Users)
	}
	if len(snap.Log) != 1 || snap.Log[0].ID != joined.ID {
		t.Errorf("standup's log = %+v, want alice joining, as %d", snap.Log, joined.ID)
	}
}

// hubsByRoom is a Presence of plain hubs, one per room, made on demand.
type hubsByRoom struct {
	t     *testing.T
	lobby *hub.Hub
	rooms map[string]*hub.Hub
}

func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Config{Render: handlers.Renderer{}, Tick: time.Hour, ListLimit: 100, LogSize: 50, QueueSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func (p *hubsByRoom) Lobby() *hub.Hub { return p.lobby }
func (p *hubsByRoom) Remote(room string, apply func(*hub.Hub)) error {
	if p.rooms[room] == nil {
		p.rooms[room] = newHub(p.t)
	}
	apply(p.rooms[room])
	return nil
}
func (p *hubsByRoom) EachRoom(f func(string, *hub.Hub)) {
	for room, h := range p.rooms {
		f(room, h)
	}
}

// pipelineSizes notes how many ZRANGEs each pipeline that has any sends
// (a new connection's handshake is a pipeline too).
type pipelineSizes struct{ sizes []int }

func (s *pipelineSizes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (s *pipelineSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (s *pipelineSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, cmd := range cmds {
			if cmd.Name() == "zrange" {
				n++
			}
		}
		if n > 0 {
			s.sizes = append(s.sizes, n)
		}
		return next(ctx, cmds)
	}
}

// TestLoadLogReadsManyRoomsInChunks: the lobby's log and 1,200 rooms'
// are read logChunk at a time, each pipeline under a timeout of its own,
// and every hub gets its room's entry, whichever chunk it was read in.
func TestLoadLogReadsManyRoomsInChunks(t *testing.T) {
	_, c, p := scriptsOn(t)
	ctx := context.Background()
	presence := &hubsByRoom{t: t, lobby: newHub(t), rooms: make(map[string]*hub.Hub)}
	r := NewRedis(c, "A", slog.New(slog.DiscardHandler), Options{Prefix: p})
	r.presence = presence
	entry := func(room string, id uint64) logged {
		return logged{room: room, entry: hub.Entry{ID: id, Arrived: true, Names: []string{"alice"}}}
	}
	var keys []string
	add := func(room string, id uint64) {
		keys = append(keys, r.logKey(room))
		if err := c.ZAdd(ctx, r.logKey(room), redis.Z{Score: float64(id), Member: encodeEntry(entry(room, id))}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	add("", 1)
	for i := range 1200 {
		room := fmt.Sprintf("room-%d", i)
		presence.rooms[room] = newHub(t)
		add(room, uint64(i+2))
	}
	t.Cleanup(func() { c.Unlink(ctx, keys...) })

	sizes := &pipelineSizes{}
	c.AddHook(sizes)
	if err := r.loadLog(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []int{logChunk, logChunk, 1201 - 2*logChunk}; !slices.Equal(sizes.sizes, want) {
		t.Errorf("pipelines of %v commands, want %v", sizes.sizes, want)
	}
	if log := presence.lobby.Snapshot().Log; len(log) != 1 || log[0].ID != 1 {
		t.Errorf("the lobby's log = %+v, want its entry", log)
	}
	for i := range 1200 {
		room := fmt.Sprintf("room-%d", i)
		if log := presence.rooms[room].Snapshot().Log; len(log) != 1 || log[0].ID != uint64(i+2) {
			t.Fatalf("%s's log = %+v, want its entry, %d", room, log, i+2)
		}
	}
}
