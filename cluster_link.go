package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"herenow/cluster"
	"herenow/handlers"
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

// revocations shares logouts with the other instances; nil without any.
func (l *clusterLink) revocations() handlers.Revocations {
	if l.backend == nil {
		return nil
	}
	return l.backend
}

func (l *clusterLink) ready(ctx context.Context) error {
	if l.backend == nil {
		return nil
	}
	return l.backend.Ready(ctx)
}

// run keeps the link until ctx ends; the func it returns waits for that.
func (l *clusterLink) run(ctx context.Context, h *hub.Hub) (wait func()) {
	if l.backend == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.backend.Run(ctx, h)
	}()
	return func() { <-done }
}

func (l *clusterLink) close() {
	if l.client != nil {
		l.client.Close()
	}
}
