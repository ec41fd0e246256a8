// Package cluster shares presence between herenow instances through Redis.
// Each instance owns its own connections: it publishes the people it holds
// (its share) under a key that expires unless refreshed, and reads the
// shares of the others into its hub. An instance that dies without cleaning
// up stops refreshing its key, and its people go offline everywhere when the
// key expires.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/hub"
)

// Options tune the backend.
type Options struct {
	// Prefix namespaces every key and channel, so that several clusters
	// (or tests) can share one Redis.
	Prefix string
	// Heartbeat is how often the share is refreshed and the others' re-read.
	Heartbeat time.Duration
	// TTL is how long a share outlives its last refresh: how soon a dead
	// instance's people go offline. The log writer's lease lasts as long.
	TTL time.Duration
	// LogSize is how many activity entries the shared log keeps.
	LogSize int
}

// Redis is one instance's link to the cluster.
type Redis struct {
	client   *redis.Client
	hub      *hub.Hub // set by Run
	instance string
	logger   *slog.Logger
	opt      Options
	changed  chan struct{}  // the local share changed; buffered, one pending signal is enough
	entries  chan hub.Entry // entries this instance wrote, to share

	mu        sync.Mutex
	known     map[string]bool // other instances whose share is in the hub
	baselined bool            // the others' shares have been read once
	writer    bool            // this instance writes the shared log
	healthy   error           // nil while Redis answers; the last error otherwise
	started   bool            // Run has talked to Redis at least once
}

// QuietRedisLogs keeps go-redis from logging each failed dial and retry:
// while Redis is away that would be a line per attempt, and Run already
// logs the outage once, and the recovery. go-redis has one logger per
// process, so the program calls this once at start.
func QuietRedisLogs() { redis.SetLogger(discard{}) }

type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

// New prepares the link of this instance to the cluster. Give LocalChanged
// and Logged to the hub's Config, then Run with the hub.
func New(client *redis.Client, instance string, logger *slog.Logger, opt Options) *Redis {
	if opt.LogSize <= 0 {
		opt.LogSize = 50
	}
	return &Redis{
		client: client, instance: instance, logger: logger, opt: opt,
		changed: make(chan struct{}, 1),
		entries: make(chan hub.Entry, 256),
		known:   make(map[string]bool),
		healthy: errors.New("not connected yet"),
	}
}

// LocalChanged notes that this instance's share changed. It never blocks,
// so the hub may call it with its lock held.
func (r *Redis) LocalChanged() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Logged takes an entry this instance's hub wrote, to share it. It never
// blocks, so the hub may call it with its lock held; should Redis be so far
// behind that 256 entries wait, the newest are not shared.
func (r *Redis) Logged(e hub.Entry) {
	select {
	case r.entries <- e:
	default:
	}
}

// Ready reports whether Redis answered the last time it was asked.
func (r *Redis) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.healthy != nil {
		return fmt.Errorf("redis: %w", r.healthy)
	}
	return nil
}

func (r *Redis) shareKey(instance string) string { return r.opt.Prefix + "share:" + instance }
func (r *Redis) instancesKey() string            { return r.opt.Prefix + "instances" }
func (r *Redis) channel() string                 { return r.opt.Prefix + "changed" }
func (r *Redis) logKey() string                  { return r.opt.Prefix + "log" }
func (r *Redis) logChannel() string              { return r.opt.Prefix + "logged" }
func (r *Redis) writerKey() string               { return r.opt.Prefix + "log-writer" }

// sharedEntry is an entry on its way to the other instances.
type sharedEntry struct {
	Instance string
	Entry    hub.Entry
}

