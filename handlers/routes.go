// Package handlers is herenow's HTTP surface: pages, login, and the two
// live transports. It is the only package that knows requests, cookies,
// tokens, WebSocket and SSE.
package handlers

import (
	"context"
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
	// Revocations, optional, shares logouts with the other instances.
	Revocations Revocations
	// Proxy says how people reach the server: directly when zero.
	Proxy Proxy

	// UserChanges, optional, tells of users deleted or whose password
	// changed, so that their live connections end.
	UserChanges UserChanges
}

// UserChanges tells of users deleted, or whose password changed, by any
// process sharing the user database (the user command, another instance).
type UserChanges interface {
	// OnUserChanged sets the func called with the id of each changed user.
	OnUserChanged(changed func(ctx context.Context, userID int64))
}

// Revocations carries logouts between instances, so that a session ended
// on one ends on all: its token is refused everywhere and its live
// connections close wherever they are.
type Revocations interface {
	// Revoked shares a token revoked here, to be refused until until. It
	// must not block.
	Revoked(jti string, until time.Time)
	// OnRevoked sets the func that ends here a session another instance
	// revoked.
	OnRevoked(end func(jti string, until time.Time))
}

// NewServer returns herenow's whole URL surface.
func NewServer(logger *slog.Logger, store UserStore, h *hub.Hub, assets *static.Assets, opt Options) http.Handler {
	s := newSessions(opt.Secret, opt.TokenTTL, store, logger)
	if opt.Revocations != nil {
		s.share = opt.Revocations.Revoked
		opt.Revocations.OnRevoked(s.revoke)
	}
	if opt.UserChanges != nil {
		opt.UserChanges.OnUserChanged(s.userChanged)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	l := &live{logger: logger, hub: h, sessions: s, metrics: opt.Metrics, opt: opt.Live,
		ws: opt.Metrics.transport(transportWS), sse: opt.Metrics.transport(transportSSE),
		wsAccept: &websocket.AcceptOptions{OriginPatterns: opt.Proxy.websocketOriginPatterns()},
		slots:    newLiveSlots(opt.Live.MaxLive, opt.Live.MaxPerAddr)}
	urls := components.Assets{HTMX: assets.HTMX, WS: assets.WS, SSE: assets.SSE, Bulma: assets.Bulma}

	crossOrigin := http.NewCrossOriginProtection()
	if o := opt.Proxy.publicOrigin(); o != "" {
		if err := crossOrigin.AddTrustedOrigin(o); err != nil {
			panic(err) // the configuration checked the public URL
		}
	}
	r := chi.NewRouter()
	// The request id, the client's address and the scheme come first:
	// they are what the logs, the rate limits and the cookies go by.
	r.Use(opt.Proxy.middlewares()...)
	r.Use(middleware.Recoverer, securityHeaders, crossOrigin.Handler)
	// Only the cookie carries a session: a token in a header or the query
	// string is ignored.
	identify := chi.Chain(jwtauth.Verify(s.jwt, tokenFromCookie), s.identify)

	// Live connections log their own opening and closing, which says more
	// than an access-log line would. Both refuse another site's pages.
	r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/live/ws", serveLiveWS(l))
	r.With(opt.Proxy.checkOrigin).With(identify...).Method(http.MethodGet, "/live/events", serveLiveSSE(l))

	r.Group(func(r chi.Router) {
		r.Use(accessLog(logger))
		// Assets are only ever read: anything but GET and HEAD is a 405.
		r.Method(http.MethodGet, static.Prefix+"*", assets)
		r.Method(http.MethodHead, static.Prefix+"*", assets)
		r.Method(http.MethodGet, "/healthz", serveHealthz())
		r.Method(http.MethodGet, "/readyz", serveReadyz(logger, store, h, opt.Ready))
		r.Group(func(r chi.Router) {
			r.Use(identify...)
			r.Method(http.MethodGet, "/", serveIndex(h, s, urls))
			r.Method(http.MethodGet, "/login", serveLoginForm(urls))
			r.Method(http.MethodPost, "/login", serveLogin(logger, store, s, newLoginLimiter(opt.Login), opt.Metrics, urls))
			r.Method(http.MethodPost, "/logout", serveLogout(s))
			r.Method(http.MethodGet, "/live/sse-box", serveSSEBox(h))
		})
	})
	return r
}

// contentSecurityPolicy allows scripts, styles and connections from this
// origin only: htmx needs no inline script, and with its indicator styles
// off, no inline style either.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
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
