package browsertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

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

// cspBinding is the function through which the tab reports
// securitypolicyviolation events. It is a DevTools binding and the listener
// is injected over the protocol, so neither is subject to the page's CSP,
// and neither is an inline script in the page.
const cspBinding = "herenowReportCSPViolation"

const cspListener = `document.addEventListener('securitypolicyviolation', e => ` + cspBinding + `(JSON.stringify({
	directive: e.violatedDirective, blockedURI: e.blockedURI, sourceFile: e.sourceFile, line: e.lineNumber, sample: e.sample,
})));`

// AssertStrictPage checks what lets the page run under a strict CSP: every
// HTML response the tab received (pages and fragments) carried a policy
// that CheckStrictCSP accepts; the page now shown has no inline script,
// style element, style attribute or inline event handler; and htmx runs
// with eval disallowed and without its injected indicator styles.
func (tab *Tab) AssertStrictPage(t testing.TB) {
	t.Helper()
	tab.mu.Lock()
	responses := slices.Clone(tab.responses)
	tab.mu.Unlock()
	if len(responses) == 0 {
		t.Errorf("%s: the tab received no HTML response to check", tab.Name)
	}
	for _, r := range responses {
		if err := CheckStrictCSP(r.csp); err != nil {
			t.Errorf("%s: %s: %v", tab.Name, r.url, err)
		}
	}

	inline := Eval[[]string](t, tab, `[
		...[...document.querySelectorAll('script:not([src])')].map(e => 'inline script: ' + e.outerHTML.slice(0, 80)),
		...[...document.querySelectorAll('style')].map(e => 'style element: ' + e.outerHTML.slice(0, 80)),
		...[...document.querySelectorAll('[style]')].map(e => 'style attribute on <' + e.localName + '>'),
		...[...document.querySelectorAll('*')].flatMap(e => e.getAttributeNames()
			.filter(n => n.startsWith('on') || n.startsWith('hx-on'))
			.map(n => 'inline handler ' + n + ' on <' + e.localName + '>')),
	]`)
	for _, s := range inline {
		t.Errorf("%s: the page has %s", tab.Name, s)
	}
	config := Eval[map[string]any](t, tab,
		`({allowEval: htmx.config.allowEval, includeIndicatorStyles: htmx.config.includeIndicatorStyles})`)
	if config["allowEval"] != false || config["includeIndicatorStyles"] != false {
		t.Errorf("%s: htmx runs with %v, want allowEval and includeIndicatorStyles false", tab.Name, config)
	}
}

// CheckStrictCSP reports what in a Content-Security-Policy would let a
// script run that is not a file from the page's own origin: no policy, no
// script-src of its own, a script-src other than 'self' alone, or
// anything 'unsafe-'.
func CheckStrictCSP(policy string) error {
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
