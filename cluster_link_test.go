package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"herenow/handlers"
	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// testRedisURL is the Redis the cluster tests use.
const testRedisURL = "redis://127.0.0.1:6379/0"

func TestRedisWithoutASharedSecretIsRefused(t *testing.T) {
	err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--redis", testRedisURL},
		noEnv, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "HERENOW_JWT_SECRET") {
		t.Errorf("err = %v, want a refusal naming HERENOW_JWT_SECRET", err)
	}
}

// TestATakenPortIsAnErrorNotAHang: when the address is taken, run returns
// the listen error, naming the address, within 2 s, with or without
// --redis, and leaves no goroutine behind. (With --redis it used to wait
// for a signal: the cluster link kept running and run waited for it.)
func TestATakenPortIsAnErrorNotAHang(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for name, env := range map[string]map[string]string{
		"alone": {},
		"with --redis": {
			"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
			"HERENOW_REDIS_URL":    testRedisURL,
			"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
		},
	} {
		t.Run(name, func(t *testing.T) {
			others := goleak.IgnoreCurrent()
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), []string{"herenow", "--addr", addr, "--data", t.TempDir()},
					func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, io.Discard)
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), addr) {
					t.Errorf("run on a taken port returned %v, want an error naming %s", err, addr)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("run on a taken port did not return within 2 s")
			}
			goleak.VerifyNone(t, others)
		})
	}
}

// TestRunWithRedisLeavesNoGoroutineBehind serves with --redis, holds a live
// connection, and cancels: once run has returned, every goroutine it
// started has ended.
func TestRunWithRedisLeavesNoGoroutineBehind(t *testing.T) {
	others := goleak.IgnoreCurrent()
	env := map[string]string{
		"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
		"HERENOW_REDIS_URL":    testRedisURL,
		"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
	}
	addr := testkit.FreeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"herenow", "--addr", addr, "--data", t.TempDir()}, func(k string) string { return env[k] },
			strings.NewReader(""), io.Discard, &logs)
	}()
	waitServing(t, "http://"+addr, &logs)
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, "ws://"+addr+"/live/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if _, _, err := conn.Read(dctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	for { // answer the server's close (1012) as a browser would
		if _, _, err := conn.Read(dctx); err != nil {
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}
	conn.CloseNow()
	http.DefaultClient.CloseIdleConnections() // the test's own
	goleak.VerifyNone(t, others)
}

// TestTheClusterLinksOwnErrorEndsServing: should the link to the cluster
// break for good (here its Redis client is closed under it), serving stops
// and the link's error is returned, not dropped.
func TestTheClusterLinksOwnErrorEndsServing(t *testing.T) {
	others := goleak.IgnoreCurrent()
	logger := slog.New(slog.DiscardHandler)
	link, closeLink, err := joinCluster(testRedisURL, "herenow-test-"+rand.Text(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLink()
	cfg := config{redisURL: testRedisURL, tick: 10 * time.Millisecond, listLimit: 10, maxRooms: 10}
	site, stopKeeping, err := openPresence(context.Background(), cfg, logger, link, handlers.NewMetrics(), nil) // the cluster keeps the log
	if err != nil {
		t.Fatal(err)
	}
	defer stopKeeping()
	defer site.Close()
	serving := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- serveLinked(context.Background(), link, site, func(ctx context.Context) error {
			close(serving)
			<-ctx.Done() // serving until told to stop
			return nil
		})
	}()
	<-serving
	testkit.WaitUntil(t, waitLimit, "the link to be ready", func() bool { return link.Ready(context.Background()) == nil })
	closeLink()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cluster link") {
			t.Errorf("serveLinked returned %v, want the cluster link's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serving went on after the cluster link broke")
	}
	site.Close()
	goleak.VerifyNone(t, others)
}

