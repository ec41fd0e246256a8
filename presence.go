package main

import (
	"log/slog"

	"herenow/cluster"
	"herenow/handlers"
	"herenow/hub"
)

// openPresence builds what holds presence: the site of rooms and its
// lobby, each hub linked to the cluster (on its own, link is Local).
func openPresence(cfg config, logger *slog.Logger, link cluster.Link, metrics *handlers.Metrics) (*hub.Site, error) {
	room := hub.Config{Render: handlers.Renderer{Metrics: metrics}, Logger: logger, Tick: cfg.tick,
		Grace: cfg.grace, ListLimit: cfg.listLimit, LogSize: 50, LogWindow: cfg.logWindow, QueueSize: 16}
	lobby := room
	lobby.Peers = link
	return hub.NewSite(hub.SiteConfig{
		Room:        room,
		RoomRender:  func(name string) hub.Renderer { return handlers.Renderer{Metrics: metrics, Room: name} },
		RoomPeers:   link.Room,
		Lobby:       lobby,
		MaxRooms:    cfg.maxRooms,
		Rooms:       cfg.rooms,
		PanelLimit:  20,
		RenderPanel: handlers.RenderPanel,
	})
}
