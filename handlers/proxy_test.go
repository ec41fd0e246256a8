package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/handlers"
	"herenow/static"
)

// send makes one request with the given headers and returns the response
// and its body.
func (a *app) send(t *testing.T, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func trusting(prefixes ...string) func(*handlers.Options) {
	return func(o *handlers.Options) {
		for _, p := range prefixes {
			o.Proxy.TrustedProxies = append(o.Proxy.TrustedProxies, netip.MustParsePrefix(p))
		}
	}
}

// loggedRequest returns the access-log line of the request to path, which
// must be the only one.
func (a *app) loggedRequest(t *testing.T, path string) string {
	t.Helper()
	var found []string
	for line := range strings.Lines(a.logs.String()) {
		if strings.Contains(line, "msg=request ") && strings.Contains(line, " path="+path+" ") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d access-log lines for %s, want 1:\n%s", len(found), path, a.logs.String())
	}
	return found[0]
}

func TestUntrustedPeersForwardedHeadersAreIgnored(t *testing.T) {
	a := newAppLogging(t, func(o *handlers.Options) {
		trusting("10.0.0.0/8")(o) // not the loopback peer the tests connect from
		o.Login.PerIP = 3
	})
	forged := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.9"}}
	resp, _ := a.send(t, http.MethodGet, "/?from=untrusted", forged, "")
	guest := cookieNamed(resp, "guest")
	if guest == nil || guest.Secure || cookieNamed(resp, "__Host-guest") != nil {
		t.Errorf("cookies %v, want a plain guest cookie without Secure", resp.Cookies())
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("HSTS %q sent on a forged X-Forwarded-Proto", hsts)
	}
	if line := a.loggedRequest(t, "/"); !strings.Contains(line, "client=127.0.0.1") {
		t.Errorf("access log does not name the real peer:\n%s", line)
	}
	// Each attempt claims another address; all count against the peer's.
	for i, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"} {
		resp, _ := a.send(t, http.MethodPost, "/login", http.Header{"X-Forwarded-For": {ip}}, "username=bob&password=wrong+password")
		if want := http.StatusUnauthorized; i == 3 {
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("4th attempt from one peer claiming %s: %s, want 429", ip, resp.Status)
			}
		} else if resp.StatusCode != want {
			t.Fatalf("attempt %d: %s, want 401", i+1, resp.Status)
		}
	}
}

