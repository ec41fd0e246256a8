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
	// instance's people go offline.
	TTL time.Duration
}

// Redis is one instance's link to the cluster.
type Redis struct {
	client   *redis.Client
	hub      *hub.Hub // set by Run
	instance string
	logger   *slog.Logger
	opt      Options
	changed  chan struct{} // the local share changed; buffered, one pending signal is enough

	mu        sync.Mutex
	known     map[string]bool // other instances whose share is in the hub
	baselined bool            // the others' shares have been read once
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
// to the hub's Config, then Run with the hub.
func New(client *redis.Client, instance string, logger *slog.Logger, opt Options) *Redis {
	return &Redis{
		client: client, instance: instance, logger: logger, opt: opt,
		changed: make(chan struct{}, 1),
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

// Run keeps the link until ctx ends: it publishes this instance's share on
// every change and heartbeat, and applies the others' as they announce
// changes, re-reading them all on every heartbeat. While Redis is away the
// hub keeps serving local presence; when it returns, the share is
// republished and the views resynced. On the way out the share is removed.
func (r *Redis) Run(ctx context.Context, h *hub.Hub) error {
	r.hub = h
	sub := r.client.Subscribe(ctx, r.channel())
	defer sub.Close()
	messages := sub.Channel()
	beat := time.NewTicker(r.opt.Heartbeat)
	defer beat.Stop()
	r.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			cleanup, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := r.client.TxPipelined(cleanup, func(p redis.Pipeliner) error {
				p.Del(cleanup, r.shareKey(r.instance))
				p.SRem(cleanup, r.instancesKey(), r.instance)
				return nil
			})
			if err == nil {
				r.client.Publish(cleanup, r.channel(), r.instance)
			}
			return nil
		case <-r.changed:
			r.report(r.publish(ctx))
		case <-beat.C:
			r.sync(ctx)
		case m, ok := <-messages:
			if !ok {
				return errors.New("redis subscription closed")
			}
			if m.Payload != r.instance {
				_, err := r.readShare(ctx, m.Payload)
				r.report(err)
			}
		}
	}
}

// sync publishes this instance's share and re-reads everyone else's.
func (r *Redis) sync(ctx context.Context) {
	err := r.publish(ctx)
	if err == nil {
		err = r.readAll(ctx)
	}
	r.report(err)
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
// not once per event.
func (r *Redis) report(err error) {
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
