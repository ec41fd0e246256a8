package main

// The harness of the tests that run the program itself (run) on a loopback
// port, with the real browser's share of it: a person's headless Chromium
// (internal/browsertest), as it signs in and out through the app's form.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"herenow/internal/browsertest"
	"herenow/internal/testkit"
)

const (
	alicePassword = "correct horse"

	// waitLimit bounds every wait on the page or the server, as
	// browsertest bounds every step on a tab.
	waitLimit = browsertest.WaitLimit
	// testGrace is the app's --grace: how long alice still counts as online
	// after her last connection closed. A reload must fit inside it: on a
	// loaded 2-core machine under -race, Chromium took 345 ms between closing
	// the old page's WebSocket and opening the new one, so 300 ms made the
	// reload test flaky; 3 s leaves a wide margin at little cost.
	testGrace = 3 * time.Second
)

// testApp is the program, run in this process on a loopback port, with a
// data directory (users, signing secret) that outlives a restart.
type testApp struct {
	t    *testing.T
	addr string
	data string
	base string
	logs *testkit.LogBuffer
	args []string // flags beside the harness's own, such as --heartbeat
	stop func()   // stops the running server and checks its clean exit; nil when stopped
}

// startApp runs the program with user alice and returns its base URL.
func startApp(t *testing.T) string {
	return newTestApp(t).base
}

// newTestApp adds user alice, and each of others with the password
// passwordOf returns, and starts the program on a free loopback port.
// Cleanup stops it and requires a clean exit.
func newTestApp(t *testing.T, others ...string) *testApp {
	t.Helper()
	return newTestAppWith(t, nil, others...)
}

// newTestAppWith is newTestApp with flags of its own, given at every start.
func newTestAppWith(t *testing.T, args []string, others ...string) *testApp {
	t.Helper()
	a := &testApp{t: t, data: t.TempDir(), addr: testkit.FreeLoopbackAddr(t), logs: &testkit.LogBuffer{}, args: args}
	a.base = "http://" + a.addr
	t.Cleanup(func() {
		if a.stop != nil {
			a.stop()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", a.logs.String())
		}
	})

	for _, name := range append([]string{"alice"}, others...) {
		var out bytes.Buffer
		args := []string{"herenow", "--data", a.data, "user", "add", name}
		if err := run(t.Context(), args, noEnv, strings.NewReader(passwordOf(name)+"\n"), &out, a.logs); err != nil {
			t.Fatalf("herenow user add %s: %v", name, err)
		}
		if !strings.Contains(out.String(), "added "+name) {
			t.Fatalf("herenow user add %s printed %q, want it to say \"added %s\"", name, out.String(), name)
		}
	}
	a.start()
	return a
}

// passwordOf is the password of a user that newTestApp adds.
func passwordOf(name string) string {
	if name == "alice" {
		return alicePassword
	}
	return name + "'s password"
}

// start serves on a.addr and returns once GET / answers 200.
func (a *testApp) start() {
	t := a.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// --log-window 0: the scenarios read each change as its own entry.
		args := append([]string{"herenow", "--addr", a.addr, "--data", a.data, "--grace", testGrace.String(), "--tick", "20ms", "--log-window", "0"}, a.args...)
		done <- run(ctx, args, noEnv, strings.NewReader(""), &bytes.Buffer{}, a.logs)
	}()
	a.stop = func() {
		a.stop = nil
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after its context ended, want nil", err)
			}
		case <-time.After(drainTimeout + 5*time.Second):
			t.Errorf("run did not return within %v of its context ending", drainTimeout+5*time.Second)
		}
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get(a.base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case err := <-done:
			a.stop = nil
			t.Fatalf("herenow stopped before serving: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/ did not answer 200 within %v: %v", a.base, waitLimit, err)
		}
	}
}

// restart stops the server, which closes every WebSocket with 1012 (service
// restart), and starts it again on the same port and data.
func (a *testApp) restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

// liveConnections counts the live connections of one kind of person
// ("user" or "guest") that the server has opened and closed, from its log.
// A connection's close is logged just before the hub lets it go.
func (a *testApp) liveConnections(person string) (opened, closed int) {
	return a.logLines(`msg="live connection opened" .*\bperson=` + person + `\b`),
		a.logLines(`msg="live connection closed" .*\bperson=` + person + `\b`)
}

// liveConnectionsClosedWith counts the WebSockets the server closed with
// the close code, from its log.
func (a *testApp) liveConnectionsClosedWith(code int) int {
	return a.logLines(`msg="live connection closed" .*\bcode=` + strconv.Itoa(code) + `\b`)
}

// logLines counts the server's log lines that match the pattern.
func (a *testApp) logLines(pattern string) int {
	return len(regexp.MustCompile(pattern).FindAllString(a.logs.String(), -1))
}

// passingGuest is a guest who connects over WebSocket, receives the first
// frame and leaves at once, as a browser leaves a page. Their departure is
// logged one grace period after they left.
func (a *testApp) passingGuest(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+a.addr+"/live/ws", nil)
	if err != nil {
		t.Fatalf("a passing guest's WebSocket: %v", err)
	}
	if _, _, err := conn.Read(ctx); err != nil {
		t.Fatalf("a passing guest's first frame: %v", err)
	}
	if err := conn.Close(websocket.StatusGoingAway, ""); err != nil {
		t.Fatalf("a passing guest leaves: %v", err)
	}
}

// browser is one tab of a person's headless Chromium, with what they do
// there that only this app knows: signing in and out through its forms.
type browser struct {
	*browsertest.Tab
}

// newBrowser starts a person's Chromium, with a fresh profile, and opens
// its first tab. Cleanup closes it. A failed wait shows the live region.
func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	return &browser{browsertest.NewBrowser(t, name, browsertest.Options{Inspect: liveNow})}
}

// liveNow shows the live region's markup, for failure messages.
const liveNow = `'#live now: ' + (document.getElementById('live')?.outerHTML ?? '(no #live on ' + location.href + ')')`

// newTab opens another tab in the same Chromium, so with the same cookies.
// Cleanup closes it, unless Close did.
func (b *browser) newTab(t *testing.T, name string) *browser {
	t.Helper()
	return &browser{b.NewTab(t, name)}
}

// login signs in as alice through the form at base/login, as a person
// would: type, then click the button.
func (b *browser) login(t *testing.T, base string) {
	t.Helper()
	b.loginAs(t, base, "alice")
}

// loginAs signs in as a user that newTestApp added, as login does.
func (b *browser) loginAs(t *testing.T, base, name string) {
	t.Helper()
	b.Navigate(t, base+"/login")
	b.Run(t, "log in as "+name, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("input#username"), name),
			chromedp.SendKeys(chromedp.CSS("input#password"), passwordOf(name)),
		); err != nil {
			return err
		}
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/") {
			return fmt.Errorf("the login landed on %s with status %d, want / with 200", resp.URL, resp.Status)
		}
		return nil
	})
}

// logout clicks "Log out"; the browser follows the redirect to / and shows
// the page as a guest.
func (b *browser) logout(t *testing.T) {
	t.Helper()
	b.Run(t, "click Log out", func(ctx context.Context) error {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
		if err == nil && resp.Status != http.StatusOK {
			err = fmt.Errorf("the page after logging out answered %d", resp.Status)
		}
		return err
	})
}