// Run keeps the link until ctx ends: it publishes this instance's share on
// every change and heartbeat, and applies the others' as they announce
// changes, re-reading them all on every heartbeat. While Redis is away the
// hub keeps serving local presence; when it returns, the share is
// republished and the views resynced. It returns nil when ctx ends, and an
// error only when the link is broken for good (the subscription closed, as
// when the client is closed under it).
func (r *Redis) Run(ctx context.Context, h *hub.Hub) error {
	r.hub = h
	// One instance at a time writes the activity log (whoever holds the
	// writer's lease); the others show what it writes. Until the lease is
	// settled, this one follows, starting from the shared log.
	h.SetLogging(false)
	sub := r.client.Subscribe(ctx, r.channel(), r.logChannel())
	defer sub.Close()
	// Read the shared log only once the subscription is in place: an entry
	// shared in between then also arrives over the channel (AddEntries
	// drops the copy the list already gave) instead of being lost.
	err := awaitSubscribed(ctx, sub, 2, r.opt.TTL)
	if err == nil {
		err = r.loadLog(ctx)
	}
	if err != nil {
		r.report(ctx, err)
	}
	messages := sub.Channel()
	var unshared []hub.Entry
	beat := time.NewTicker(r.opt.Heartbeat)
	defer beat.Stop()
	// Ready only from here on: this instance has read the others' shares.
	r.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			r.leave(unshared)
			return nil
		case <-r.changed:
			r.report(ctx, r.publish(ctx))
		case e := <-r.entries:
			if err := r.shareEntry(ctx, e); err != nil && ctx.Err() != nil {
				unshared = append(unshared, e) // stopping: leave shares it
			} else {
				r.report(ctx, err)
			}
		case <-beat.C:
			r.sync(ctx)
		case m, ok := <-messages:
			if !ok {
				return errors.New("redis subscription closed")
			}
			if m.Channel == r.logChannel() {
				var se sharedEntry
				if err := json.Unmarshal([]byte(m.Payload), &se); err == nil && se.Instance != r.instance {
					h.AddEntries([]hub.Entry{se.Entry})
				}
				continue
			}
			if m.Payload != r.instance {
				_, err := r.readShare(ctx, m.Payload)
				r.report(ctx, err)
			}
		}
	}
}

// leave ends this instance's part in the cluster cleanly, within a second.
// What it logged and has not shared yet is shared first: the entries were
// shown here. Then the log writer's lease is released so another instance
// takes over at once, numbering after those entries. The share stays until it expires, like a
// grace period: during a rolling restart the people here reconnect to
// another instance before it runs out, and nobody sees them leave.
func (r *Redis) leave(unshared []hub.Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// Only what is queued now: the hub may still be logging.
	for range len(r.entries) {
		unshared = append(unshared, <-r.entries)
	}
	var err error
	for _, e := range unshared {
		if err != nil {
			break
		}
		err = r.shareEntry(ctx, e)
	}
	if err != nil {
		r.logger.Warn("stopped without sharing every entry", "err", err)
	}
	if r.isWriter() && r.client.Get(ctx, r.writerKey()).Val() == r.instance {
		r.client.Del(ctx, r.writerKey())
	}
}

// awaitSubscribed waits until Redis confirms the subscription to all
// channels. Redis answers one SUBSCRIBE with all its confirmations before
// any message, so none is dropped here.
func awaitSubscribed(ctx context.Context, sub *redis.PubSub, channels int, timeout time.Duration) error {
	for {
		msg, err := sub.ReceiveTimeout(ctx, timeout)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Count >= channels {
			return nil
		}
	}
}

// sync renews or takes the log writer's lease, publishes this instance's
// share and re-reads everyone else's.
func (r *Redis) sync(ctx context.Context) {
	err := r.elect(ctx)
	if err == nil {
		err = r.publish(ctx)
	}
	if err == nil {
		err = r.readAll(ctx)
	}
	r.report(ctx, err)
}

// publish writes this instance's share with a fresh expiry and tells the
// others.
func (r *Redis) publish(ctx context.Context) error {
	share, err := json.Marshal(r.hub.Local())
	if err != nil {
		return fmt.Errorf("encode share: %w", err)
	}
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.shareKey(r.instance), share, r.opt.TTL)
		p.SAdd(ctx, r.instancesKey(), r.instance)
		p.Publish(ctx, r.channel(), r.instance)
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish share: %w", err)
	}
	return nil
}

// readShare applies one other instance's share and reports whether there
// was one; a missing key means the instance is gone.
func (r *Redis) readShare(ctx context.Context, instance string) (bool, error) {
	b, err := r.client.Get(ctx, r.shareKey(instance)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r.apply(instance, nil)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read share of %s: %w", instance, err)
	}
	var people []hub.Held
	if err := json.Unmarshal(b, &people); err != nil {
		return false, fmt.Errorf("decode share of %s: %w", instance, err)
	}
	r.apply(instance, people)
	return true, nil
}