// TestTwoInstancesShareOnePresence runs two real instances linked through
// Redis: a guest on A sees a guest connected to B, and then sees them go.
func TestTwoInstancesShareOnePresence(t *testing.T) {
	cluster := "herenow-test-" + rand.Text()
	env := func(k string) string {
		return map[string]string{
			"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
			"HERENOW_REDIS_URL":    testRedisURL,
			"HERENOW_CLUSTER_NAME": cluster,
			"HERENOW_GRACE":        "0s",
		}[k]
	}
	a, b := startInstance(t, env), startInstance(t, env)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(addr string) *websocket.Conn {
		t.Helper()
		return wstest.Dial(t, ctx, "ws://"+addr+"/live/ws", nil)
	}
	waitFrame := func(c *websocket.Conn, want string) {
		t.Helper()
		wstest.ReadUntil(t, ctx, c, want)
	}
	onA := dial(a)
	waitFrame(onA, "<strong>1</strong> person online")
	onB := dial(b)
	waitFrame(onA, "<strong>2</strong> people online")
	onB.Close(websocket.StatusGoingAway, "")
	waitFrame(onA, "<strong>1</strong> person online")
}

// TestAKilledInstancesPeopleGoOfflineEverywhereOnce starts three real
// instances sharing Redis, signs bob in on B with a tab in the lobby and
// one in standup, kills B with SIGKILL (no cleanup) and checks that A and
// C both show bob offline within the expiry plus grace period, and A's
// standup viewer shows him gone from the room, each saying so exactly
// once.
func TestAKilledInstancesPeopleGoOfflineEverywhereOnce(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herenow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	users := filepath.Join(t.TempDir(), "users.db") // one user database for all three
	env := append(os.Environ(),
		"HERENOW_JWT_SECRET=a shared secret of at least thirty-two bytes",
		"HERENOW_REDIS_URL="+testRedisURL,
		"HERENOW_CLUSTER_NAME=herenow-test-"+rand.Text(),
		"HERENOW_DATABASE="+users,
	)
	add := exec.Command(bin, "--data", t.TempDir(), "user", "add", "bob")
	add.Env, add.Stdin = env, strings.NewReader("bob's password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add bob: %v\n%s", err, out)
	}
	start := func() (string, *exec.Cmd) {
		t.Helper()
		addr := testkit.FreeLoopbackAddr(t)
		cmd := exec.Command(bin, "--addr", addr, "--data", t.TempDir())
		var logs testkit.LogBuffer
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		waitServing(t, "http://"+addr, &logs)
		return addr, cmd
	}
	a, _ := start()
	b, killable := start()
	c, _ := start()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	viewers := map[string]*websocket.Conn{}
	for name, url := range map[string]string{"A": a + "/live/ws", "C": c + "/live/ws", "A's standup": a + "/r/standup/live/ws"} {
		conn, _, err := websocket.Dial(ctx, "ws://"+url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		viewers[name] = conn
	}

	cookies := loginCookies(t, b, "bob", "bob's password")
	bob, _, err := websocket.Dial(ctx, "ws://"+b+"/live/ws", &websocket.DialOptions{HTTPHeader: cookies})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.CloseNow()
	bobInStandup, _, err := websocket.Dial(ctx, "ws://"+b+"/r/standup/live/ws", &websocket.DialOptions{HTTPHeader: cookies})
	if err != nil {
		t.Fatal(err)
	}
	defer bobInStandup.CloseNow()

	// readUntil reads a viewer's frames until one contains want.
	readUntil := func(name, want string) {
		t.Helper()
		for {
			_, f, err := viewers[name].Read(ctx)
			if err != nil {
				t.Fatalf("%s waiting for %q: %v", name, want, err)
			}
			if strings.Contains(string(f), want) {
				return
			}
		}
	}
	for name := range viewers {
		readUntil(name, `<span class="user-name-text">bob<`)
	}

	killed := time.Now()
	if err := killable.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for name := range viewers {
		readUntil(name, `<li id="u-1" hx-swap-oob="delete">`)
		if waited := time.Since(killed); waited > 30*time.Second {
			t.Errorf("%s showed bob offline %v after the kill, want within 30 s", name, waited)
		}
	}
	// Each said so once: nothing more about bob for the next heartbeat and
	// a half, and one "went offline" entry in the log.
	quiet, stop := context.WithTimeout(ctx, 7500*time.Millisecond)
	defer stop()
	for name, conn := range viewers {
		for {
			_, f, err := conn.Read(quiet)
			if err != nil {
				break // the quiet period ended
			}
			if strings.Contains(string(f), "bob") {
				t.Errorf("%s said more about bob after his departure:\n%s", name, f)
			}
		}
	}
	for name, addr := range map[string]string{"A": a, "C": c} {
		page := httpGet(t, "http://"+addr+"/")
		if n := strings.Count(page, "bob</strong> went offline"); n != 1 {
			t.Errorf("%s's log says bob went offline %d times, want once", name, n)
		}
	}
	if n := strings.Count(httpGet(t, "http://"+a+"/r/standup"), "bob</strong> left"); n != 1 {
		t.Errorf("A's standup log says bob left %d times, want once", n)
	}
}

