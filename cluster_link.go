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
	"herenow/hub"
)

// clusterLink is this instance's link to the others, or nothing at all
// when presence stays in memory: every method is then a no-op.
type clusterLink struct {
	client  *redis.Client
	backend *cluster.Redis
}

// joinCluster links to the cluster name through the Redis at url, if any.
func joinCluster(url, name string, logger *slog.Logger) (*clusterLink, error) {
	if url == "" {
		return &clusterLink{}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	host, _ := os.Hostname()
	instance := host + "-" + rand.Text()[:8]
	cluster.QuietRedisLogs()
	client := redis.NewClient(opts)
	logger.Info("sharing presence through redis", "addr", opts.Addr, "instance", instance)
	backend := cluster.New(client, instance, logger, cluster.Options{Prefix: name + ":", Heartbeat: 2 * time.Second, TTL: 10 * time.Second})
	return &clusterLink{client: client, backend: backend}, nil
}

func (l *clusterLink) localChanged() {
	if l.backend != nil {
		l.backend.LocalChanged()
	}
}

func (l *clusterLink) logged(e hub.Entry) {
	if l.backend != nil {
		l.backend.Logged(e)
	}
}

func (l *clusterLink) ready(ctx context.Context) error {
	if l.backend == nil {
		return nil
	}
	return l.backend.Ready(ctx)
}

// serveLinked runs serve and, beside it, the link, and returns when both
// have stopped. The link outlives serve's draining, so that what is logged
// while draining is still shared, and stops when serve returns:
// at once when serve failed (a port already taken). Should the link fail
// on its own, serving stops too and its error is returned: an instance
// that no longer hears the others must not go on as if it did.
func (l *clusterLink) serveLinked(ctx context.Context, h *hub.Hub, serve func(context.Context) error) error {
	if l.backend == nil {
		return serve(ctx)
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	linkCtx, stopLink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLink()
	linkErr := make(chan error, 1)
	go func() {
		err := l.backend.Run(linkCtx, h)
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

func (l *clusterLink) close() {
	if l.client != nil {
		l.client.Close()
	}
}
