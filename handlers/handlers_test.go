package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/jwtauth/v5"
	"golang.org/x/crypto/bcrypt"

	"herenow/handlers"
	"herenow/hub"
	"herenow/internal/testkit"
	"herenow/internal/wstest"
	"herenow/static"
	"herenow/users"
)

const (
	grace    = 300 * time.Millisecond
	evilName = "<script>alert(1)</script>"
	secret   = "test secret, at least thirty-two bytes long"
)

// app is a real herenow server on a loopback port with a real SQLite store.
type app struct {
	srv   *httptest.Server
	hub   *hub.Hub
	store *users.Store
	alice users.User
	// userChanged tells the server of a user changed elsewhere, and
	// revoked of a session ended at logout anywhere, as the program's
	// watcher of the user database does.
	userChanged func(ctx context.Context, userID int64)
	revoked     func(jti string, until time.Time)
	logs        *testkit.LogBuffer // what the server logged, if newAppLogging started it
}

// userChanges hands the server's funcs for changed users and ended
// sessions to the test.
type userChanges struct {
	changed *func(context.Context, int64)
	revoked *func(string, time.Time)
}

func (u userChanges) OnUserChanged(f func(context.Context, int64)) { *u.changed = f }
func (u userChanges) OnRevoked(f func(string, time.Time))          { *u.revoked = f }

func newApp(t testing.TB) *app {
	t.Helper()
	return newAppWith(t, nil)
}