// readAll re-reads every other instance's share, and forgets those whose
// share expired (removing them from the set of instances too).
func (r *Redis) readAll(ctx context.Context) error {
	instances, err := r.client.SMembers(ctx, r.instancesKey()).Result()
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	present := make(map[string]bool, len(instances))
	for _, instance := range instances {
		if instance == r.instance {
			continue
		}
		ok, err := r.readShare(ctx, instance)
		if err != nil {
			return err
		}
		if !ok {
			r.client.SRem(ctx, r.instancesKey(), instance) // it died: its share expired
		}
		present[instance] = ok
	}
	r.mu.Lock()
	var gone []string
	for instance := range r.known {
		if !present[instance] {
			gone = append(gone, instance)
		}
	}
	r.baselined = true
	r.mu.Unlock()
	for _, instance := range gone {
		r.apply(instance, nil)
	}
	return nil
}

func (r *Redis) apply(instance string, people []hub.Held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.baselined {
		r.hub.SetRemote(instance, people)
	} else {
		r.hub.Baseline(instance, people) // they were online before we joined
	}
	if len(people) == 0 {
		delete(r.known, instance)
	} else {
		r.known[instance] = true
	}
}

// report records whether Redis answered, logging only when that changes,
// not once per event. An error once ctx has ended comes from stopping and
// says nothing about Redis.
func (r *Redis) report(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && (r.healthy == nil || !r.started):
		r.logger.Error("redis unavailable; serving local presence until it returns", "err", err)
	case err == nil && r.healthy != nil && r.started:
		r.logger.Info("redis available again; presence republished and resynced")
	}
	r.healthy, r.started = err, true
}

// elect takes the log writer's lease if nobody holds it, or renews it if
// this instance does, and tells the hub whether to write the log.
func (r *Redis) elect(ctx context.Context) error {
	won, err := r.client.SetNX(ctx, r.writerKey(), r.instance, r.opt.TTL).Result()
	if err != nil {
		return fmt.Errorf("log writer lease: %w", err)
	}
	if !won {
		holder, err := r.client.Get(ctx, r.writerKey()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("log writer lease: %w", err)
		}
		if won = holder == r.instance; won {
			r.client.Expire(ctx, r.writerKey(), r.opt.TTL)
		}
	}
	r.mu.Lock()
	changed := r.writer != won
	r.writer = won
	r.mu.Unlock()
	if changed {
		r.hub.SetLogging(won)
		if won {
			r.logger.Info("this instance now writes the shared activity log")
		}
	}
	return nil
}

func (r *Redis) isWriter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writer
}

// shareEntry adds an entry this instance wrote to the shared log and
// announces it.
func (r *Redis) shareEntry(ctx context.Context, e hub.Entry) error {
	entry, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode entry: %w", err)
	}
	announce, err := json.Marshal(sharedEntry{Instance: r.instance, Entry: e})
	if err != nil {
		return fmt.Errorf("encode entry: %w", err)
	}
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, r.logKey(), entry)
		p.LTrim(ctx, r.logKey(), 0, int64(r.opt.LogSize)-1)
		p.Publish(ctx, r.logChannel(), announce)
		return nil
	})
	if err != nil {
		return fmt.Errorf("share entry: %w", err)
	}
	return nil
}

// loadLog starts the hub's log from the shared one.
func (r *Redis) loadLog(ctx context.Context) error {
	raw, err := r.client.LRange(ctx, r.logKey(), 0, int64(r.opt.LogSize)-1).Result()
	if err != nil {
		return fmt.Errorf("read the shared log: %w", err)
	}
	entries := make([]hub.Entry, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- { // the list is newest first
		var e hub.Entry
		if err := json.Unmarshal([]byte(raw[i]), &e); err != nil {
			return fmt.Errorf("decode the shared log: %w", err)
		}
		entries = append(entries, e)
	}
	r.hub.AddEntries(entries)
	return nil
}