func TestATrustedProxysHTTPSGetsHostCookiesHSTSAndTheClientsAddress(t *testing.T) {
	a := newAppLogging(t, func(o *handlers.Options) {
		trusting("127.0.0.1/32", "::1/128")(o)
		o.Login.PerIP = 3
	})
	via := func(client string) http.Header {
		return http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {client}}
	}
	resp, _ := a.send(t, http.MethodGet, "/", via("203.0.113.9"), "")
	guest := cookieNamed(resp, "__Host-guest")
	if guest == nil || !guest.Secure || guest.Path != "/" || guest.Domain != "" || !guest.HttpOnly || cookieNamed(resp, "guest") != nil {
		t.Errorf("cookies %v, want __Host-guest: Secure, HttpOnly, Path=/, no Domain", resp.Cookies())
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=63072000" {
		t.Errorf("HSTS %q, want max-age=63072000", hsts)
	}
	if line := a.loggedRequest(t, "/"); !strings.Contains(line, "client=203.0.113.9") {
		t.Errorf("access log does not name the forwarded client:\n%s", line)
	}
	// The proxy's own plain-HTTP request keeps the development names.
	resp, _ = a.send(t, http.MethodGet, "/login", http.Header{"X-Forwarded-Proto": {"http"}}, "")
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}

	resp, _ = a.send(t, http.MethodPost, "/login", via("203.0.113.9"), "username=alice&password=correct+horse")
	session := cookieNamed(resp, "__Host-jwt")
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || session.Path != "/" ||
		session.Domain != "" || !session.HttpOnly || cookieNamed(resp, "jwt") != nil {
		t.Fatalf("login over HTTPS: %s, cookies %v; want 303 and __Host-jwt: Secure, HttpOnly, Path=/, no Domain", resp.Status, resp.Cookies())
	}
	withCookie := func(h http.Header, name string) http.Header {
		h.Set("Cookie", name+"="+session.Value)
		return h
	}
	if _, body := a.send(t, http.MethodGet, "/", withCookie(via("203.0.113.9"), "__Host-jwt"), ""); !strings.Contains(body, "Hello") {
		t.Error("__Host-jwt over HTTPS does not sign alice in")
	}
	// Over HTTPS only the prefixed cookie counts: a bare jwt could have been
	// set by a sibling subdomain.
	if _, body := a.send(t, http.MethodGet, "/", withCookie(via("203.0.113.9"), "jwt"), ""); strings.Contains(body, "Hello") {
		t.Error("a bare jwt cookie signs alice in over HTTPS")
	}

	// Both live transports read the same cookie.
	viewer := a.dialWS(t, nil)
	waitFor(t, viewer, "1</strong> person online")
	sse := a.dialSSEWith(t, withCookie(via("203.0.113.9"), "__Host-jwt"))
	waitFor(t, viewer, `<li id="u-1"`)
	sse.close()
	waitFor(t, viewer, "alice</strong> went offline")
	a.dialWSWith(t, withCookie(via("203.0.113.9"), "__Host-jwt"))
	waitFor(t, viewer, "alice</strong> came online")

	// The login limit counts the forwarded clients apart (203.0.113.9 has
	// made one attempt, the login above).
	for i := range 2 {
		if resp, _ := a.send(t, http.MethodPost, "/login", via("203.0.113.9"), "username=bob&password=wrong+password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %s, want 401", i+2, resp.Status)
		}
	}
	if resp, _ := a.send(t, http.MethodPost, "/login", via("203.0.113.9"), "username=bob&password=wrong+password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("4th attempt from 203.0.113.9: %s, want 429", resp.Status)
	}
	if resp, _ := a.send(t, http.MethodPost, "/login", via("198.51.100.7"), "username=bob&password=wrong+password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("first attempt from 198.51.100.7 through the same proxy: %s, want 401", resp.Status)
	}

	// Logout clears the cookie by the name it was set under.
	resp, _ = a.send(t, http.MethodPost, "/logout", withCookie(via("203.0.113.9"), "__Host-jwt"), "")
	if c := cookieNamed(resp, "__Host-jwt"); c == nil || c.MaxAge >= 0 || !c.Secure {
		t.Errorf("logout over HTTPS: cookies %v, want __Host-jwt cleared, Secure", resp.Cookies())
	}
	waitFor(t, viewer, "alice</strong> went offline")
}