// addUsersFromBeforeTheNamingRules creates the SQLite database at path as
// herenow did before it had migrations and naming rules, with the given
// users (name, password), ids from 1: the way a hostile name such as
// evilName can still exist (the rules refuse it as a new name) and must
// still be escaped everywhere.
func addUsersFromBeforeTheNamingRules(t testing.TB, path string, namePasswords ...[2]string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, u := range namePasswords {
		hash, err := bcrypt.GenerateFromPassword([]byte(u[1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3)`, u[0], hash, time.Now().Unix()); err != nil {
			t.Fatal(err)
		}
	}
}

// newAppWith is newApp with options changed by change before the server
// starts.
func newAppWith(t testing.TB, change func(*handlers.Options)) *app {
	t.Helper()
	return startApp(t, change, nil, nil)
}

// newAppLogging is newAppWith keeping what the server logs in app.logs.
// Other tests discard it, so that what they log costs no memory.
func newAppLogging(t testing.TB, change func(*handlers.Options)) *app {
	t.Helper()
	return startApp(t, change, &testkit.LogBuffer{}, nil)
}

// startApp starts a server on a new SQLite store, given to the server
// through wrap when set.
func startApp(t testing.TB, change func(*handlers.Options), logs *testkit.LogBuffer, wrap func(*users.Store) handlers.UserStore) *app {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	addUsersFromBeforeTheNamingRules(t, path, [2]string{"alice", "correct horse"}, [2]string{evilName, "evil password"})
	store, err := users.Open(ctx, path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	alice, err := store.Authenticate(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	var serverStore handlers.UserStore = store
	if wrap != nil {
		serverStore = wrap(store)
	}
	return serveApp(t, store, serverStore, alice, change, logs, nil)
}

// restart starts another server on a's store, as the program started again
// on the same data would, and returns it. a goes on serving.
func (a *app) restart(t testing.TB) *app {
	t.Helper()
	return serveApp(t, a.store, a.store, a.alice, nil, nil, nil)
}

// serveApp starts a server on serverStore, whose users' store is store;
// with rooms set, a server with rooms, whose site rooms may configure.
func serveApp(t testing.TB, store *users.Store, serverStore handlers.UserStore, alice users.User,
	change func(*handlers.Options), logs *testkit.LogBuffer, rooms func(*hub.SiteConfig)) *app {
	t.Helper()
	a := &app{store: store, alice: alice}
	opt := handlers.Options{
		Secret: []byte(secret), TokenTTL: time.Hour, Login: handlers.LoginLimits{PerIP: 20, PerName: 5},
		Live:        handlers.LiveOptions{PingInterval: time.Second, PingTimeout: time.Second},
		UserChanges: userChanges{&a.userChanged, &a.revoked},
	}
	if change != nil {
		change(&opt)
	}
	cfg := hub.Config{Render: handlers.Renderer{Metrics: opt.Metrics}, Tick: 10 * time.Millisecond, Grace: grace,
		ListLimit: 100, LogSize: 50, QueueSize: 32}
	var h *hub.Hub
	if rooms != nil {
		site := newSite(t, cfg, opt.Metrics, rooms)
		h, opt.Site = site.Lobby(), site
		t.Cleanup(site.Close)
	} else {
		var err error
		if h, err = hub.New(cfg); err != nil {
			t.Fatal(err)
		}
	}
	assets, err := static.Load(opt.Live.StaleAfter())
	if err != nil {
		t.Fatal(err)
	}
	var logTo io.Writer = io.Discard
	if logs != nil {
		logTo = logs
	}
	logger := slog.New(slog.NewTextHandler(logTo, nil))
	server, err := handlers.NewServer(context.Background(), logger, serverStore, h, assets, opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close) // runs first: ends the live connections srv.Close would wait for
	a.srv, a.hub, a.logs = srv, h, logs
	return a
}

// client returns an HTTP client with its own cookie jar that does not follow
// redirects, so tests see them.
func (a *app) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (a *app) postLogin(t *testing.T, c *http.Client, name, password string) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(a.srv.URL+"/login", url.Values{"username": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// login signs name in through POST /login and returns the browser's client.
func (a *app) login(t *testing.T, name, password string) *http.Client {
	t.Helper()
	c := a.client(t)
	resp, _ := a.postLogin(t, c, name, password)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login %s: %s to %q, want 303 to /", name, resp.Status, resp.Header.Get("Location"))
	}
	return c
}

func (a *app) cookieHeader(c *http.Client) http.Header {
	h := http.Header{}
	if c == nil {
		return h
	}
	u, _ := url.Parse(a.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return h
}

// live is a connection to one of the live transports, read frame by frame.
type live interface {
	next(t *testing.T) string
	close()
}

type wsLive struct{ conn *websocket.Conn }

func (a *app) dialWS(t *testing.T, c *http.Client) *wsLive {
	t.Helper()
	return a.dialWSWith(t, a.cookieHeader(c))
}

// dialWSWith is dialWS with the handshake's headers given.
func (a *app) dialWSWith(t *testing.T, header http.Header) *wsLive {
	t.Helper()
	return a.dialWSAt(t, "/live/ws", header)
}

// dialWSAt is dialWSWith at another live endpoint, such as a room's.
func (a *app) dialWSAt(t *testing.T, path string, header http.Header) *wsLive {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+path,
		&websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &wsLive{conn: conn}
}

func (w *wsLive) next(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := w.conn.Read(ctx)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	return string(b)
}

func (w *wsLive) close() { w.conn.Close(websocket.StatusGoingAway, "") }

type sseLive struct {
	cancel context.CancelFunc
	events chan string
}

// dialSSE opens the event stream and parses it as EventSource would: data
// lines joined with "\n", one event per blank line.
func (a *app) dialSSE(t *testing.T, c *http.Client) *sseLive {
	t.Helper()
	return a.dialSSEWith(t, a.cookieHeader(c))
}

// dialSSEWith is dialSSE with the request's headers given.
func (a *app) dialSSEWith(t *testing.T, header http.Header) *sseLive {
	t.Helper()
	return a.dialSSEAt(t, "/live/events", header)
}

// dialSSEAt is dialSSEWith at another live endpoint, such as a room's.
func (a *app) dialSSEAt(t *testing.T, path string, header http.Header) *sseLive {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("event stream: %s, %q", resp.Status, ct)
	}
	s := &sseLive{cancel: cancel, events: make(chan string, 64)}
	t.Cleanup(s.close)
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var data []string
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "update" {
					s.events <- strings.Join(data, "\n")
				}
				data, event = nil, ""
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			}
		}
	}()
	return s
}

func (s *sseLive) next(t *testing.T) string {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("event stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return ""
	}
}

func (s *sseLive) close() { s.cancel() }

// waitFor reads frames until one contains want, and returns it.
func waitFor(t *testing.T, l live, want string) string {
	t.Helper()
	for range 50 {
		if f := l.next(t); strings.Contains(f, want) {
			return f
		}
	}
	t.Fatalf("no frame contained %q", want)
	return ""
}

func TestPresenceOverBothTransports(t *testing.T) {
	transports := map[string]func(*app, *testing.T, *http.Client) live{
		"websocket": func(a *app, t *testing.T, c *http.Client) live { return a.dialWS(t, c) },
		"sse":       func(a *app, t *testing.T, c *http.Client) live { return a.dialSSE(t, c) },
	}
	for name, dial := range transports {
		t.Run(name, func(t *testing.T) {
			a := newApp(t)
			guest := dial(a, t, nil)
			if snap := guest.next(t); !strings.Contains(snap, `id="online-count"`) || !strings.Contains(snap, `id="activity-log"`) {
				t.Fatalf("first frame is not a snapshot:\n%s", snap)
			}
			waitFor(t, guest, "<strong>1</strong> person online")

			aliceBrowser := a.login(t, "alice", "correct horse")
			alice := dial(a, t, aliceBrowser)
			arrival := waitFor(t, guest, `hx-swap-oob="beforeend:#online-users"`)
			for _, want := range []string{`<li id="u-1"><span class="user-face face-11" aria-hidden="true">A</span> <span class="user-name" title="alice">`, "<strong>2</strong> people online", "<strong>alice</strong> came online"} {
				if !strings.Contains(arrival, want) {
					t.Errorf("arrival frame lacks %q:\n%s", want, arrival)
				}
			}

			alice.close()
			departure := waitFor(t, guest, `<li id="u-1" hx-swap-oob="delete">`)
			for _, want := range []string{"<strong>1</strong> person online", "<strong>alice</strong> went offline"} {
				if !strings.Contains(departure, want) {
					t.Errorf("departure frame lacks %q:\n%s", want, departure)
				}
			}
		})
	}
}

func TestBothTransportsCarryTheSameBytes(t *testing.T) {
	a := newApp(t)
	ws := a.dialWS(t, nil)
	sse := a.dialSSE(t, nil)
	waitFor(t, ws, "<strong>2</strong> people online")
	waitFor(t, sse, "<strong>2</strong> people online")

	a.dialWS(t, a.login(t, "alice", "correct horse"))
	fromWS := waitFor(t, ws, "alice")
	fromSSE := waitFor(t, sse, "alice")
	if fromWS != fromSSE {
		t.Errorf("transports differ:\nws:  %s\nsse: %s", fromWS, fromSSE)
	}
}

func TestHostileNameIsEscapedInFramesAndPage(t *testing.T) {
	a := newApp(t)
	guest := a.dialWS(t, nil)
	guest.next(t) // its snapshot: it is connected, and evil's arrival is a frame of its own to come
	evil := a.login(t, evilName, "evil password")
	a.dialWS(t, evil)
	f := waitFor(t, guest, `hx-swap-oob="beforeend:#online-users"`)
	if strings.Contains(f, "<script>") || !strings.Contains(f, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("name not escaped in frame:\n%s", f)
	}
	resp, err := evil.Get(a.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "<script>alert") || !strings.Contains(string(body), "Hello <strong>&lt;script&gt;") {
		t.Errorf("name not escaped on the page")
	}
}

// TestWrongCredentialsAreRefusedAlike checks that a wrong password and an
// unknown name get the same answer after the same work: exactly one bcrypt
// comparison each (against the decoy hash for the unknown name), counted
// through the store's comparer, so that the two take about as long.
func TestWrongCredentialsAreRefusedAlike(t *testing.T) {
	a := newApp(t)
	var compared atomic.Int32
	a.store.SetPasswordComparer(func(hash, password []byte) error {
		compared.Add(1)
		return bcrypt.CompareHashAndPassword(hash, password)
	})
	for _, c := range []struct{ name, password string }{
		{"alice", "wrong password"},
		{"mallory", "correct horse"},
	} {
		compared.Store(0)
		resp, body := a.postLogin(t, a.client(t), c.name, c.password)
		if n := compared.Load(); n != 1 {
			t.Errorf("%s: %d password comparisons, want 1 like every other login", c.name, n)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %s, want 401", c.name, resp.Status)
		}
		if !strings.Contains(body, "Wrong username or password.") {
			t.Errorf("%s: form does not say the pair was wrong", c.name)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "jwt" {
				t.Errorf("%s: a session cookie was set", c.name)
			}
		}
	}
	resp, body := a.postLogin(t, a.client(t), "alice", "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Enter your username and password.") {
		t.Errorf("missing password: %s", resp.Status)
	}
}

func TestLoginSetsAHardenedCookieAndLogoutClearsIt(t *testing.T) {
	a := newApp(t)
	resp, _ := a.postLogin(t, a.client(t), "alice", "correct horse")
	var jwt *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "jwt" {
			jwt = ck
		}
	}
	if jwt == nil {
		t.Fatal("no jwt cookie")
	}
	if !jwt.HttpOnly || jwt.SameSite != http.SameSiteLaxMode || jwt.Path != "/" || jwt.MaxAge != 3600 {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, MaxAge=3600", jwt)
	}

	c := a.login(t, "alice", "correct horse")
	if body := a.get(t, c, "/"); !strings.Contains(body, "Hello <strong>alice</strong>") {
		t.Error("signed-in page does not greet alice")
	}
	resp, err := c.PostForm(a.srv.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %s, want 303", resp.Status)
	}
	if body := a.get(t, c, "/"); strings.Contains(body, "Hello") || !strings.Contains(body, `href="/login"`) {
		t.Error("after logout the page still greets a user")
	}
}

func TestForgedOrExpiredTokensAreGuests(t *testing.T) {
	a := newApp(t)
	claims := func(ttl time.Duration) map[string]any {
		c := map[string]any{"sub": "1", "name": "alice", "iss": "herenow", "jti": "x"}
		jwtauth.SetIssuedNow(c)
		jwtauth.SetExpiryIn(c, ttl)
		return c
	}
	_, forged, _ := jwtauth.New("HS256", []byte("another secret, thirty-two bytes or more"), nil).Encode(claims(time.Hour))
	_, expired, _ := jwtauth.New("HS256", []byte(secret), nil).Encode(claims(-time.Hour))
	for name, token := range map[string]string{"forged": forged, "expired": expired, "garbage": "not.a.token"} {
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: "jwt", Value: token})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "Hello") {
			t.Errorf("%s token: %s, greeted as a user", name, resp.Status)
		}
	}
}

func (a *app) get(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get(a.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAGuestBrowsersTabsCountOnce(t *testing.T) {
	a := newApp(t)
	alice := a.dialWS(t, a.login(t, "alice", "correct horse"))
	browser := a.client(t)
	a.get(t, browser, "/") // sets the signed guest cookie
	a.dialWS(t, browser)
	a.dialWS(t, browser)
	f := waitFor(t, alice, "and 1 guest")
	if !strings.Contains(f, "<strong>2</strong> people online") {
		t.Errorf("two tabs of one guest and alice should be 2 people:\n%s", f)
	}
}

func TestCrossSiteWebSocketHandshakeIsRefused(t *testing.T) {
	a := newApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/live/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil {
		t.Fatal("handshake from a foreign origin was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("response = %v, want 403", resp)
	}
}

func TestOversizedMessageClosesWith1009(t *testing.T) {
	a := newApp(t)
	ws := a.dialWS(t, nil)
	ws.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.conn.Write(ctx, websocket.MessageText, make([]byte, 4<<10)); err != nil {
		t.Fatal(err)
	}
	if got, err := wstest.ReadUntilClose(ctx, ws.conn); got != websocket.StatusMessageTooBig {
		t.Errorf("close status %v (%v), want 1009", got, err)
	}
}

func TestShutdownClosesWebSocketsWith1012AndEndsStreams(t *testing.T) {
	a := newApp(t)
	ws := a.dialWS(t, nil)
	sse := a.dialSSE(t, nil)
	ws.next(t)
	sse.next(t)
	a.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := wstest.ReadUntilClose(ctx, ws.conn); got != websocket.StatusServiceRestart {
		t.Errorf("close status %v (%v), want 1012", got, err)
	}
	for {
		select {
		case _, ok := <-sse.events:
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatal("event stream did not end on shutdown")
		}
	}
}

func TestStaticAssetsAreServedImmutable(t *testing.T) {
	a := newApp(t)
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{assets.HTMX, assets.WS, assets.SSE, assets.Bulma, assets.Style, assets.Favicon} {
		resp, err := http.Get(a.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %s, Cache-Control %q", path, resp.Status, resp.Header.Get("Cache-Control"))
		}
	}
	resp, err := http.Get(a.srv.URL + "/static/nope/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %s, want 404", resp.Status)
	}
}

// TestFaviconIsServedAsSVG: the icon the pages link to and the
// /favicon.ico browsers ask for on their own are the same SVG; only the
// content-addressed one is cached forever.
func TestFaviconIsServedAsSVG(t *testing.T) {
	a := newApp(t)
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, c := range []struct {
		path, cache string
	}{
		{assets.Favicon, "public, max-age=31536000, immutable"},
		{"/favicon.ico", "public, max-age=86400"},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, err := http.NewRequest(method, a.srv.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" ||
				resp.Header.Get("Cache-Control") != c.cache {
				t.Errorf("%s %s: %s, Content-Type %q, Cache-Control %q; want 200, image/svg+xml, %q",
					method, c.path, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), c.cache)
			}
			if method == http.MethodGet {
				if !bytes.HasPrefix(body, []byte("<svg ")) {
					t.Errorf("GET %s: the body is not an SVG: %.80q", c.path, body)
				}
				bodies = append(bodies, body)
			}
		}
	}
	if len(bodies) == 2 && !bytes.Equal(bodies[0], bodies[1]) {
		t.Errorf("/favicon.ico is not the icon the pages link to")
	}
}