// TestThreeInstancesOnLoopback runs three instances through run, with one
// user database: a guest on A sees alice arrive on B, 20 times (the time
// each took is reported, not asserted: the box is shared), and alice with
// tabs on A and C counts once.
func TestThreeInstancesOnLoopback(t *testing.T) {
	env := map[string]string{
		"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
		"HERENOW_REDIS_URL":    testRedisURL,
		"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
		"HERENOW_DATABASE":     filepath.Join(t.TempDir(), "users.db"),
		"HERENOW_GRACE":        "0s",
	}
	getenv := func(k string) string { return env[k] }
	if err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "user", "add", "alice"}, getenv,
		strings.NewReader("alice's password\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	a, b, c := startInstance(t, getenv), startInstance(t, getenv), startInstance(t, getenv)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cookies := loginCookies(t, b, "alice", "alice's password")
	dial := func(addr string, h http.Header) *websocket.Conn {
		t.Helper()
		return wstest.Dial(t, ctx, "ws://"+addr+"/live/ws", h)
	}
	readUntil := func(conn *websocket.Conn, want string) {
		t.Helper()
		wstest.ReadUntil(t, ctx, conn, want)
	}

	guest := dial(a, nil)
	readUntil(guest, "<strong>1</strong> person online")
	var took []time.Duration
	for range 20 {
		// Let the last change (the guest's own arrival, or alice's
		// departure and its log entry from the log writer, each hop of
		// which may wait a tick) settle, so that this arrival is an
		// isolated one: the first change after a quiet spell goes out at
		// once.
		time.Sleep(400 * time.Millisecond)
		began := time.Now()
		alice := dial(b, cookies)
		readUntil(guest, `<span class="user-name-text">alice<`)
		took = append(took, time.Since(began))
		alice.Close(websocket.StatusGoingAway, "")
		readUntil(guest, `<li id="u-1" hx-swap-oob="delete">`)
	}
	slices.Sort(took)
	t.Logf("alice on B reached the guest on A: p50 %v, p99 %v, max %v over %d arrivals",
		took[len(took)/2], took[len(took)*99/100], took[len(took)-1], len(took))

	dial(a, cookies) // alice's tabs on A and C
	dial(c, cookies)
	readUntil(guest, "2 tabs")
	// The page counts its own viewer too, a guest new to it.
	if page := httpGet(t, "http://"+a+"/"); !strings.Contains(page, "<strong>3</strong> people online") {
		t.Error("A's page does not count the guest, alice (tabs on A and C) and its viewer as 3 people")
	}
}

// startInstance runs the program on a free loopback port with getenv as its
// environment, waits until it serves and is ready, and returns its address.
// Cleanup stops it and requires a clean exit.
func startInstance(t *testing.T, getenv func(string) string) string {
	t.Helper()
	addr, _ := startInstanceIn(t, getenv, t.TempDir())
	return addr
}

// startInstanceIn is startInstance on the data directory data, and returns
// too a func that stops the instance (at once, or at cleanup at the
// latest) and requires a clean exit.
func startInstanceIn(t *testing.T, getenv func(string) string, data string) (addr string, stop func()) {
	t.Helper()
	addr = testkit.FreeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"herenow", "--addr", addr, "--data", data}, getenv, strings.NewReader(""), &bytes.Buffer{}, &logs)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("instance on %s: %v\n%s", addr, err, logs.String())
			}
		})
	}
	t.Cleanup(stop)
	waitServing(t, "http://"+addr, &logs)
	if body := httpGet(t, "http://"+addr+"/readyz"); !strings.Contains(body, "ready") {
		t.Errorf("instance on %s is not ready: %q", addr, body)
	}
	return addr, stop
}

