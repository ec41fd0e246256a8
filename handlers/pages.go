package handlers

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"

	"herenow/components"
	"herenow/hub"
)

// serveIndex renders the presence page with what everyone currently sees;
// its live connection then keeps it current.
func serveIndex(h *hub.Hub, site *hub.Site, s *sessions, assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		s.ensureGuest(w, r, v)
		page := components.IndexPage{Assets: assets, Me: v.me(), Live: liveView(h.Snapshot())}
		if site != nil {
			panel := panelView(site.Panel())
			page.Rooms = &panel
		}
		render(w, r, http.StatusOK, components.Index(page))
	})
}

// serveSSEBox renders the live region switched to server-sent events; the
// page fetches it when its WebSocket fails.
func serveSSEBox(h *hub.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, http.StatusOK, components.LiveOverSSE(liveView(h.Snapshot())))
	})
}

// render writes a component as an HTML response with status. It renders
// into a buffer first so that a failure can still become a clean 500.
func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
