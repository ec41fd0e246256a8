// Package cluster shares presence between herenow instances through Redis.
//
// Each instance owns its connections. It keeps its people (its share) in a
// Redis hash and sends every change as a delta, batched per hub tick, in one
// script that also counts each person across the cluster and logs who came
// and went, with an entry ID Redis issues in the same step. Every instance
// reads the deltas from one stream and applies them to its hub; it reads
// another instance's whole share only when it sees a gap in that
// instance's sequence, a new epoch, or its own reconnection. Liveness is a
// key per instance, refreshed by a heartbeat whose cost does not depend on
// how many people anyone holds. See docs/design/cluster-v2.md.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/hub"
)

// Options tune the link.
type Options struct {
	// Prefix namespaces every key, so that several clusters (or tests) can
	// share one Redis.
	Prefix string
	// Heartbeat is how often an instance says it is alive and looks for
	// dead ones; also the deadline of every Redis call.
	Heartbeat time.Duration
	// TTL is how long an instance counts as alive after its last
	// heartbeat: how soon a dead instance's people go offline.
	TTL time.Duration
}

// Redis is one instance's link to the cluster through Redis.
type Redis struct {
	client   *redis.Client
	instance string
	logger   *slog.Logger
	opt      Options
	scripts  scripts
	wake     chan struct{} // local changes wait; buffered, one pending signal is enough
	beatNow  chan struct{} // a heartbeat is due before its time; buffered likewise

	mu       sync.Mutex
	logging  hub.Logging        // what the hubs are told
	answered hub.Logging        // what the lobby was told last: the mode its latest changes were logged in (a room's is its roomPeers')
	share    map[place]hub.Held // the people this instance holds, as the hubs reported them; Gone until that is sent
	pending  map[place]bool     // people changed since the last send → whether every change was logged here (quiet)
	lastBeat time.Time          // the last heartbeat Redis answered
	joined   bool               // registered, and the others' shares read

	// Owned by Run's goroutine.
	presence      Presence
	refusedRoom   bool   // a room another instance holds people in was refused here: logged once
	epoch         string // this registration; new at every join
	seq           int64  // the last delta sent in this epoch
	sentinel      string // the Redis data's sentinel as last seen
	remotes       map[string]*remote
	settlingUntil time.Time   // until when the cluster settles after Redis lost its data
	quietRejoin   bool        // Redis lost its data: rejoin without logging anyone
	needHeld      bool        // Redis lost its data: put back the log this instance holds
	lastEvent     string      // the last stream event applied, or the cursor given
	cursor        chan cursor // where the stream reader is to read from
	generation    int         // of the latest cursor: batches read from an older one are stale
	top           uint64      // the highest shared entry ID this instance holds
	needSync      bool        // the stream reader lost its place: read everything again
	needRestore   bool        // entries logged while cut off wait to be shared
	needRejoin    bool        // Redis refused a delta as out of step
	outage        error
	broken        error // the client was closed under the link: it cannot go on
}

// place is a person in the lobby (room "") or in a room.
type place struct{ room, key string }

// remote is what this instance has applied of another instance's share.
type remote struct {
	epoch     string
	seq       int64
	seenEpoch string // the epoch and seq the last heartbeat showed
	seen      int64
	missing   int // heartbeats in a row that did not list it
}

// QuietRedisLogs keeps go-redis from logging each failed dial and retry:
// while Redis is away that would be a line per attempt, and Run already
// logs the outage once, and the recovery. go-redis has one logger per
// process, so the program calls this once at start.
func QuietRedisLogs() { redis.SetLogger(discard{}) }

type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

// NewRedis prepares this instance's link to the cluster. Give it to the
// hub as Config.Peers, then Run it with the hub. Calls to Redis are bounded
// by their context: client should have ContextTimeoutEnabled.
func NewRedis(client *redis.Client, instance string, logger *slog.Logger, opt Options) *Redis {
	return &Redis{
		client: client, instance: instance, logger: logger, opt: opt,
		scripts: loadScripts(),
		wake:    make(chan struct{}, 1),
		beatNow: make(chan struct{}, 1),
		logging: hub.LogProvisional, answered: hub.LogProvisional,
		share:   make(map[place]hub.Held),
		pending: make(map[place]bool),
		remotes: make(map[string]*remote),
		cursor:  make(chan cursor, 1),
	}
}

// Changed takes the lobby's changes to the people this instance holds. It
// never blocks: the hub calls it with its lock held.
func (r *Redis) Changed(changes []hub.Held) { r.changed("", &r.answered, changes) }

// Room returns the Peers of room's hub: its changes are sent with the
// lobby's, tagged with the room, and it logs as the lobby does.
func (r *Redis) Room(name string) hub.Peers {
	return &roomPeers{link: r, room: name, answered: hub.LogProvisional}
}

