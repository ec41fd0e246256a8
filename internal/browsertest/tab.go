package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Options adjust the tabs of one Chromium. The zero value will do.
type Options struct {
	// Inspect is a JavaScript expression of a string that describes the
	// page as a failed wait left it, such as the markup of the region
	// under test; the failure message shows it. Empty: the page's URL.
	Inspect string
}

// Tab is one tab of a person's headless Chromium, and what it has
// recorded. A person's tabs share their Chromium, so their cookies; two
// people never share one.
type Tab struct {
	// Name says whose tab it is, in failure messages.
	Name string

	ctx  context.Context // the tab; has no deadline
	opts Options
	// closeTab closes this tab; for a person's first tab it ends their
	// Chromium.
	closeTab context.CancelFunc
	// recorded is closed once the tab's recorders have stopped.
	recorded chan struct{}

	mu         sync.Mutex
	console    []chromedp.ConsoleMessage
	violations []cspViolation
	responses  []htmlResponse
	// probes counts AssertConsole's deliberate violations; judged is how
	// much of console and violations the last one has judged.
	probes                          int
	consoleJudged, violationsJudged int
}

// htmlResponse is an HTML response the tab received: a page or a fragment.
type htmlResponse struct {
	url string
	csp string
}

// NewBrowser starts Chromium with a fresh profile, so with no cookies, and
// opens its first tab, named name. Cleanup closes it. Without Chromium it
// skips or fails the test, as RequireChromium does.
func NewBrowser(t testing.TB, name string, opts Options) *Tab {
	t.Helper()
	path := RequireChromium(t)
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
	return openTab(t, name, opts, ctx, cancel)
}

// NewTab opens another tab in the same Chromium, so with the same cookies
// and options. Cleanup closes it, unless Close did.
func (tab *Tab) NewTab(t testing.TB, name string) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tab.ctx)
	return openTab(t, name, tab.opts, ctx, cancel)
}

// Close closes the tab, as a person closes it, and returns once its
// recorders have stopped.
func (tab *Tab) Close() {
	tab.closeTab()
	<-tab.recorded
}

// openTab creates the tab of ctx and starts its recorders.
func openTab(t testing.TB, name string, opts Options, ctx context.Context, cancel context.CancelFunc) *Tab {
	t.Helper()
	tab := &Tab{Name: name, ctx: ctx, opts: opts, closeTab: cancel, recorded: make(chan struct{})}
	t.Cleanup(func() {
		tab.Close()
		if t.Failed() {
			t.Logf("%s's console:\n%s", tab.Name, tab.ConsoleText())
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
			close(tab.recorded)
			t.Fatalf("open %s's tab: %v", name, err)
		}
	case <-time.After(time.Minute):
		cancel()
		close(tab.recorded)
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
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
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
			tab.mu.Lock()
			tab.violations = append(tab.violations, v)
			tab.mu.Unlock()
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
			tab.mu.Lock()
			tab.responses = append(tab.responses, htmlResponse{url: ev.Response.URL, csp: header(ev.Response.Headers, "Content-Security-Policy")})
			tab.mu.Unlock()
		}
	})
	go func() {
		recorders.Wait()
		close(tab.recorded)
	}()

	tab.Run(t, "listen for CSP violations", func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
		return err
	})
	return tab
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

// Run runs f against the tab, with a context bounded by WaitLimit, and
// fails the test with what when f fails.
func (tab *Tab) Run(t testing.TB, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, WaitLimit)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatalf("%s: %s: %v", tab.Name, what, err)
	}
}

// Navigate opens u in the tab and requires a 200.
func (tab *Tab) Navigate(t testing.TB, u string) {
	t.Helper()
	tab.Run(t, "open "+u, func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
		if err == nil && resp.Status != http.StatusOK {
			err = fmt.Errorf("status %d", resp.Status)
		}
		return err
	})
}

// Reload reloads the tab's page, as a person presses F5.
func (tab *Tab) Reload(t testing.TB) {
	t.Helper()
	tab.Run(t, "reload the page", func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Reload()) })
}

// WaitJS polls the JavaScript expression until it is true, for at most
// WaitLimit. It evaluates over the DevTools protocol, which the page's CSP
// does not restrict. (chromedp.Poll would not do: it compiles the
// predicate with new Function inside the page, which script-src 'self'
// forbids, and the refusal would itself be a CSP violation.)
func (tab *Tab) WaitJS(t testing.TB, what, expr string) {
	t.Helper()
	tab.WaitJSWithin(t, WaitLimit, what, expr)
}

// WaitJSWithin is WaitJS with its own limit, for a step that promises to
// be quick or may be slow.
func (tab *Tab) WaitJSWithin(t testing.TB, limit time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tab.ctx, WaitLimit)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err // e.g. the page is navigating; try again
		}
		if tab.ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("%s: waited %v for: %s (last error: %v)\n%s",
				tab.Name, limit, what, lastErr, tab.inspect())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Eval returns the value of a JavaScript expression in the tab's page,
// which must be JSON that fits T.
func Eval[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	var v T
	tab.Run(t, "evaluate "+expr, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return v
}

// inspect describes the page for a failure message, with Options.Inspect.
func (tab *Tab) inspect() string {
	expr := tab.opts.Inspect
	if expr == "" {
		expr = `'the page: ' + location.href`
	}
	ctx, cancel := context.WithTimeout(tab.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return "(the page is unreadable: " + err.Error() + ")"
	}
	return s
}

// Screenshot saves the tab's page as name.png in the test's artifact
// directory (kept with go test -artifacts), logs its path and returns it.
func (tab *Tab) Screenshot(t testing.TB, name string) string {
	t.Helper()
	var png []byte
	tab.Run(t, "take a screenshot", func(ctx context.Context) (err error) {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	})
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot of %s's tab: %s", tab.Name, path)
	return path
}
