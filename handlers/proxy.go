package handlers

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5/middleware"
)

// Proxy says how people reach herenow, which terminates no TLS itself:
// directly, or through reverse proxies that do.
type Proxy struct {
	// PublicURL, when set, is the address people use, such as
	// https://presence.example.com. When it is https every response counts
	// as secure (Secure __Host- cookies, HSTS), and its origin is accepted
	// wherever an Origin is checked, even if a proxy rewrites Host.
	PublicURL *url.URL
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; from anyone else they are ignored.
	TrustedProxies []netip.Prefix
}

// hstsPolicy keeps browsers on HTTPS for two years once they have seen it.
// It leaves out includeSubDomains and preload: herenow is one host, and
// what the rest of its domain must do is its owner's decision, not ours.
const hstsPolicy = "max-age=63072000"

// middlewares are what must run before anything that logs, limits or sets
// a cookie: a request id, the client's address, and whether the request
// reached us over HTTPS.
func (p Proxy) middlewares() []func(http.Handler) http.Handler {
	mw := []func(http.Handler) http.Handler{p.requestID, middleware.ClientIPFromRemoteAddr}
	if len(p.TrustedProxies) > 0 {
		trusted := make([]string, len(p.TrustedProxies))
		for i, pfx := range p.TrustedProxies {
			trusted[i] = pfx.String()
		}
		// The peer's address stays when X-Forwarded-For names nobody
		// outside the trusted prefixes (a proxy's own health check) or is
		// garbage: chi then sets nothing, and the value above is kept.
		mw = append(mw, middleware.ClientIPFromXFF(trusted...))
	}
	return append(mw, p.scheme)
}

// trusts reports whether r's TCP peer is one of the trusted proxies.
func (p Proxy) trusts(r *http.Request) bool {
	if len(p.TrustedProxies) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := peer.Addr().Unmap().WithZone("")
	for _, pfx := range p.TrustedProxies {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// publicOrigin is the public URL's origin (scheme://host), or "" if none is
// set.
func (p Proxy) publicOrigin() string {
	if p.PublicURL == nil {
		return ""
	}
	u := p.PublicURL
	host := u.Host
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port) // browsers leave a default port out of Origin
	}
	return strings.ToLower(u.Scheme + "://" + host)
}

// overHTTPS reports whether r reached the browser's end over HTTPS: TLS
// here, a public URL that says so, or a trusted proxy's X-Forwarded-Proto.
// The last value of that header counts, as the closest hop set it.
func (p Proxy) overHTTPS(r *http.Request) bool {
	if r.TLS != nil || (p.PublicURL != nil && p.PublicURL.Scheme == "https") {
		return true
	}
	if !p.trusts(r) {
		return false
	}
	values := r.Header.Values("X-Forwarded-Proto")
	if len(values) == 0 {
		return false
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

type secureKey struct{}

// scheme records whether the request came over HTTPS, for cookieName, and
// then sends HSTS.
func (p Proxy) scheme(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure := p.overHTTPS(r)
		if secure {
			w.Header().Set("Strict-Transport-Security", hstsPolicy)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), secureKey{}, secure)))
	})
}

// overHTTPS reports what scheme recorded for r.
func overHTTPS(r *http.Request) bool {
	secure, _ := r.Context().Value(secureKey{}).(bool)
	return secure
}

// cookieName is the name herenow's cookie base goes by on r, for setting and
// for reading alike. Over HTTPS it carries the __Host- prefix, which makes
// browsers keep it only if it is Secure, has Path=/ and no Domain: a
// sibling subdomain can then neither set nor shadow it. Over plain HTTP
// (development) browsers refuse that prefix, so the bare name is used.
func cookieName(r *http.Request, base string) string {
	if overHTTPS(r) {
		return "__Host-" + base
	}
	return base
}

// newCookie is herenow's cookie base for r: HttpOnly, SameSite=Lax, Path=/,
// no Domain, and Secure with the __Host- prefix over HTTPS. A negative
// maxAge deletes it.
func newCookie(r *http.Request, base, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: cookieName(r, base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: overHTTPS(r), SameSite: http.SameSiteLaxMode,
	}
}

// maxRequestIDLen bounds a request id taken from a proxy.
const maxRequestIDLen = 64

// requestID gives each request an id for the logs: the X-Request-Id a
// trusted proxy sent, if it is short and plain, so that its logs and ours
// line up; otherwise a new random one. A client's own X-Request-Id is never
// logged: it could be a megabyte, or forge log lines.
func (p Proxy) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(middleware.RequestIDHeader)
		if !p.trusts(r) || !plainRequestID(id) {
			id = rand.Text()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, id)))
	})
}

// plainRequestID reports whether id is 1 to 64 of [A-Za-z0-9._-].
func plainRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// allowedOrigin reports whether r's Origin may use a live transport: none
// at all (a same-origin EventSource sends none: Chromium sends only
// Sec-Fetch-Site: same-origin, as the Fetch standard says for a same-origin
// GET, and a client outside a browser has nobody's cookies to borrow), an
// Origin whose host is the request's Host (coder/websocket's rule), or the
// public URL's origin. Anything else is another site, a sibling subdomain
// included, whose pages must not make their visitors count as online here.
// A request without an Origin is refused too when the browser says it came
// from another site or a sibling (Sec-Fetch-Site cross-site or same-site):
// that is what a no-cors load, such as <img src=".../live/events"> on a
// sibling subdomain, sends, with the visitor's SameSite=Lax cookies.
func (p Proxy) allowedOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		return site != "cross-site" && site != "same-site"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Scheme+"://"+u.Host, p.publicOrigin())
}

// checkOrigin answers 403 to a live request from another origin.
func (p Proxy) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.allowedOrigin(r) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// websocketOriginPatterns lets coder/websocket's own origin check, which
// runs after checkOrigin, accept the public URL's origin too. path.Match
// reads *, ?, [ and \ as pattern syntax (an IPv6 host has brackets), so
// they are escaped.
func (p Proxy) websocketOriginPatterns() []string {
	o := p.publicOrigin()
	if o == "" {
		return nil
	}
	var b strings.Builder
	for _, c := range o {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return []string{b.String()}
}