// roomPeers is a room hub's Peers. Each hub asks how to log, then reports
// its changes, under its own lock: another hub may ask in between, just
// as the link joins or is cut off, so each keeps what it was told.
type roomPeers struct {
	link     *Redis
	room     string
	answered hub.Logging // guarded by link.mu: what this room's hub was told last
}

func (p *roomPeers) Changed(changes []hub.Held) { p.link.changed(p.room, &p.answered, changes) }
func (p *roomPeers) Logging() hub.Logging       { return p.link.tell(&p.answered) }

// changed takes a hub's changes; answered is what that hub was told last
// (guarded by r.mu), the mode they were logged in.
func (r *Redis) changed(room string, answered *hub.Logging, changes []hub.Held) {
	r.mu.Lock()
	loggedHere := *answered == hub.LogProvisional
	for _, c := range changes {
		key := place{room, c.Person.Key}
		r.share[key] = c
		quiet := loggedHere
		if was, ok := r.pending[key]; ok {
			quiet = quiet && was
		}
		r.pending[key] = quiet
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Logging tells the hubs to log their own view (provisionally) until this
// instance is part of the cluster, and to log nothing themselves while it
// is: the cluster's entries then arrive through AddEntries.
func (r *Redis) Logging() hub.Logging { return r.tell(&r.answered) }

// tell answers a hub's Logging and notes the answer in answered.
func (r *Redis) tell(answered *hub.Logging) hub.Logging {
	r.mu.Lock()
	defer r.mu.Unlock()
	*answered = r.logging
	return r.logging
}

// Ready fails until this instance has joined the cluster, and when Redis
// has not answered a heartbeat for two of them: a silent partition shows
// within 2 × Heartbeat, well before the others take this instance's people
// offline (at TTL).
func (r *Redis) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.joined:
		return errors.New("redis: not part of the cluster yet")
	case time.Since(r.lastBeat) > 2*r.opt.Heartbeat:
		return fmt.Errorf("redis: no answer for %v", time.Since(r.lastBeat).Round(time.Millisecond))
	}
	return nil
}

func (r *Redis) key(parts ...string) string { return r.opt.Prefix + strings.Join(parts, ":") }

// call bounds one Redis call by the heartbeat, and by a second at least,
// so that a busy machine's slow answer is not taken for an outage (a
// silent partition still shows in Ready after two heartbeats).
func (r *Redis) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(r.opt.Heartbeat, time.Second))
}

// Run keeps the link until ctx ends. While Redis is away the hub serves
// and logs local presence; when it returns, this instance rejoins, shares
// what it logged meanwhile and reads the others again. It returns nil when
// ctx ends, and an error only when the link is broken for good (its client
// closed under it).
func (r *Redis) Run(ctx context.Context, p Presence) error {
	r.presence = p
	// The blocking stream read has a client of its own, so that it never
	// holds one of the pool's connections.
	readerOpts := *r.client.Options()
	readerOpts.PoolSize, readerOpts.MinIdleConns, readerOpts.MaxIdleConns = 1, 0, 1
	readerOpts.ContextTimeoutEnabled = true
	reader := redis.NewClient(&readerOpts)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	events := make(chan batch)
	readErrs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.read(readCtx, reader, events, readErrs)
	}()
	defer func() {
		// A blocking read ends with its connection, not with its context.
		stopReading()
		reader.Close()
		<-done
	}()

	beat := time.NewTicker(r.opt.Heartbeat)
	defer beat.Stop()
	r.heartbeat(ctx)
	for r.broken == nil {
		select {
		case <-ctx.Done():
			r.leave()
			return nil
		case <-r.wake:
			r.tick(ctx)
		case <-beat.C:
			r.heartbeat(ctx)
		case <-r.beatNow:
			r.heartbeat(ctx)
		case b := <-events:
			r.apply(ctx, b)
		case err := <-readErrs:
			if errors.Is(err, redis.ErrClosed) {
				return fmt.Errorf("redis stream: %w", err)
			}
			r.needSync = true
		}
	}
	return fmt.Errorf("redis: %w", r.broken)
}

// cursor is a place in the events stream, and which of Run's cursors it is.
type cursor struct {
	id         string
	generation int
}

// batch is events read from the stream, and the cursor they were read from.
type batch struct {
	events     []redis.XMessage
	generation int
}

