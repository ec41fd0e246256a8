package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"herenow/internal/browsertest"
	"herenow/internal/testkit"
)

// strictCSP is a policy CheckStrictCSP accepts.
const strictCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"

// site serves pages to judge: "/" keeps to the strict policy, "/loose"
// breaks it with an inline script and a style attribute, and "/no-csp"
// has no policy. Each loads a stand-in for htmx, configured as a strict
// page's htmx must be.
func site(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /htmx.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`window.htmx = {config: {allowEval: false, includeIndicatorStyles: false}};`))
	})
	page := func(csp, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if csp != "" {
				w.Header().Set("Content-Security-Policy", csp)
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><html lang="en"><head><title>t</title><script src="/htmx.js"></script></head><body>` + body + `</body></html>`))
		}
	}
	mux.HandleFunc("GET /{$}", page(strictCSP, `<p id="ready">ready</p>`))
	mux.HandleFunc("GET /loose", page(strictCSP, `<p style="color: red">red</p><script>console.log('inline')</script>`))
	mux.HandleFunc("GET /no-csp", page("", `<p>no policy</p>`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTheAssertionsCatchWhatAStrictPageMustNotDo shows each assertion a
// page that passes it and one that does not: a harness that passes every
// page would make every browser test pass.
func TestTheAssertionsCatchWhatAStrictPageMustNotDo(t *testing.T) {
	base := site(t)
	tab := browsertest.NewBrowser(t, "tester", browsertest.Options{Inspect: `'#ready now: ' + document.getElementById('ready')?.outerHTML`})

	t.Run("a strict page passes", func(t *testing.T) {
		tab.Navigate(t, base+"/")
		tab.WaitJS(t, "the page has loaded", `document.getElementById('ready') !== null`)
		got := testkit.Record(t, func(tb testing.TB) {
			tab.AssertStrictPage(tb)
			tab.AssertConsole(tb, nil)
		})
		if len(got.Errors) > 0 || got.Fatal != "" {
			t.Errorf("the strict page failed: %+v", got)
		}
	})

	t.Run("a failed wait shows the page", func(t *testing.T) {
		got := testkit.Record(t, func(tb testing.TB) { tab.WaitJSWithin(tb, 100*time.Millisecond, "what never comes", `false`) })
		if !strings.Contains(got.Fatal, "waited 100ms for: what never comes") || !strings.Contains(got.Fatal, `#ready now: <p id="ready">ready</p>`) {
			t.Errorf("the failed wait said %q, want what it waited for and what Options.Inspect shows", got.Fatal)
		}
	})

	t.Run("a rule marked Must that nothing matched fails", func(t *testing.T) {
		must := browsertest.ConsoleRule{
			Why:  "a message that never comes",
			Type: chromedp.ConsoleLog, Text: regexp.MustCompile(`^never$`), URL: regexp.MustCompile(``), Must: true,
		}
		got := testkit.Record(t, func(tb testing.TB) { tab.AssertConsole(tb, []browsertest.ConsoleRule{must}) })
		if !anyContains(got.Errors, "no console message of this expected kind appeared: a message that never comes") {
			t.Errorf("AssertConsole with an unmatched Must rule reported %+v", got)
		}
	})

	t.Run("an inline script and a style attribute fail", func(t *testing.T) {
		tab.Navigate(t, base+"/loose")
		got := testkit.Record(t, func(tb testing.TB) {
			tab.AssertConsole(tb, nil)
			tab.AssertStrictPage(tb)
		})
		for _, want := range []string{
			"CSP violation: script-src-elem blocked \"inline\"",
			"CSP violation: style-src-attr blocked \"inline\"",
			"unexpected console message",
			"the page has inline script: <script>console.log('inline')</script>",
			"the page has style attribute on <p>",
		} {
			if !anyContains(got.Errors, want) {
				t.Errorf("judging the loose page, no error says %q; the errors:\n%s", want, strings.Join(got.Errors, "\n"))
			}
		}
	})

	t.Run("a page without a policy fails", func(t *testing.T) {
		tab.Navigate(t, base+"/no-csp")
		got := testkit.Record(t, tab.AssertStrictPage)
		if !anyContains(got.Errors, "/no-csp: no Content-Security-Policy") {
			t.Errorf("AssertStrictPage on a page without a policy reported %+v", got)
		}
	})
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