// loginCookies signs name in on the instance at addr through POST /login
// and returns the Cookie header its browser would send.
func loginCookies(t *testing.T, addr, name, password string) http.Header {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm("http://"+addr+"/login", url.Values{"username": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s on %s: %s", name, addr, resp.Status)
	}
	cookies := http.Header{}
	for _, ck := range jar.Cookies(&url.URL{Scheme: "http", Host: addr}) {
		cookies.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return cookies
}

// TestALogoutOnOneInstanceEndsTheSessionOnAll runs two instances sharing
// one user database, with Redis and without: alice signs in on A, opens
// her page's WebSocket on B, and logs out on A. B must close that
// WebSocket (1012, so her page reconnects as a guest) within a few
// seconds, and refuse her old cookie, as A does.
func TestALogoutOnOneInstanceEndsTheSessionOnAll(t *testing.T) {
	for _, redisURL := range []string{testRedisURL, ""} {
		name := "with redis"
		if redisURL == "" {
			name = "without redis"
		}
		t.Run(name, func(t *testing.T) {
			env := map[string]string{
				"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
				"HERENOW_REDIS_URL":    redisURL,
				"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
				"HERENOW_DATABASE":     filepath.Join(t.TempDir(), "users.db"), // one for both
			}
			getenv := func(k string) string { return env[k] }
			if err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "user", "add", "alice"}, getenv,
				strings.NewReader("alice's password\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			a, b := startInstance(t, getenv), startInstance(t, getenv)
			cookies := loginCookies(t, a, "alice", "alice's password")

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			onB, _, err := websocket.Dial(ctx, "ws://"+b+"/live/ws", &websocket.DialOptions{HTTPHeader: cookies})
			if err != nil {
				t.Fatal(err)
			}
			defer onB.CloseNow()

			logout(t, ctx, a, cookies)
			loggedOut := time.Now()
			// Frames sent before the logout reached B come first.
			if got, err := wstest.ReadUntilClose(ctx, onB); got != websocket.StatusServiceRestart {
				t.Fatalf("alice's WebSocket on B ended with %v (status %d), want a close with 1012", err, got)
			}
			if took := time.Since(loggedOut); took > 5*time.Second {
				t.Errorf("her WebSocket on B ended %v after the logout, want within a few seconds", took)
			}
			for _, addr := range []string{a, b} {
				if pageGreets(t, ctx, addr, cookies) {
					t.Errorf("after logging out on A, alice's old cookie still signs her in on %s", addr)
				}
			}
		})
	}
}

// logout posts /logout on the instance at addr with cookies and requires
// the redirect home.
func logout(t *testing.T, ctx context.Context, addr string, cookies http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = cookies.Clone()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout on %s: %s", addr, resp.Status)
	}
}

// TestALogoutSurvivesARestart runs one instance, without Redis, on a data
// directory: alice signs in twice and logs out of one session. Started
// again on the same data, the instance takes the logged-out cookie for a
// guest, on the page and in a WebSocket handshake, and the other session
// still signs her in (the signing secret is the same: it is the logout that
// is remembered).
func TestALogoutSurvivesARestart(t *testing.T) {
	data := t.TempDir()
	if err := run(context.Background(), []string{"herenow", "--data", data, "user", "add", "alice"}, noEnv,
		strings.NewReader("alice's password\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, stop := startInstanceIn(t, noEnv, data)
	loggedOut, kept := loginCookies(t, addr, "alice", "alice's password"), loginCookies(t, addr, "alice", "alice's password")
	logout(t, ctx, addr, loggedOut)
	stop()

	addr, _ = startInstanceIn(t, noEnv, data)
	if pageGreets(t, ctx, addr, loggedOut) {
		t.Error("after a restart, the cookie of a session logged out before it signs alice in")
	}
	if !pageGreets(t, ctx, addr, kept) {
		t.Error("after a restart, the cookie of a session not logged out is a guest")
	}
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/live/ws", &websocket.DialOptions{HTTPHeader: loggedOut})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for {
		_, f, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the page's first count: %v", err)
		}
		if strings.Contains(string(f), "<strong>1</strong> person online") {
			if strings.Contains(string(f), "alice") {
				t.Errorf("after a restart, a handshake with the logged-out cookie counts as alice:\n%s", f)
			}
			break
		}
	}
}