// read follows the events stream from the cursor Run gives it, handing
// every batch to Run. An error is reported once per outage; Run then reads
// everything again and gives a new cursor.
func (r *Redis) read(ctx context.Context, reader *redis.Client, events chan<- batch, errs chan<- error) {
	var at cursor
	failing := false
	for ctx.Err() == nil {
		select {
		case at = <-r.cursor:
			failing = false
		default:
		}
		if at.id == "" {
			select {
			case at = <-r.cursor:
				failing = false
			case <-ctx.Done():
				return
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, 2*r.opt.Heartbeat)
		streams, err := reader.XRead(callCtx, &redis.XReadArgs{
			Streams: []string{r.key("events"), at.id}, Count: 500, Block: r.opt.Heartbeat,
		}).Result()
		cancel()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				// A slow answer on a busy machine, not a lost place: the
				// cursor has not moved, so reading again from it misses
				// nothing, and a full resync (every share and every room's
				// log) would be waste. An outage shows in the heartbeat.
				continue
			}
			if !failing || errors.Is(err, redis.ErrClosed) {
				failing = true
				select {
				case errs <- err:
				default:
				}
			}
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			select { // not a busy loop while Redis is away
			case <-time.After(r.opt.Heartbeat / 4):
			case <-ctx.Done():
				return
			}
			continue
		}
		for _, s := range streams {
			if len(s.Messages) == 0 {
				continue
			}
			at.id = s.Messages[len(s.Messages)-1].ID
			select {
			case events <- batch{events: s.Messages, generation: at.generation}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// heartbeat keeps this instance alive, notices a Redis that lost its data,
// rejoins when the others reaped this instance, heals after an outage,
// catches up on gaps the stream did not show, and reaps dead instances.
func (r *Redis) heartbeat(ctx context.Context) {
	callCtx, cancel := r.call(ctx)
	res, err := r.scripts.beat.Run(callCtx, r.client, nil, r.opt.Prefix, r.instance, r.epoch,
		r.opt.TTL.Milliseconds(), rand.Text(), r.sentinel, r.floor(), r.logSize()).Slice()
	cancel()
	if err != nil {
		r.failed(ctx, fmt.Errorf("heartbeat: %w", err))
		return
	}
	b, err := parseBeat(res)
	if err != nil {
		r.failed(ctx, err)
		return
	}
	if b.settling > 0 {
		r.settlingUntil = time.Now().Add(b.settling)
	}
	if r.lostData(ctx, b) {
		return
	}
	r.sentinel = b.sentinel
	// The guest windows this heartbeat closed: shown at once here, and
	// everywhere through the stream. A bad answer is no reason to miss a
	// heartbeat.
	if err := r.addEntries(b.closed); err != nil {
		r.logger.Error("cluster: bad entries from redis", "err", err)
	}
	if b.firstEvent != "" && r.lastEvent != "" && streamIDLess(r.lastEvent, b.firstEvent) {
		r.needSync = true // the stream was trimmed past what was applied: events were lost
	}
	mine, registered := b.instances[r.instance]
	r.mu.Lock()
	cutOff := r.logging != hub.LogShared
	r.mu.Unlock()
	switch {
	case r.quietRejoin || cutOff || r.needRejoin || !registered || !strings.HasPrefix(mine, r.epoch+":"):
		// Rejoin quietly when Redis lost everyone's counts (nobody came or
		// went), aloud when the others reaped this instance (they logged
		// its people as gone).
		err = r.connect(ctx, r.quietRejoin || r.inRestartWindow() || !r.joinedOnce())
	case r.needSync:
		err = r.sync(ctx)
	case r.needRestore || r.needHeld:
		err = r.restore(ctx)
	}
	if err != nil {
		r.failed(ctx, err)
		return
	}
	r.mu.Lock()
	r.lastBeat = time.Now()
	r.mu.Unlock()
	r.recovered()
	r.tick(ctx) // changes a failed send kept
	r.catchUp(ctx, b.instances)
	if r.inRestartWindow() {
		return // nobody is declared gone until a full TTL since Redis lost its data
	}
	for _, x := range b.dead {
		if err := r.reap(ctx, x); err != nil {
			r.failed(ctx, err)
			return
		}
	}
}

// lostData notices that Redis lost data since this instance last looked:
// its sentinel changed (restarted empty; beat.lua then opened the
// settling window), or its sentinel survived but it is behind what this
// instance saw (a failover to a replica behind, or a reload of an old
// file): this instance's registration has an older seq, or the entry
// counter is below an ID already issued. Then this instance rejoins
// quietly and puts its log back, and in the second case opens the
// settling window itself. It reports whether the heartbeat must stop here.
func (r *Redis) lostData(ctx context.Context, b beat) bool {
	changed := r.sentinel != "" && b.sentinel != r.sentinel
	behind := false
	if epoch, seq, ok := parseVersion(b.instances[r.instance]); ok && epoch == r.epoch && seq < r.seq {
		behind = true
	}
	behind = behind || b.logNext < r.top
	if !changed && !behind {
		return false
	}
	r.logger.Warn("redis lost data; republishing this instance's people and log quietly", "restarted", changed)
	r.quietRejoin, r.needHeld = true, true
	if behind && !changed {
		callCtx, cancel := r.call(ctx)
		err := r.client.SetNX(callCtx, r.key("settling"), "1", r.opt.TTL).Err()
		cancel()
		if err != nil {
			r.failed(ctx, fmt.Errorf("heartbeat: %w", err))
			return true
		}
		r.settlingUntil = time.Now().Add(r.opt.TTL)
	}
	return false
}

// streamIDLess compares two stream IDs ("ms-seq").
func streamIDLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	amn, _ := strconv.ParseUint(am, 10, 64)
	bmn, _ := strconv.ParseUint(bm, 10, 64)
	if amn != bmn {
		return amn < bmn
	}
	asn, _ := strconv.ParseUint(as, 10, 64)
	bsn, _ := strconv.ParseUint(bs, 10, 64)
	return asn < bsn
}

func (r *Redis) joinedOnce() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.joined
}

// inRestartWindow reports whether the cluster is settling after Redis lost
// its data (p:settling, as the last heartbeat saw it).
func (r *Redis) inRestartWindow() bool { return time.Now().Before(r.settlingUntil) }

// beat is the beat script's answer.
type beat struct {
	sentinel   string
	instances  map[string]string // every registered instance → epoch:seq
	dead       []string          // registered instances whose alive key is gone
	settling   time.Duration     // how long the cluster still settles; <= 0: it does not
	firstEvent string            // the stream's first event's ID; "" when empty
	logNext    uint64            // the last entry ID issued
	closed     string            // the summaries of the guest windows it closed, encoded
}

func parseBeat(res []any) (beat, error) {
	if len(res) != 7 {
		return beat{}, fmt.Errorf("heartbeat: unexpected answer %v", res)
	}
	var b beat
	b.sentinel, _ = res[0].(string)
	flat, _ := res[1].([]any)
	b.instances = make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		b.instances[k] = v
	}
	deadList, _ := res[2].([]any)
	for _, d := range deadList {
		s, _ := d.(string)
		b.dead = append(b.dead, s)
	}
	pttl, _ := res[3].(int64)
	b.settling = time.Duration(pttl) * time.Millisecond
	b.firstEvent, _ = res[4].(string)
	logNext, _ := res[5].(string)
	b.logNext, _ = strconv.ParseUint(logNext, 10, 64)
	b.closed, _ = res[6].(string)
	return b, nil
}

