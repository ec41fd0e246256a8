package cluster

import (
	"context"

	"herenow/hub"
)

// Link is this instance's part in a cluster: the hub reports its own
// people's changes to it (hub.Peers), and Run applies what the other
// instances change to the hub. Local is the link of an instance on its own.
type Link interface {
	hub.Peers
	// Ready reports whether this instance's view of the cluster can be
	// trusted now.
	Ready(ctx context.Context) error
	// Run keeps the link until ctx ends, applying what the others change
	// to h. It returns nil when ctx ends, and an error only when the link
	// is broken for good.
	Run(ctx context.Context, h *hub.Hub) error
}

// Local returns the link of an instance on its own: nothing is shared,
// every entry is logged and numbered here, and Run just waits.
func Local() Link { return local{} }

type local struct{ hub.Alone }

func (local) Ready(context.Context) error { return nil }

func (local) Run(ctx context.Context, _ *hub.Hub) error {
	<-ctx.Done()
	return nil
}