func TestAnHTTPSPublicURLMakesCookiesSecureAndItsOriginWelcome(t *testing.T) {
	const public = "https://presence.example.com"
	a := newAppWith(t, func(o *handlers.Options) {
		u, _ := url.Parse(public)
		o.Proxy.PublicURL = u
	})
	resp, _ := a.send(t, http.MethodGet, "/", nil, "")
	if c := cookieNamed(resp, "__Host-guest"); c == nil || !c.Secure {
		t.Errorf("cookies %v, want a Secure __Host-guest", resp.Cookies())
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS")
	}
	// The proxy passes on its own Host (the test server's), as nginx does
	// by default; the browser's Origin is the public one.
	a.dialWSWith(t, http.Header{"Origin": {public}})
	a.dialSSEWith(t, http.Header{"Origin": {public}})
	if resp, _ := a.send(t, http.MethodPost, "/logout", http.Header{"Origin": {public}}, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout from the public origin: %s, want 303", resp.Status)
	}
	for _, origin := range []string{"https://evil.presence.example.com", "http://presence.example.com"} {
		if resp, _ := a.send(t, http.MethodGet, "/live/events", http.Header{"Origin": {origin}}, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("/live/events from %s: %s, want 403", origin, resp.Status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/live/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("/live/ws from %s: %v, want 403", origin, err)
		}
	}
}

func TestLiveEventsRefuseOtherOrigins(t *testing.T) {
	a := newApp(t)
	viewer := a.dialWS(t, nil)
	waitFor(t, viewer, "1</strong> person online")
	for _, origin := range []string{"https://evil.example", "http://sibling.127.0.0.1.nip.io", "null"} {
		if resp, _ := a.send(t, http.MethodGet, "/live/events", http.Header{"Origin": {origin}}, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("/live/events from %q: %s, want 403", origin, resp.Status)
		}
	}
	// A no-cors load from a sibling (an <img> or <script> pointing here)
	// sends no Origin, but the browser says where it came from.
	for _, site := range []string{"same-site", "cross-site"} {
		if resp, _ := a.send(t, http.MethodGet, "/live/events", http.Header{"Sec-Fetch-Site": {site}}, ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("/live/events with no Origin and Sec-Fetch-Site %s: %s, want 403", site, resp.Status)
		}
	}
	// Same-origin EventSource sends no Origin (Chromium) or its own.
	a.dialSSEWith(t, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	waitFor(t, viewer, "2</strong> people online")
	a.dialSSEWith(t, http.Header{"Origin": {a.srv.URL}})
	waitFor(t, viewer, "3</strong> people online")
}

var loggedID = regexp.MustCompile(` id=(\S+) `)

func TestRequestIDsAreOursUnlessATrustedProxySendsAPlainOne(t *testing.T) {
	generated := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	for _, c := range []struct {
		name    string
		trusted bool
		id      string
		kept    bool
	}{
		{"untrusted, 64 KiB", false, strings.Repeat("a", 64<<10), false},
		{"untrusted, plain", false, "abc-123", false},
		{"trusted, plain", true, "req_42.a-B", true},
		{"trusted, 64 characters", true, strings.Repeat("x", 64), true},
		{"trusted, 65 characters", true, strings.Repeat("x", 65), false},
		{"trusted, a space", true, "a b", false},
		{"trusted, a quote", true, `a"b`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var change func(*handlers.Options)
			if c.trusted {
				change = trusting("127.0.0.1/32", "::1/128")
			}
			a := newAppLogging(t, change)
			if resp, _ := a.send(t, http.MethodGet, "/healthz", http.Header{"X-Request-Id": {c.id}}, ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz: %s", resp.Status)
			}
			line := a.loggedRequest(t, "/healthz")
			m := loggedID.FindStringSubmatch(line)
			switch {
			case m == nil:
				t.Fatalf("no id logged:\n%.300s", line)
			case c.kept && m[1] != c.id:
				t.Errorf("logged id %q, want the proxy's %q", m[1], c.id)
			case !c.kept && !generated.MatchString(m[1]):
				t.Errorf("logged id %.100q, want one of ours", m[1])
			}
		})
	}
}

func TestStaticAssetsAnswerOnlyGETAndHEAD(t *testing.T) {
	a := newApp(t)
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodTrace} {
		resp, _ := a.send(t, method, assets.HTMX, nil, "")
		allow := strings.Join(resp.Header.Values("Allow"), ", ")
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
			t.Errorf("%s %s: %s, Allow %q; want 405 allowing GET and HEAD", method, assets.HTMX, resp.Status, allow)
		}
	}
	resp, body := a.send(t, http.MethodHead, assets.HTMX, nil, "")
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %s, %d bytes of body, Content-Length %d", resp.Status, len(body), resp.ContentLength)
	}
	if resp, body := a.send(t, http.MethodGet, assets.HTMX, nil, ""); resp.StatusCode != http.StatusOK || body == "" {
		t.Errorf("GET: %s, %d bytes", resp.Status, len(body))
	}
}