// connect makes this instance part of the cluster: at start, after an
// outage, after the others reaped it, and after Redis lost its data. In
// order: note where the stream ends; merge the shared log; after a data
// loss put back the log this instance holds; register this instance's
// share under a new epoch; share what it logged while cut off; read every
// other instance's share; follow the stream from the noted place.
func (r *Redis) connect(ctx context.Context, quiet bool) error {
	r.needSync = true // until it is done: a failure part way must not skip the reads
	cursor, err := r.streamEnd(ctx)
	if err != nil {
		return err
	}
	if err := r.loadLog(ctx); err != nil {
		return err
	}
	if err := r.join(ctx, quiet); err != nil {
		return err
	}
	if err := r.restore(ctx); err != nil {
		return err
	}
	if err := r.readAll(ctx); err != nil {
		return err
	}
	if err := r.loadLog(ctx); err != nil { // the logs of rooms that only the others' shares showed
		return err
	}
	r.setCursor(cursor)
	r.needSync = false
	return nil
}

// sync reads the log and every share again, for when the stream reader
// lost its place.
func (r *Redis) sync(ctx context.Context) error {
	cursor, err := r.streamEnd(ctx)
	if err == nil {
		err = r.readAll(ctx)
	}
	if err == nil {
		err = r.loadLog(ctx)
	}
	if err != nil {
		return err
	}
	r.setCursor(cursor)
	r.needSync = false
	return nil
}

func (r *Redis) setCursor(id string) {
	r.generation++
	r.lastEvent = id
	select {
	case <-r.cursor:
	default:
	}
	r.cursor <- cursor{id: id, generation: r.generation}
}

// streamEnd returns the ID of the stream's last event, or "0-0" for an
// empty or missing stream.
func (r *Redis) streamEnd(ctx context.Context) (string, error) {
	callCtx, cancel := r.call(ctx)
	defer cancel()
	last, err := r.client.XRevRangeN(callCtx, r.key("events"), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the stream's end: %w", err)
	}
	if len(last) == 0 {
		return "0-0", nil
	}
	return last[0].ID, nil
}

// logChunk is how many rooms' logs loadLog reads in one pipeline, under
// one call's timeout: thousands of rooms in one would outlast it.
const logChunk = 500

