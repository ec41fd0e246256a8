package handlers_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/jwtauth/v5"

	"herenow/handlers"
	"herenow/internal/wstest"
)

// token signs claims for alice (user 1) the way herenow does, with
// overrides; a nil override value deletes the claim.
func (a *app) token(t *testing.T, key string, override map[string]any) string {
	t.Helper()
	claims := map[string]any{"sub": "1", "name": "alice", "iss": "herenow", "jti": "test-jti",
		"sva": a.alice.SessionsValidAfter.UnixMilli()}
	jwtauth.SetIssuedNow(claims)
	jwtauth.SetExpiryIn(claims, time.Hour)
	for k, v := range override {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	_, s, err := jwtauth.New("HS256", []byte(key), nil).Encode(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedToken is a token with "alg": "none", which must never verify.
func unsignedToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{"sub": "1", "name": "alice", "iss": "herenow", "jti": "x",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	return enc(header) + "." + enc(claims) + "."
}

func TestBadTokensMakeAGuestOnThePageAndTheLiveTransports(t *testing.T) {
	a := newApp(t)
	valid := a.token(t, secret, nil)
	bad := map[string]string{
		"bad signature":   valid[:len(valid)-4] + "AAAA",
		"alg none":        unsignedToken(),
		"expired":         a.token(t, secret, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
		"no exp":          a.token(t, secret, map[string]any{"exp": nil}),
		"wrong issuer":    a.token(t, secret, map[string]any{"iss": "someone-else"}),
		"wrong secret":    a.token(t, "another secret, at least thirty-two bytes", nil),
		"no jti":          a.token(t, secret, map[string]any{"jti": nil}),
		"non-numeric sub": a.token(t, secret, map[string]any{"sub": `1" onclick="x`}),
		"malformed":       "%%%not a token;;",
		// Well signed, but naming no session that holds.
		"no sva":                 a.token(t, secret, map[string]any{"sva": nil}),
		"earlier sva":            a.token(t, secret, map[string]any{"sva": a.alice.SessionsValidAfter.UnixMilli() - 1}),
		"unknown user":           a.token(t, secret, map[string]any{"sub": "999"}),
		"another user's name":    a.token(t, secret, map[string]any{"name": evilName}),
		"another user's id":      a.token(t, secret, map[string]any{"sub": "2"}),
		"sva in whole seconds":   a.token(t, secret, map[string]any{"sva": a.alice.SessionsValidAfter.Unix()}),
		"sva as a string number": a.token(t, secret, map[string]any{"sva": fmt.Sprint(a.alice.SessionsValidAfter.UnixMilli())}),
	}
	// The control: the token these are made from signs alice in.
	if page := a.pageWith(t, "jwt="+valid); !strings.Contains(page, "Hello") {
		t.Fatal("the valid token does not sign alice in")
	}
	viewer := a.dialWS(t, a.login(t, evilName, "evil password"))
	waitFor(t, viewer, "1</strong> person online")
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/", nil)
			req.Header.Set("Cookie", "jwt="+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "Hello") {
				t.Errorf("page: %s, greeted as a user", resp.Status)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/live/ws",
				&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"jwt=" + tok}}})
			if err != nil {
				t.Fatal(err)
			}
			f := waitFor(t, viewer, "2</strong> people online")
			if strings.Contains(f, "alice") || !strings.Contains(f, "and 1 guest") {
				t.Errorf("connection counted as a user, not a guest:\n%s", f)
			}
			conn.Close(websocket.StatusGoingAway, "")
			waitFor(t, viewer, "1</strong> person online")
		})
	}
}

func TestTokensOutsideTheCookieAreIgnored(t *testing.T) {
	a := newApp(t)
	valid := a.token(t, secret, nil)
	for name, req := range map[string]*http.Request{
		"query":  mustRequest(t, a.srv.URL+"/?jwt="+url.QueryEscape(valid)),
		"header": withHeader(mustRequest(t, a.srv.URL+"/"), "Authorization", "Bearer "+valid),
	} {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "Hello") {
			t.Errorf("a token in the %s signed the visitor in", name)
		}
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	a := newApp(t)
	for _, path := range []string{"/login", "/logout"} {
		for name, h := range map[string]http.Header{
			"sec-fetch-site": {"Sec-Fetch-Site": {"cross-site"}},
			"origin":         {"Origin": {"https://evil.example"}},
		} {
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+path, strings.NewReader("username=alice&password=correct+horse"))
			req.Header = h
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := a.client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with a foreign %s: %s, want 403", path, name, resp.Status)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "jwt" && c.Value != "" {
					t.Errorf("POST %s with a foreign %s set a session", path, name)
				}
			}
		}
	}
}

