package handlers

import (
	"bytes"
	"net/http"
	"slices"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

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

// serveMethodNotAllowed answers a method the address does not take with a
// page that says which methods it takes, as Allow lists them.
func serveMethodNotAllowed(assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := allowedMethods(r)
		for _, m := range allowed {
			w.Header().Add("Allow", m)
		}
		render(w, r, http.StatusMethodNotAllowed, components.MethodNotAllowed(components.MethodNotAllowedPage{
			Assets: assets, Me: visitorFrom(r.Context()).me(), Method: r.Method, Allowed: allowed}))
	})
}

// allowedMethods lists the methods that r's path has a route for, and HEAD
// wherever GET is (middleware.GetHead answers it). chi gives the list to
// its own 405 handler only.
func allowedMethods(r *http.Request) []string {
	rctx := chi.RouteContext(r.Context())
	path := rctx.RoutePath
	if path == "" {
		path = r.URL.EscapedPath()
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace} {
		if rctx.Routes.Match(chi.NewRouteContext(), m, path) || (m == http.MethodHead && slices.Contains(allowed, http.MethodGet)) {
			allowed = append(allowed, m)
		}
	}
	return allowed
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
