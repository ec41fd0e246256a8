package main

// The harness of the real-browser tests: headless Chromium, one profile per
// person, driven over the DevTools protocol with chromedp v0.23.0 (whose
// generic API returns each action's value from chromedp.Run and runs
// value-less steps with chromedp.Do), and the program itself (run) on a
// loopback port.
//
// Every tab records three things from before its first navigation: its
// console (console API calls, uncaught exceptions and the browser's own log),
// every securitypolicyviolation event its documents fire, and the HTML
// responses it receives. assertConsole and assertStrictPage judge them.
//
// Chromium comes from Debian's chromium package (`go tool task chromium`).
// Without it the browser tests skip with a message saying so, except under
// CI (CI=true), where a missing browser fails them: a skipped browser test
// must not pass CI unnoticed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

const (
	alicePassword = "correct horse"

	// waitLimit bounds every wait on the page or the server.
	waitLimit = 10 * time.Second
	// testGrace is the app's --grace: how long alice still counts as online
	// after her last connection closed. A reload must fit inside it: on a
	// loaded 2-core machine under -race, Chromium took 345 ms between closing
	// the old page's WebSocket and opening the new one, so 300 ms made the
	// reload test flaky; 3 s leaves a wide margin at little cost.
	testGrace = 3 * time.Second
)

// requireChromium returns the path of Chromium. When there is none it skips
// the test with a message, or fails it under CI.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "the browser tests need Chromium: apt-get install -y chromium (or go tool task chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI a missing browser is a failure")
	}
	t.Skip(msg + "; skipped, as CI is not set to true")
	return ""
}

// testApp is the program, run in this process on a loopback port, with a
// data directory (users, signing secret) that outlives a restart.
type testApp struct {
	t    *testing.T
	addr string
	data string
	base string
	logs *lockedBuffer
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
	a := &testApp{t: t, data: t.TempDir(), addr: freeLoopbackAddr(t), logs: &lockedBuffer{}, args: args}
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

// waitUntil polls cond until it holds, for at most waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for: %s", waitLimit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}

// browser is one tab of a person's headless Chromium, and what it has
// recorded. A person's tabs share their Chromium, so their cookies; two
// people never share one.
type browser struct {
	name string
	ctx  context.Context // the tab; has no deadline
	// closeTab closes this tab; for a person's first tab it ends their
	// Chromium.
	closeTab context.CancelFunc
	// recorded is closed once the tab's recorders have stopped.
	recorded chan struct{}

	mu         sync.Mutex
	console    []chromedp.ConsoleMessage
	violations []cspViolation
	responses  []htmlResponse
}

// cspViolation is a securitypolicyviolation event, as the page saw it.
type cspViolation struct {
	Directive  string `json:"directive"`
	BlockedURI string `json:"blockedURI"`
	SourceFile string `json:"sourceFile"`
	Line       int    `json:"line"`
	Sample     string `json:"sample"`
}

func (v cspViolation) String() string {
	return fmt.Sprintf("%s blocked %q at %s:%d (sample %q)", v.Directive, v.BlockedURI, v.SourceFile, v.Line, v.Sample)
}

// htmlResponse is an HTML response the tab received: a page or a fragment.
type htmlResponse struct {
	url string
	csp string
}

// cspBinding is the function through which the tab reports
// securitypolicyviolation events. It is a DevTools binding and the listener
// is injected over the protocol, so neither is subject to the page's CSP,
// and neither is an inline script in the page.
const cspBinding = "herenowReportCSPViolation"

var cspListener = `document.addEventListener('securitypolicyviolation', e => ` + cspBinding + `(JSON.stringify({
	directive: e.violatedDirective, blockedURI: e.blockedURI, sourceFile: e.sourceFile, line: e.lineNumber, sample: e.sample,
})));`

// newBrowser starts Chromium with a fresh profile and opens its first tab.
// Cleanup closes it.
func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	path := requireChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Its own profile, so that two people share no cookies.
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	return openTab(t, name, ctx, cancel)
}