func TestUnexpectedWebSocketMessageClosesWith1008(t *testing.T) {
	a := newApp(t)
	ws := a.dialWS(t, nil)
	ws.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.conn.Write(ctx, websocket.MessageText, []byte(`{"hello":"server"}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := wstest.ReadUntilClose(ctx, ws.conn); got != websocket.StatusPolicyViolation {
		t.Errorf("close status %v (%v), want 1008", got, err)
	}
}

func TestMalformedLoginsGetClearAnswers(t *testing.T) {
	a := newApp(t)
	post := func(body string) (*http.Response, string) {
		t.Helper()
		resp, err := a.client(t).Post(a.srv.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct {
		name, body string
		status     int
		says       string
	}{
		{"oversized body", "username=alice&password=" + strings.Repeat("x", 8<<10), http.StatusRequestEntityTooLarge, "too large"},
		{"no fields", "", http.StatusBadRequest, "Enter your username and password."},
		{"bad encoding", "username=%zz", http.StatusBadRequest, "could not be read"},
		{"SQL in the name", "username=" + url.QueryEscape("alice' OR '1'='1' --") + "&password=x", http.StatusUnauthorized, "Wrong username or password."},
		{"very long name", "username=" + strings.Repeat("a", 2000) + "&password=x", http.StatusBadRequest, "Enter your username and password."},
		{"invalid UTF-8", "username=%ff%fe&password=x", http.StatusBadRequest, "Enter your username and password."},
	} {
		resp, body := post(c.body)
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %s, want %d saying %q", c.name, resp.Status, c.status, c.says)
		}
		if strings.Contains(body, "aaaaaaaaaa") {
			t.Errorf("%s: an invalid name was echoed back", c.name)
		}
	}
}

func TestLoginIsRateLimitedPerAddress(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.Login = handlers.LoginLimits{PerIP: 8, PerName: 3} })
	c := a.client(t)
	// Attempts from one address count whatever their names and outcomes.
	for i, name := range []string{"bob", "carol", "dave", "erin", "frank", "grace", "heidi"} {
		if resp, _ := a.postLogin(t, c, name, "wrong password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d on %s: %s, want 401", i+1, name, resp.Status)
		}
	}
	if resp, _ := a.postLogin(t, c, "alice", "correct horse"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("8th attempt, alice's password: %s, want 303", resp.Status)
	}
	resp, _ := a.postLogin(t, c, "alice", "correct horse")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("attempt beyond the address's limit: %s, Retry-After %q; want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
}

// clientFrom returns a client whose connections come from the loopback
// address ip (Linux delivers all of 127.0.0.0/8 locally), so the server
// sees a client address of its own without any proxy.
func (a *app) clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	c := a.client(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c.Transport = tr
	return c
}

func TestOneAddressCannotLockAnotherOut(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.Login = handlers.LoginLimits{PerIP: 100, PerName: 3} })
	attacker, alice := a.clientFrom(t, "127.0.0.2"), a.clientFrom(t, "127.0.0.3")
	for i := range 10 {
		resp, _ := a.postLogin(t, attacker, "alice", "wrong password")
		switch {
		case i < 3 && resp.StatusCode != http.StatusUnauthorized:
			t.Fatalf("attacker's failure %d: %s, want 401", i+1, resp.Status)
		case i >= 3 && (resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == ""):
			t.Fatalf("attacker's attempt %d past 3 failures: %s, want 429 with Retry-After", i+1, resp.Status)
		}
	}
	// The attacker's address stays refused for alice, her password too.
	if resp, _ := a.postLogin(t, attacker, "alice", "correct horse"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's password from the attacker's address: %s, want 429", resp.Status)
	}
	// alice, from her own address, is not: a typo, then her password.
	if resp, _ := a.postLogin(t, alice, "alice", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("alice's typo from her address: %s, want 401", resp.Status)
	}
	if resp, _ := a.postLogin(t, alice, "alice", "correct horse"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's password from her address: %s, want 303", resp.Status)
	}
}

func TestADistributedAttackOnOneNameIsSlowedAndRefusedPerAddress(t *testing.T) {
	const maxDelay = 400 * time.Millisecond
	a := newAppWith(t, func(o *handlers.Options) {
		o.Login = handlers.LoginLimits{PerIP: 100, PerName: 2, MaxDelay: maxDelay}
	})
	// Three addresses fail twice each: six failures against alice, enough
	// for the full delay (2, then 3 more doublings). Each address is refused
	// its third try.
	for i := range 3 {
		c := a.clientFrom(t, fmt.Sprintf("127.0.0.%d", 10+i))
		for j := range 2 {
			if resp, _ := a.postLogin(t, c, "alice", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("address %d, failure %d: %s, want 401", i+1, j+1, resp.Status)
			}
		}
		if resp, _ := a.postLogin(t, c, "alice", "wrong password"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("address %d, third try: %s, want 429", i+1, resp.Status)
		}
	}
	// Every attempt on alice now waits the full delay, from a new address
	// too; a wrong password is still only wrong, and hers still gets in.
	for _, c := range []struct {
		ip, password string
		want         int
	}{
		{"127.0.0.20", "wrong password", http.StatusUnauthorized},
		{"127.0.0.21", "correct horse", http.StatusSeeOther},
	} {
		start := time.Now()
		resp, _ := a.postLogin(t, a.clientFrom(t, c.ip), "alice", c.password)
		if took := time.Since(start); resp.StatusCode != c.want || took < maxDelay {
			t.Errorf("%q from a new address: %s after %v, want %d after at least %v", c.password, resp.Status, took, c.want, maxDelay)
		}
	}
}

func TestLogoutEndsTheSessionsLiveConnectionsAtOnce(t *testing.T) {
	a := newApp(t)
	viewer := a.dialWS(t, nil)
	browser := a.login(t, "alice", "correct horse")
	tab1, tab2 := a.dialWS(t, browser), a.dialWS(t, browser)
	waitFor(t, viewer, "2 tabs")
	stolen := a.cookieHeader(browser).Get("Cookie")

	resp, err := browser.PostForm(a.srv.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for i, tab := range []*wsLive{tab1, tab2} {
		if code, _ := wstest.CloseStatusOf(t, tab.conn, 5*time.Second); code != websocket.StatusServiceRestart {
			t.Errorf("tab %d closed with %v, want 1012 so it reconnects as a guest", i+1, code)
		}
	}
	// alice leaves without a grace period: her session, not her connection, ended.
	f := waitFor(t, viewer, `<li id="u-1" hx-swap-oob="delete">`)
	if !strings.Contains(f, "alice</strong> went offline") {
		t.Errorf("departure not logged:\n%s", f)
	}
	// The revoked token no longer signs anyone in, on the page or live.
	req := withHeader(mustRequest(t, a.srv.URL+"/"), "Cookie", stolen)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "Hello") {
		t.Error("a revoked token still signs alice in")
	}
}

func TestLiveConnectionIsClosedWhenItsTokenExpires(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) { o.TokenTTL = time.Second })
	ws := a.dialWS(t, a.login(t, "alice", "correct horse"))
	code, reason := wstest.CloseStatusOf(t, ws.conn, 10*time.Second)
	if code != websocket.StatusServiceRestart || !strings.Contains(reason, "session ended") {
		t.Errorf("closed with %v %q, want 1012 \"session ended\"", code, reason)
	}
}

func TestSilentClientIsDroppedAfterPingTimeout(t *testing.T) {
	a := newAppWith(t, func(o *handlers.Options) {
		o.Live.PingInterval = 100 * time.Millisecond
		o.Live.PingTimeout = 100 * time.Millisecond
	})
	viewer := a.dialWS(t, nil)
	waitFor(t, viewer, "1</strong> person online")

	// A raw TCP client that completes the handshake, then never reads or
	// writes again, as a vanished laptop would.
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /live/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", strings.TrimPrefix(a.srv.URL, "http://"))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("handshake: %q, %v", status, err)
	}

	waitFor(t, viewer, "2</strong> people online")
	// Ping interval + timeout + the grace period later, the ghost is gone.
	waitFor(t, viewer, "1</strong> person online")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	a := newApp(t)
	for _, path := range []string{"/", "/login", "/me.css", "/live/sse-box", "/no-such-page"} {
		resp, err := http.Get(a.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP allows unsafe sources: %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: missing nosniff or Referrer-Policy", path)
		}
	}
}
