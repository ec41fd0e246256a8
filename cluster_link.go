package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/cluster"
)

// The cluster's timing: how often an instance says it is alive, and how
// long after its last word its people go offline elsewhere.
const (
	clusterHeartbeat = 2 * time.Second
	clusterTTL       = 10 * time.Second
)

// joinCluster returns this instance's link to the cluster name through
// the Redis at url, or, without a url, the link of an instance on its own.
// The returned func closes what the link holds.
func joinCluster(url, name string, logger *slog.Logger) (cluster.Link, func(), error) {
	if url == "" {
		return cluster.Local(), func() {}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("--redis: %w", err)
	}
	// Every call is bounded by its context (the heartbeat), so a silent
	// partition is noticed in time rather than after the socket's timeout.
	opts.ContextTimeoutEnabled = true
	host, _ := os.Hostname()
	instance := host + "-" + rand.Text()[:8]
	cluster.QuietRedisLogs()
	client := redis.NewClient(opts)
	logger.Info("sharing presence through redis", "addr", opts.Addr, "instance", instance)
	link := cluster.NewRedis(client, instance, logger, cluster.Options{Prefix: name + ":", Heartbeat: clusterHeartbeat, TTL: clusterTTL})
	return link, func() { client.Close() }, nil
}

// serveLinked runs serve and, beside it, the link, and returns when both
// have stopped. The link outlives serve's draining, so that what changes
// while draining is still shared, and stops when serve returns: at once
// when serve failed (a port already taken). Should the link fail on its
// own, serving stops too and its error is returned: an instance that no
// longer hears the others must not go on as if it did.
func serveLinked(ctx context.Context, link cluster.Link, presence cluster.Presence, serve func(context.Context) error) error {
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	linkCtx, stopLink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLink()
	linkErr := make(chan error, 1)
	go func() {
		err := link.Run(linkCtx, presence)
		if err != nil {
			err = fmt.Errorf("cluster link: %w", err)
			stopServing()
		}
		linkErr <- err
	}()
	err := serve(serveCtx)
	stopLink()
	return errors.Join(err, <-linkErr)
}
