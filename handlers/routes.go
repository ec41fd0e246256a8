// Package handlers is herenow's HTTP surface: pages, login, and the two
// live transports. It is the only package that knows requests, cookies,
// tokens, WebSocket and SSE.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/jwtauth/v5"

	"herenow/components"
	"herenow/hub"
	"herenow/static"
)

// Options are the server's settings that are not dependencies.
type Options struct {
	Secret   []byte        // signs session tokens and guest cookies
	TokenTTL time.Duration // how long a login lasts
	Login    LoginLimits
	Live     LiveOptions
	Metrics  *Metrics // NewMetrics() when nil
	// Ready, optional, adds a readiness check, such as the cluster's link.
	Ready func(context.Context) error
	// Proxy says how people reach the server: directly when zero.
	Proxy Proxy

	// Site, optional, gives the server rooms: /r/{room}, their live
	// connections, and the lobby's Rooms panel. The hub NewServer is given
	// is then the Site's lobby.
	Site *hub.Site

	// UserChanges, optional, tells of users deleted or whose password
	// changed, and of sessions ended at logout, anywhere, so that their
	// live connections end here.
	UserChanges UserChanges
}

// UserChanges tells of the changes made to the user store by any process
// sharing it (the user command, another instance, this one).
type UserChanges interface {
	// OnUserChanged sets the func called with the id of each user deleted
	// or whose password changed.
	OnUserChanged(changed func(ctx context.Context, userID int64))
	// OnRevoked sets the func that ends here a session ended at logout,
	// on any instance: its token is refused until until, and its live
	// connections close.
	OnRevoked(end func(jti string, until time.Time))
}

// NewServer returns herenow's whole URL surface. It reads from store the
// sessions ended at logout whose tokens are still to be refused: to miss
// none, read the changes to come (UserChanges) from before it is called.
func NewServer(ctx context.Context, logger *slog.Logger, store UserStore, h *hub.Hub, assets *static.Assets, opt Options) (http.Handler, error) {
	s := newSessions(opt.Secret, opt.TokenTTL, store, logger)
	if err := s.loadRevoked(ctx); err != nil {
		return nil, err
	}
	if opt.UserChanges != nil {
		opt.UserChanges.OnUserChanged(s.userChanged)
		opt.UserChanges.OnRevoked(s.revoke)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	if assets.StaleAfter != opt.Live.StaleAfter() {
		return nil, fmt.Errorf("the stylesheet shows a dead connection after %v, the heartbeat wants %v: load the assets with Live.StaleAfter()",
			assets.StaleAfter, opt.Live.StaleAfter())
	}
	beat, err := newHeartbeat(time.Now)
	if err != nil {
		return nil, err
	}
	signedOut, err := renderGreeting(nil)
	if err != nil {
		return nil, err
	}
	counted, err := renderFrame(components.YouCounted())
	if err != nil {
		return nil, err
	}
	l := &live{logger: logger, hub: h, site: opt.Site, sessions: s, metrics: opt.Metrics, opt: opt.Live,
		ws: opt.Metrics.transport(transportWS), sse: opt.Metrics.transport(transportSSE),
		wsAccept: &websocket.AcceptOptions{OriginPatterns: opt.Proxy.websocketOriginPatterns()},
		slots:    newLiveSlots(opt.Live.MaxLive, opt.Live.MaxPerAddr), beat: beat, signedOut: signedOut, counted: counted}
	urls := components.Assets{HTMX: assets.HTMX, WS: assets.WS, SSE: assets.SSE, Bulma: assets.Bulma, Style: assets.Style,
		Favicon: assets.Favicon}

	crossOrigin := http.NewCrossOriginProtection()
	if o := opt.Proxy.publicOrigin(); o != "" {
		if err := crossOrigin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("trust the public origin: %w", err)
		}
	}
	r := chi.NewRouter()
	// The request id, the client's address and the scheme come first:
	// they are what the logs, the rate limits and the cookies go by.
	r.Use(opt.Proxy.middlewares()...)
	r.Use(middleware.Recoverer, securityHeaders, crossOrigin.Handler)
	// Every GET route answers HEAD as GET would, without the body (net/http
	// drops it). A live stream answers with its headers and does not start:
	// see serveLiveSSE; a WebSocket needs a GET, so its HEAD is refused as
	// a GET without an Upgrade header is.
	r.Use(middleware.GetHead)
	// Only the cookie carries a session: a token in a header or the query
	// string is ignored.
	identify := chi.Chain(jwtauth.Verify(s.jwt, tokenFromCookie), s.identify)
	// A method a route does not take gets a page of the site that says
	// which it does.
	r.MethodNotAllowed(append(chi.Chain(accessLog(logger)), identify...).Handler(serveMethodNotAllowed(urls)).ServeHTTP)

	// Live connections log their own opening and closing, which says more
	// than an access-log line would. Both refuse another site's pages.
	r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/live/ws", serveLiveWS(l, l.lobby))
	r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/live/events", serveLiveSSE(l, l.lobby))
	if opt.Site != nil {
		r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/r/{room}/live/ws", serveLiveWS(l, l.room))
		r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/r/{room}/live/events", serveLiveSSE(l, l.room))
	}

	r.Group(func(r chi.Router) {
		r.Use(accessLog(logger))
		// Assets are only ever read: anything but GET and HEAD is a 405.
		r.Method(http.MethodGet, static.Prefix+"*", assets)
		r.MethodFunc(http.MethodGet, "/favicon.ico", assets.ServeFavicon)
		r.Method(http.MethodGet, "/healthz", serveHealthz())
		r.Method(http.MethodGet, "/readyz", serveReadyz(logger, store, h, opt.Ready))
		r.Group(func(r chi.Router) {
			r.Use(identify...)
			r.Method(http.MethodGet, "/", serveIndex(h, opt.Site, s, urls))
			r.Method(http.MethodGet, "/me.css", serveMeCSS())
			r.Method(http.MethodGet, "/login", serveLoginForm(urls))
			r.Method(http.MethodPost, "/login", serveLogin(logger, store, s, newLoginLimiter(opt.Login), opt.Metrics, urls))
			r.Method(http.MethodPost, "/logout", serveLogout(s))
			r.Method(http.MethodGet, "/live/sse-box", serveSSEBox(h))
			if opt.Site != nil {
				r.Method(http.MethodGet, "/r", serveGoToRoom(s, urls))
				r.Method(http.MethodGet, "/r/{room}", serveRoomPage(opt.Site, s, urls))
				r.Method(http.MethodGet, "/r/{room}/live/sse-box", serveRoomSSEBox(opt.Site))
			}
		})
	})
	return r, nil
}

// contentSecurityPolicy allows scripts, styles, images and connections
// from this origin only: htmx needs no inline script, and with its
// indicator styles off, no inline style either.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