// newTab opens another tab in the same Chromium, so with the same cookies.
// Cleanup closes it, unless closeTab did.
func (b *browser) newTab(t *testing.T, name string) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	return openTab(t, name, ctx, cancel)
}

// close closes the tab, as a person closes it, once its recorders have
// stopped.
func (b *browser) close() {
	b.closeTab()
	<-b.recorded
}

// openTab creates the tab of ctx and starts its recorders.
func openTab(t *testing.T, name string, ctx context.Context, cancel context.CancelFunc) *browser {
	t.Helper()
	b := &browser{name: name, ctx: ctx, closeTab: cancel, recorded: make(chan struct{})}
	t.Cleanup(func() {
		b.close()
		if t.Failed() {
			t.Logf("%s's console:\n%s", b.name, b.consoleText())
		}
	})

	// The first action creates the tab (and starts the browser); it must
	// run on a context without a deadline, as the deadline would end the
	// tab too.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			close(b.recorded)
			t.Fatalf("open %s's tab: %v", name, err)
		}
	case <-time.After(time.Minute):
		cancel()
		close(b.recorded)
		t.Fatalf("%s's tab did not open within a minute", name)
	}

	// Subscribe before the first navigation, so that nothing is lost.
	messages := chromedp.Console(ctx)
	reports := chromedp.Events(ctx, runtime.BindingCalled)
	responses := chromedp.Events(ctx, network.ResponseReceived)
	var recorders sync.WaitGroup
	recorders.Go(func() {
		for m, err := range messages {
			if err != nil {
				return // the tab closed
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	})
	recorders.Go(func() {
		for ev, err := range reports {
			if err != nil {
				return
			}
			if ev.Name != cspBinding {
				continue
			}
			var v cspViolation
			if err := json.Unmarshal([]byte(ev.Payload), &v); err != nil {
				v = cspViolation{Directive: "(unreadable report: " + err.Error() + ")", Sample: ev.Payload}
			}
			b.mu.Lock()
			b.violations = append(b.violations, v)
			b.mu.Unlock()
		}
	})
	recorders.Go(func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			if mt, _, _ := mime.ParseMediaType(ev.Response.MimeType); mt != "text/html" {
				continue
			}
			b.mu.Lock()
			b.responses = append(b.responses, htmlResponse{url: ev.Response.URL, csp: header(ev.Response.Headers, "Content-Security-Policy")})
			b.mu.Unlock()
		}
	})
	go func() {
		recorders.Wait()
		close(b.recorded)
	}()

	b.run(t, "listen for CSP violations", func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
		return err
	})
	return b
}

// header returns the named response header, whatever its case.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// run runs f against the tab, bounded by waitLimit.
func (b *browser) run(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

func (b *browser) navigate(t *testing.T, u string) {
	t.Helper()
	b.run(t, "open "+u, func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
		if err == nil && resp.Status != http.StatusOK {
			err = fmt.Errorf("status %d", resp.Status)
		}
		return err
	})
}