// loadLog merges the shared logs into the hubs': the lobby's, and each
// room's this instance shows, logChunk rooms at a time. Entries a hub
// lacks are added in order, whatever their age.
func (r *Redis) loadLog(ctx context.Context) error {
	rooms := []string{""}
	r.presence.EachRoom(func(room string, _ *hub.Hub) { rooms = append(rooms, room) })
	for chunk := range slices.Chunk(rooms, logChunk) {
		if err := r.loadLogs(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// loadLogs merges the shared logs of rooms into their hubs, read in one
// pipeline.
func (r *Redis) loadLogs(ctx context.Context, rooms []string) error {
	callCtx, cancel := r.call(ctx)
	defer cancel()
	logs := make([]*redis.StringSliceCmd, len(rooms))
	_, err := r.client.Pipelined(callCtx, func(p redis.Pipeliner) error {
		for i, room := range rooms {
			logs[i] = p.ZRange(callCtx, r.logKey(room), 0, -1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the shared logs: %w", err)
	}
	for i, l := range logs {
		entries, err := decodeEntries(strings.Join(l.Val(), itemSep))
		if err != nil {
			return fmt.Errorf("read the shared log of %q: %w", rooms[i], err)
		}
		for j := range entries {
			entries[j].room = rooms[i]
		}
		r.addDecoded(entries)
	}
	return nil
}

// logKey is where room's entries are kept; the lobby's ("") in p:log,
// a room's in a namespace of its own (a room may be called "next", and
// p:log:next is the entry counter).
func (r *Redis) logKey(room string) string {
	if room == "" {
		return r.key("log")
	}
	return r.key("roomlog", room)
}

// logSize is how many entries each log keeps: the lobby's size, which
// every room shares.
func (r *Redis) logSize() int { return r.presence.Lobby().LogSize() }

// logWindow is the lobby's log window in ms, which every room shares: the
// scripts summarise guests once per window in each log (0: never).
func (r *Redis) logWindow() int64 { return r.presence.Lobby().LogWindow().Milliseconds() }

// inRoom runs apply on room's hub ("" for the lobby), creating the room
// if need be. A room this site refuses (outside its fixed list, should
// instances differ) is skipped: its people still show in the lobby.
func (r *Redis) inRoom(room string, apply func(*hub.Hub)) {
	if room == "" {
		apply(r.presence.Lobby())
		return
	}
	err := r.presence.Remote(room, apply)
	if err != nil && !errors.Is(err, hub.ErrShutdown) && !r.refusedRoom {
		r.refusedRoom = true
		r.logger.Warn("another instance has people in a room this one refuses; is --rooms the same everywhere?", "room", room, "err", err)
	}
}

// floor is the highest shared entry ID this instance has seen: Redis never
// issues one at or below it.
func (r *Redis) floor() uint64 { return r.top }

// takePending takes the changes waiting to be sent: every person this
// instance holds for a join, only those changed since the last send for a
// tick. Each is quiet when all its changes were logged here while cut off.
func (r *Redis) takePending(all bool) (ops []op, taken map[place]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	taken = r.pending
	r.pending = make(map[place]bool)
	for key, quiet := range taken {
		ops = append(ops, op{room: key.room, held: r.share[key], quiet: quiet})
	}
	if all {
		for key, held := range r.share {
			if _, ok := taken[key]; !ok {
				ops = append(ops, op{room: key.room, held: held})
			}
		}
	}
	return ops, taken
}

// sent forgets the people a send took out of the cluster, unless they
// came back since.
func (r *Redis) sent(taken map[place]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range taken {
		if _, again := r.pending[key]; !again && r.share[key].Gone {
			delete(r.share, key)
		}
	}
}

// putBack returns changes a failed send took, merged with any made since.
func (r *Redis) putBack(taken map[place]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, quiet := range taken {
		if now, ok := r.pending[key]; ok {
			quiet = quiet && now
		}
		r.pending[key] = quiet
	}
}

// join registers this instance's whole share under a new epoch. Once it
// is in, the hub stops logging: the cluster logs from here on.
func (r *Redis) join(ctx context.Context, quiet bool) error {
	ops, taken := r.takePending(true)
	epoch := rand.Text()[:12]
	callCtx, cancel := r.call(ctx)
	res, err := r.scripts.join.Run(callCtx, r.client, nil, r.opt.Prefix, r.instance, epoch, r.sentinel,
		flag(quiet), r.floor(), r.logSize(), r.opt.TTL.Milliseconds(), encodeOps(ops), r.logWindow()).Slice()
	cancel()
	if err != nil {
		r.putBack(taken)
		return fmt.Errorf("join: %w", err)
	}
	if status, _ := res[0].(string); status != "OK" {
		r.putBack(taken)
		return fmt.Errorf("join: redis answered %s", status)
	}
	r.sent(taken)
	r.epoch, r.seq, r.needRejoin, r.quietRejoin = epoch, 1, false, false
	r.mu.Lock()
	r.logging, r.joined = hub.LogShared, true
	r.mu.Unlock()
	r.needRestore = true
	entries, _ := res[1].(string)
	return r.addEntries(entries)
}

// tick sends the changes waiting, as one delta.
func (r *Redis) tick(ctx context.Context) {
	r.mu.Lock()
	ready := r.logging == hub.LogShared
	r.mu.Unlock()
	if !ready {
		return // kept until this instance (re)joins, which sends them
	}
	ops, taken := r.takePending(false)
	if len(ops) == 0 {
		return
	}
	callCtx, cancel := r.call(ctx)
	res, err := r.scripts.tick.Run(callCtx, r.client, nil, r.opt.Prefix, r.instance, r.epoch, r.seq, r.sentinel,
		r.floor(), r.logSize(), r.opt.TTL.Milliseconds(), encodeOps(ops), r.logWindow()).Slice()
	cancel()
	if err != nil {
		r.putBack(taken)
		r.failed(ctx, fmt.Errorf("send changes: %w", err))
		return
	}
	if status, _ := res[0].(string); status != "OK" {
		// Reaped, out of step (a delta Redis applied but whose answer was
		// lost), or Redis lost its data: the heartbeat, brought forward,
		// rejoins, and finds out whether quietly.
		r.putBack(taken)
		r.needRejoin = true
		select {
		case r.beatNow <- struct{}{}:
		default:
		}
		return
	}
	r.sent(taken)
	seq, _ := res[1].(string) // tick.lua answers it formatted, as every number it returns
	r.seq, _ = strconv.ParseInt(seq, 10, 64)
	entries, _ := res[2].(string)
	if err := r.addEntries(entries); err != nil {
		r.logger.Error("cluster: bad entries from redis", "err", err)
	}
}

func (r *Redis) addEntries(encoded string) error {
	entries, err := decodeEntries(encoded)
	if err != nil {
		return err
	}
	r.addDecoded(entries)
	return nil
}

// addDecoded gives each entry to its room's hub, creating the room for an
// arrival that comes before the people it names (the stream carries the
// entries first).
func (r *Redis) addDecoded(entries []logged) { r.applyInRooms("", entries, nil) }

// restore shares the entries this instance logged while cut off (each
// gets a shared ID, and the hub renumbers it), and after a data loss puts
// back the shared entries it holds.
func (r *Redis) restore(ctx context.Context) error {
	var held, provisional []logged
	collect := func(room string, h *hub.Hub) {
		if r.needHeld {
			log := h.Snapshot().Log // newest first
			for i := len(log) - 1; i >= 0; i-- {
				if log[i].ID < hub.ProvisionalBase {
					held = append(held, logged{room: room, entry: log[i]})
				}
			}
		}
		for _, e := range h.Provisional() {
			provisional = append(provisional, logged{room: room, entry: e})
		}
	}
	collect("", r.presence.Lobby())
	r.presence.EachRoom(collect)
	if len(provisional) == 0 && len(held) == 0 {
		r.needRestore, r.needHeld = false, false
		return nil
	}
	callCtx, cancel := r.call(ctx)
	renumbered, err := r.scripts.restore.Run(callCtx, r.client, nil, r.opt.Prefix, r.floor(), r.logSize(),
		encodeEntries(held), encodeEntries(provisional), r.instance).StringSlice()
	cancel()
	if err != nil {
		return fmt.Errorf("share entries logged while cut off: %w", err)
	}
	for i, s := range renumbered {
		e, err := decodeEntry(s)
		if err != nil || i >= len(provisional) || e.room != provisional[i].room {
			return fmt.Errorf("share entries logged while cut off: %v", s)
		}
		from := provisional[i].entry.ID
		r.inRoom(e.room, func(h *hub.Hub) { h.Renumber(from, e.entry.ID) })
		r.top = max(r.top, e.entry.ID)
	}
	r.needRestore, r.needHeld = false, false
	return nil
}

// readAll reads every other instance's share, and forgets those no longer
// registered (but none within a TTL of Redis losing its data: they may
// yet rejoin).
func (r *Redis) readAll(ctx context.Context) error {
	callCtx, cancel := r.call(ctx)
	instances, err := r.client.HKeys(callCtx, r.key("instances")).Result()
	cancel()
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	listed := make(map[string]bool, len(instances))
	for _, x := range instances {
		if x == r.instance {
			continue
		}
		listed[x] = true
		if err := r.readInstance(ctx, x); err != nil {
			return err
		}
	}
	if !r.inRestartWindow() {
		for x := range maps.Clone(r.remotes) {
			if !listed[x] {
				r.forget(x)
			}
		}
	}
	return nil
}

// readInstance reads one other instance's whole share and its seq, in one
// transaction, and gives it to the hub; decoding happens before the hub is
// locked.
func (r *Redis) readInstance(ctx context.Context, x string) error {
	return r.readInstanceLogged(ctx, x, nil)
}

// readInstanceLogged is readInstance with the entries of the event that
// asked for it, which go to each room with what x holds there.
func (r *Redis) readInstanceLogged(ctx context.Context, x string, entries []logged) error {
	callCtx, cancel := r.call(ctx)
	var share *redis.MapStringStringCmd
	var version *redis.StringCmd
	_, err := r.client.TxPipelined(callCtx, func(p redis.Pipeliner) error {
		share = p.HGetAll(callCtx, r.key("share", x))
		version = p.HGet(callCtx, r.key("instances"), x)
		return nil
	})
	cancel()
	if errors.Is(err, redis.Nil) && errors.Is(version.Err(), redis.Nil) {
		r.addDecoded(entries)
		if !r.inRestartWindow() {
			r.forget(x)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the share of %s: %w", x, err)
	}
	epoch, seq, ok := parseVersion(version.Val())
	if !ok {
		return fmt.Errorf("read the share of %s: version %q", x, version.Val())
	}
	people, err := decodeShare(share.Val())
	if err != nil {
		return err
	}
	r.replaceRemoteLogged(x, people, entries)
	st := r.remotes[x]
	if st == nil {
		st = &remote{}
		r.remotes[x] = st
	}
	st.epoch, st.seq, st.missing = epoch, seq, 0
	return nil
}

func parseVersion(v string) (epoch string, seq int64, ok bool) {
	epoch, s, ok := strings.Cut(v, ":")
	if !ok {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	return epoch, seq, err == nil
}

// replaceRemote gives each room what x holds there now, and empties x's
// place in every other room.
func (r *Redis) replaceRemote(x string, people []roomHeld) { r.replaceRemoteLogged(x, people, nil) }

// replaceRemoteLogged is replaceRemote with the entries that came with
// it: each room's go to it in the same Remote call, first, as in
// applyInRooms.
func (r *Redis) replaceRemoteLogged(x string, people []roomHeld, entries []logged) {
	rooms := make(map[string][]hub.Held)
	for _, p := range people {
		rooms[p.room] = append(rooms[p.room], p.held)
	}
	logs := make(map[string][]hub.Entry)
	for _, e := range entries {
		r.top = max(r.top, e.entry.ID)
		logs[e.room] = append(logs[e.room], e.entry)
	}
	apply := func(room string, held []hub.Held) func(*hub.Hub) {
		return func(h *hub.Hub) {
			if log := logs[room]; len(log) > 0 {
				h.AddEntries(log)
			}
			h.ReplaceRemote(x, held, true)
		}
	}
	r.inRoom("", apply("", rooms[""]))
	for room, held := range rooms {
		if room != "" {
			r.inRoom(room, apply(room, held))
		}
	}
	for room, log := range logs {
		if _, ok := rooms[room]; !ok && room != "" {
			r.inRoom(room, func(h *hub.Hub) { h.AddEntries(log) }) // people x no longer holds there
		}
	}
	r.presence.EachRoom(func(room string, h *hub.Hub) {
		if _, ok := rooms[room]; !ok {
			h.ForgetRemote(x) // nothing to do where x held nobody
		}
	})
}

func (r *Redis) forget(x string) {
	delete(r.remotes, x)
	r.replaceRemote(x, nil)
}

// catchUp reads an instance whose deltas this one missed: one that has not
// applied what the previous heartbeat already showed (Phoenix's two
// samples: what only this heartbeat shows may be a delta still on its
// way). It forgets an instance no longer registered twice in a row.
func (r *Redis) catchUp(ctx context.Context, instances map[string]string) {
	for x, v := range instances {
		epoch, seq, ok := parseVersion(v)
		if x == r.instance || !ok {
			continue
		}
		st := r.remotes[x]
		if st == nil {
			st = &remote{}
			r.remotes[x] = st
		}
		missed := st.seenEpoch == epoch && (st.epoch != epoch || st.seq < st.seen)
		st.seenEpoch, st.seen = epoch, seq
		if missed {
			if err := r.readInstance(ctx, x); err != nil {
				r.failed(ctx, err)
				return
			}
		}
	}
	if r.inRestartWindow() {
		return
	}
	for x, st := range r.remotes {
		if _, ok := instances[x]; ok {
			st.missing = 0
		} else if st.missing++; st.missing >= 2 {
			r.forget(x)
		}
	}
}

// reap takes a dead instance's people offline; of several instances doing
// so at once, one does and logs it.
func (r *Redis) reap(ctx context.Context, x string) error {
	callCtx, cancel := r.call(ctx)
	res, err := r.scripts.reap.Run(callCtx, r.client, nil, r.opt.Prefix, x, r.floor(), r.logSize(), r.logWindow()).Slice()
	cancel()
	if err != nil {
		return fmt.Errorf("reap %s: %w", x, err)
	}
	if status, _ := res[0].(string); status == "OK" {
		r.logger.Info("an instance stopped answering; its people went offline", "instance", x)
		entries, _ := res[1].(string)
		err := r.addEntries(entries) // first, so that no frame shows them gone without saying so
		r.forget(x)
		return err
	}
	return nil
}

// apply handles events from the stream, in order. A batch read from an
// older cursor, or read while this instance is cut off (not yet rejoined),
// is dropped: rejoining reads everything anyway, and the hub, logging its
// own view meanwhile, would log the others' people again.
func (r *Redis) apply(ctx context.Context, b batch) {
	r.mu.Lock()
	shared := r.logging == hub.LogShared
	r.mu.Unlock()
	if b.generation != r.generation || !shared {
		return
	}
	for _, m := range b.events {
		r.lastEvent = m.ID
		field := func(k string) string { s, _ := m.Values[k].(string); return s }
		x := field("i")
		entries, err := decodeEntries(field("l"))
		if err != nil {
			r.logger.Error("cluster: bad entries from redis", "err", err)
		}
		// Another instance's delta or join goes to each room with the
		// entries it logged there, in one call (applyInRooms); anything
		// else has its entries added first, so that no frame shows people
		// gone without saying so.
		switch t := field("t"); {
		case t == "d" && x != r.instance:
			r.applyDelta(ctx, x, field("e"), field("s"), field("o"), entries)
		case t == "j" && x != r.instance:
			if err := r.readInstanceLogged(ctx, x, entries); err != nil {
				r.failed(ctx, err)
			}
		case t == "g":
			r.addDecoded(entries)
			if st := r.remotes[x]; x != r.instance && (st == nil || st.epoch == field("e")) {
				r.forget(x)
			}
		default: // this instance's own events, and restored entries ("l")
			r.addDecoded(entries)
		}
	}
}

// applyDelta applies another instance's delta, with the entries it
// logged, when it is the next one expected, skips one already applied
// (but for its entries), and reads that instance's whole share after a gap
// or a new epoch.
func (r *Redis) applyDelta(ctx context.Context, x, epoch, seqText, ops string, entries []logged) {
	seq, err := strconv.ParseInt(seqText, 10, 64)
	st := r.remotes[x]
	if err == nil && st != nil && st.epoch == epoch && seq == st.seq+1 {
		changes, err := decodeOps(ops)
		if err == nil {
			r.applyInRooms(x, entries, changes)
			st.seq = seq
			return
		}
		r.logger.Error("cluster: bad delta from redis", "instance", x, "err", err)
	}
	r.addDecoded(entries)
	if err == nil && st != nil && st.epoch == epoch && seq <= st.seq {
		return
	}
	if err := r.readInstance(ctx, x); err != nil {
		r.failed(ctx, err)
	}
}

// applyInRooms applies a delta's entries and changes room by room, each
// room's in one Remote call, entries first (so that no frame shows people
// gone without saying so): a room the entries create for an arrival is
// kept until its people are in it, not forgotten as empty in between.
func (r *Redis) applyInRooms(x string, entries []logged, changes []roomHeld) {
	type work struct {
		entries []hub.Entry
		held    []hub.Held
	}
	rooms := make(map[string]*work)
	var order []string
	in := func(room string) *work {
		w := rooms[room]
		if w == nil {
			w = &work{}
			rooms[room] = w
			order = append(order, room)
		}
		return w
	}
	for _, e := range entries {
		r.top = max(r.top, e.entry.ID)
		w := in(e.room)
		w.entries = append(w.entries, e.entry)
	}
	for _, c := range changes {
		w := in(c.room)
		w.held = append(w.held, c.held)
	}
	for _, room := range order {
		w := rooms[room]
		r.inRoom(room, func(h *hub.Hub) {
			if len(w.entries) > 0 {
				h.AddEntries(w.entries)
			}
			if len(w.held) > 0 {
				h.ApplyRemote(x, w.held)
			}
		})
	}
}

// leave ends this instance's part in the cluster cleanly, within a second:
// the changes waiting are sent, and the share stays until the others reap
// it, like a grace period: during a rolling restart the people here
// reconnect to another instance before then, and nobody sees them leave.
func (r *Redis) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.tick(ctx)
}

// failed notes that Redis did not answer. After two heartbeats without an
// answer the hub logs its own view again, provisionally, until this
// instance rejoins. The outage is logged once, not once per attempt; an
// error once ctx has ended comes from stopping and says nothing of Redis.
func (r *Redis) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, redis.ErrClosed) {
		r.broken = err
		return
	}
	if r.outage == nil {
		r.logger.Error("redis unavailable; serving and logging local presence until it returns", "err", err)
	}
	r.outage = err
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.joined || time.Since(r.lastBeat) > 2*r.opt.Heartbeat {
		r.logging = hub.LogProvisional
	}
}

func (r *Redis) recovered() {
	if r.outage != nil {
		r.logger.Info("redis available again; presence and log shared and resynced")
		r.outage = nil
	}
}
