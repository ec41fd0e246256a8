package main

import (
	"context"
	"log/slog"

	"herenow/cluster"
	"herenow/handlers"
	"herenow/hub"
	"herenow/users"
)

// logSize is how many entries each activity log shows and keeps.
const logSize = 50

// openPresence builds what holds presence: the site of rooms and its
// lobby, each hub linked to the cluster (on its own, link is Local). On
// its own (no --redis) an instance keeps its activity logs in the user
// store across restarts; a cluster shares them through Redis. stop ends
// the keeping once the site is shut down, waiting for its writes.
func openPresence(ctx context.Context, cfg config, logger *slog.Logger, link cluster.Link, metrics *handlers.Metrics, store *users.Store) (site *hub.Site, stop func(), err error) {
	room := hub.Config{Render: handlers.Renderer{Metrics: metrics}, Logger: logger, Tick: cfg.tick,
		Grace: cfg.grace, ListLimit: cfg.listLimit, LogSize: logSize, LogWindow: cfg.logWindow, QueueSize: 16}
	lobby := room
	lobby.Peers = link
	siteCfg := hub.SiteConfig{
		Room:        room,
		RoomRender:  func(name string) hub.Renderer { return handlers.Renderer{Metrics: metrics, Room: name} },
		RoomPeers:   link.Room,
		Lobby:       lobby,
		MaxRooms:    cfg.maxRooms,
		Rooms:       cfg.rooms,
		PanelLimit:  20,
		RenderPanel: handlers.RenderPanel,
	}
	stop = func() {}
	if cfg.redisURL == "" {
		keeper := newLogKeeper(store, logSize, logger)
		if siteCfg.History, err = keeper.history(ctx); err != nil {
			return nil, nil, err
		}
		siteCfg.Logged, siteCfg.Forgotten = keeper.Logged, keeper.Forgotten
		go keeper.run()
		stop = keeper.stop
	}
	site, err = hub.NewSite(siteCfg)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return site, stop, nil
}
