package cluster

import (
	"context"

	"herenow/hub"
)

// Link is this instance's part in a cluster: the lobby's hub reports its
// own people's changes to it (hub.Peers), each room's hub to the Peers
// Room returns, and Run applies what the other instances change to the
// lobby and the rooms. Local is the link of an instance on its own.
type Link interface {
	hub.Peers
	// Room returns the Peers of room's hub (hub.SiteConfig.RoomPeers).
	Room(name string) hub.Peers
	// Ready reports whether this instance's view of the cluster can be
	// trusted now.
	Ready(ctx context.Context) error
	// Run keeps the link until ctx ends, applying what the others change
	// to p. It returns nil when ctx ends, and an error only when the link
	// is broken for good.
	Run(ctx context.Context, p Presence) error
}

// Presence is what a link keeps in step with the cluster: the lobby, and
// the rooms. hub.Site is one.
type Presence interface {
	Lobby() *hub.Hub
	// Remote runs apply on a room's hub, creating the room if need be.
	Remote(room string, apply func(*hub.Hub)) error
	// EachRoom runs f on every room's hub.
	EachRoom(f func(room string, h *hub.Hub))
}

// Local returns the link of an instance on its own: nothing is shared,
// every entry is logged and numbered here, and Run just waits.
func Local() Link { return local{} }

type local struct{ hub.Alone }

func (local) Room(string) hub.Peers { return hub.Alone{} }

func (local) Ready(context.Context) error { return nil }

func (local) Run(ctx context.Context, _ Presence) error {
	<-ctx.Done()
	return nil
}