// reload reloads the tab's page, as a person presses F5.
func (b *browser) reload(t *testing.T) {
	t.Helper()
	b.run(t, "reload the page", func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Reload()) })
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
	b.navigate(t, base+"/login")
	b.run(t, "log in as "+name, func(ctx context.Context) error {
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
	b.run(t, "click Log out", func(ctx context.Context) error {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
		if err == nil && resp.Status != http.StatusOK {
			err = fmt.Errorf("the page after logging out answered %d", resp.Status)
		}
		return err
	})
}

// waitJS polls the JavaScript expression until it is true, for at most
// waitLimit. It evaluates over the DevTools protocol, which the page's CSP
// does not restrict. (chromedp.Poll would not do: it compiles the predicate
// with new Function inside the page, which script-src 'self' forbids, and
// the refusal would itself be a CSP violation.)
func (b *browser) waitJS(t *testing.T, what, expr string) {
	t.Helper()
	b.waitJSWithin(t, waitLimit, what, expr)
}

// waitJSWithin is waitJS with its own limit, for a step that promises to
// be quick.
func (b *browser) waitJSWithin(t *testing.T, limit time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err // e.g. the page is navigating; try again
		}
		if b.ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("%s: waited %v for: %s (last error: %v)\n#live now: %s",
				b.name, limit, what, lastErr, b.liveHTML())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	var v T
	b.run(t, "evaluate "+expr, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return v
}

// liveHTML returns the live region's markup, for failure messages.
func (b *browser) liveHTML() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('live')?.outerHTML ?? '(no #live on ' + location.href + ')'`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return html
}

// screenshot saves the tab's page as name.png in the test's artifact
// directory (kept with go test -artifacts) and logs its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	var png []byte
	b.run(t, "take a screenshot", func(ctx context.Context) (err error) {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	})
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot of %s's tab: %s", b.name, path)
	return path
}

// consoleRule allows console messages of one kind.
type consoleRule struct {
	why    string
	typ    chromedp.ConsoleType
	source string // the browser log's source; "" for a console API call
	text   *regexp.Regexp
	url    *regexp.Regexp // where the message came from
	must   bool           // at least one such message must have appeared
}

func (r consoleRule) matches(m chromedp.ConsoleMessage) bool {
	return m.Type == r.typ && m.Source == r.source && r.text.MatchString(m.Text) && r.url.MatchString(m.URL)
}

// cspProbeURL is an image the page's img-src forbids; loading it is a CSP
// violation made on purpose.
const cspProbeURL = "http://192.0.2.1/herenow-csp-probe.png"

// assertConsole fails the test for every console message, exception or
// browser-log entry that no rule allows, for every rule marked must that
// matched nothing, and for every CSP violation, which no rule can allow.
//
// It first proves that both the console and the securitypolicyviolation
// listener would show a violation: it makes one on purpose and waits for
// both reports. Chromium reports a tab's events in order, so the reports
// also mean that every earlier event has been recorded; the probe's own
// are then left out.
func (b *browser) assertConsole(t *testing.T, allowed []consoleRule) {
	t.Helper()
	b.run(t, "make a CSP violation on purpose", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`document.body.appendChild(Object.assign(document.createElement('img'), {src: %s, alt: ''}))`,
			strconv.Quote(cspProbeURL))))
	})
	inConsole, inListener := -1, -1
	deadline := time.Now().Add(waitLimit)
	for inConsole < 0 || inListener < 0 {
		b.mu.Lock()
		inConsole = slices.IndexFunc(b.console, func(m chromedp.ConsoleMessage) bool {
			return strings.Contains(m.Text, cspProbeURL) && strings.Contains(m.Text, "Content Security Policy")
		})
		inListener = slices.IndexFunc(b.violations, func(v cspViolation) bool { return v.BlockedURI == cspProbeURL })
		b.mu.Unlock()
		if inConsole >= 0 && inListener >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the deliberate CSP violation (%s) was not reported within %v (console: %t, "+
				"securitypolicyviolation: %t), so neither can be trusted to report a real one; console:\n%s",
				b.name, cspProbeURL, waitLimit, inConsole >= 0, inListener >= 0, b.consoleText())
		}
		time.Sleep(25 * time.Millisecond)
	}

	b.mu.Lock()
	seen := slices.Clone(b.console[:inConsole])
	violations := slices.Clone(b.violations[:inListener])
	b.mu.Unlock()
	for _, v := range violations {
		t.Errorf("%s: CSP violation: %s", b.name, v)
	}
	matched := make([]int, len(allowed))
	for _, m := range seen {
		ok := false
		for i, r := range allowed {
			if r.matches(m) {
				matched[i]++
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: unexpected console message: %s (source %q, url %s:%d)", b.name, m, m.Source, m.URL, m.Line+1)
		}
	}
	for i, r := range allowed {
		if r.must && matched[i] == 0 {
			t.Errorf("%s: no console message of this expected kind appeared: %s", b.name, r.why)
		}
	}
}

// waitConsole waits until the tab's console shows a message that match
// accepts.
func (b *browser) waitConsole(t *testing.T, limit time.Duration, what string, match func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		b.mu.Lock()
		seen := slices.ContainsFunc(b.console, match)
		b.mu.Unlock()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited %v for the console to show %s; it shows:\n%s", b.name, limit, what, b.consoleText())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// assertStrictPage checks what lets the page run under a strict CSP: every
// HTML response the tab received (pages and fragments) carried a policy
// whose script-src is 'self' alone and which allows nothing unsafe; the
// page now shown has no inline script, style element, style attribute or
// inline event handler; and htmx runs with eval disallowed and without its
// injected indicator styles.
func (b *browser) assertStrictPage(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	responses := slices.Clone(b.responses)
	b.mu.Unlock()
	if len(responses) == 0 {
		t.Errorf("%s: the tab received no HTML response to check", b.name)
	}
	for _, r := range responses {
		if err := checkStrictCSP(r.csp); err != nil {
			t.Errorf("%s: %s: %v", b.name, r.url, err)
		}
	}

	inline := eval[[]string](t, b, `[
		...[...document.querySelectorAll('script:not([src])')].map(e => 'inline script: ' + e.outerHTML.slice(0, 80)),
		...[...document.querySelectorAll('style')].map(e => 'style element: ' + e.outerHTML.slice(0, 80)),
		...[...document.querySelectorAll('[style]')].map(e => 'style attribute on <' + e.localName + '>'),
		...[...document.querySelectorAll('*')].flatMap(e => e.getAttributeNames()
			.filter(n => n.startsWith('on') || n.startsWith('hx-on'))
			.map(n => 'inline handler ' + n + ' on <' + e.localName + '>')),
	]`)
	for _, s := range inline {
		t.Errorf("%s: the page has %s", b.name, s)
	}
	config := eval[map[string]any](t, b,
		`({allowEval: htmx.config.allowEval, includeIndicatorStyles: htmx.config.includeIndicatorStyles})`)
	if config["allowEval"] != false || config["includeIndicatorStyles"] != false {
		t.Errorf("%s: htmx runs with %v, want allowEval and includeIndicatorStyles false", b.name, config)
	}
}

// checkStrictCSP reports what in a Content-Security-Policy would let a
// script run that is not a file from the page's own origin.
func checkStrictCSP(policy string) error {
	if policy == "" {
		return fmt.Errorf("no Content-Security-Policy")
	}
	if strings.Contains(policy, "'unsafe-") {
		return fmt.Errorf("Content-Security-Policy %q allows something unsafe", policy)
	}
	for directive := range strings.SplitSeq(policy, ";") {
		fields := strings.Fields(directive)
		if len(fields) > 0 && fields[0] == "script-src" {
			if !slices.Equal(fields[1:], []string{"'self'"}) {
				return fmt.Errorf("Content-Security-Policy %q: script-src is not 'self' alone", policy)
			}
			return nil
		}
	}
	return fmt.Errorf("Content-Security-Policy %q has no script-src", policy)
}

func TestCheckStrictCSPRefusesWhatWouldLetScriptsIn(t *testing.T) {
	for policy, strict := range map[string]bool{
		"default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'": true,
		"":                                false,
		"default-src 'self'":              false, // no script-src of its own
		"script-src 'self' 'unsafe-eval'": false,
		"script-src 'self'; style-src 'self' 'unsafe-inline'": false,
		"script-src 'self' https://cdn.example":               false,
		"script-src 'self' 'nonce-abc'":                       false,
	} {
		if err := checkStrictCSP(policy); (err == nil) != strict {
			t.Errorf("checkStrictCSP(%q) = %v, want strict %t", policy, err, strict)
		}
	}
}

func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, m := range b.console {
		fmt.Fprintf(&s, "  %s (source %q, url %s:%d)\n", m, m.Source, m.URL, m.Line+1)
	}
	for _, v := range b.violations {
		fmt.Fprintf(&s, "  securitypolicyviolation: %s\n", v)
	}
	if s.Len() == 0 {
		return "  (nothing)\n"
	}
	return s.String()
}

// lockedBuffer is a bytes.Buffer safe for the server's concurrent logging.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
