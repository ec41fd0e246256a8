package main

import (
	"log/slog"

	"herenow/cluster"
	"herenow/handlers"
	"herenow/hub"
)

// openPresence builds what holds presence: the lobby's hub, linked to the
// cluster, and on a single instance the site of rooms around it. Rooms are
// not shared between instances yet, so with --redis there are none: the
// site is the lobby alone (the README says so).
func openPresence(cfg config, logger *slog.Logger, link cluster.Link, metrics *handlers.Metrics) (*hub.Site, *hub.Hub, error) {
	room := hub.Config{Render: handlers.Renderer{Metrics: metrics}, Logger: logger, Tick: cfg.tick,
		Grace: cfg.grace, ListLimit: cfg.listLimit, LogSize: 50, QueueSize: 16}
	lobby := room
	lobby.Peers = link
	if cfg.redisURL != "" {
		if cfg.rooms != nil || cfg.maxRooms != defaultMaxRooms {
			logger.Warn("--rooms and --max-rooms have no effect with --redis: rooms are not shared between instances yet")
		}
		h, err := hub.New(lobby)
		return nil, h, err
	}
	site, err := hub.NewSite(hub.SiteConfig{
		Room:        room,
		RoomRender:  func(name string) hub.Renderer { return handlers.Renderer{Metrics: metrics, Room: name} },
		Lobby:       lobby,
		MaxRooms:    cfg.maxRooms,
		Rooms:       cfg.rooms,
		PanelLimit:  20,
		RenderPanel: handlers.RenderPanel,
	})
	if err != nil {
		return nil, nil, err
	}
	return site, site.Lobby(), nil
}
