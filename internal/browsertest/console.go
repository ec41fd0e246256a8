package browsertest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ConsoleRule allows console messages of one kind.
type ConsoleRule struct {
	Why    string // what brings such messages, for the failure message of Must
	Type   chromedp.ConsoleType
	Source string // the browser log's source; "" for a console API call
	Text   *regexp.Regexp
	URL    *regexp.Regexp // where the message came from
	Must   bool           // at least one such message must have appeared
}

// Matches reports whether the rule allows m.
func (r ConsoleRule) Matches(m chromedp.ConsoleMessage) bool {
	return m.Type == r.Type && m.Source == r.Source && r.Text.MatchString(m.Text) && r.URL.MatchString(m.URL)
}

// cspProbeURL is an image a strict img-src forbids; loading it is a CSP
// violation made on purpose. %d tells one probe of a tab from another.
const cspProbeURL = "http://192.0.2.1/herenow-csp-probe-%d.png"

// AssertConsole fails the test for every console message, exception or
// browser-log entry that no rule allows, for every rule marked Must that
// matched nothing, and for every CSP violation, which no rule can allow.
// It judges what the tab recorded since it opened or, after the first
// call, since the previous call.
//
// It first proves that both the console and the securitypolicyviolation
// listener would show a violation: it makes one on purpose and waits for
// both reports. Chromium reports a tab's events in order, so the reports
// also mean that every earlier event has been recorded; the probe's own
// are then left out.
func (tab *Tab) AssertConsole(t testing.TB, allowed []ConsoleRule) {
	t.Helper()
	tab.mu.Lock()
	tab.probes++
	probe := fmt.Sprintf(cspProbeURL, tab.probes)
	fromConsole, fromListener := tab.consoleJudged, tab.violationsJudged
	tab.mu.Unlock()
	tab.Run(t, "make a CSP violation on purpose", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`document.body.appendChild(Object.assign(document.createElement('img'), {src: %s, alt: ''}))`,
			strconv.Quote(probe))))
	})
	inConsole, inListener := -1, -1
	deadline := time.Now().Add(WaitLimit)
	for inConsole < 0 || inListener < 0 {
		tab.mu.Lock()
		inConsole = indexFrom(tab.console, fromConsole, func(m chromedp.ConsoleMessage) bool {
			return strings.Contains(m.Text, probe) && strings.Contains(m.Text, "Content Security Policy")
		})
		inListener = indexFrom(tab.violations, fromListener, func(v cspViolation) bool { return v.BlockedURI == probe })
		tab.mu.Unlock()
		if inConsole >= 0 && inListener >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the deliberate CSP violation (%s) was not reported within %v (console: %t, "+
				"securitypolicyviolation: %t), so neither can be trusted to report a real one; console:\n%s",
				tab.Name, probe, WaitLimit, inConsole >= 0, inListener >= 0, tab.ConsoleText())
		}
		time.Sleep(25 * time.Millisecond)
	}

	tab.mu.Lock()
	seen := slices.Clone(tab.console[fromConsole:inConsole])
	violations := slices.Clone(tab.violations[fromListener:inListener])
	tab.consoleJudged, tab.violationsJudged = inConsole+1, inListener+1
	tab.mu.Unlock()
	for _, v := range violations {
		t.Errorf("%s: CSP violation: %s", tab.Name, v)
	}
	matched := make([]int, len(allowed))
	for _, m := range seen {
		ok := false
		for i, r := range allowed {
			if r.Matches(m) {
				matched[i]++
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: unexpected console message: %s (source %q, url %s:%d)", tab.Name, m, m.Source, m.URL, m.Line+1)
		}
	}
	for i, r := range allowed {
		if r.Must && matched[i] == 0 {
			t.Errorf("%s: no console message of this expected kind appeared: %s", tab.Name, r.Why)
		}
	}
}

// indexFrom is slices.IndexFunc on s[from:], as an index of s.
func indexFrom[E any](s []E, from int, f func(E) bool) int {
	if i := slices.IndexFunc(s[from:], f); i >= 0 {
		return from + i
	}
	return -1
}

// WaitConsole waits, for at most limit, until the tab's console shows a
// message that match accepts.
func (tab *Tab) WaitConsole(t testing.TB, limit time.Duration, what string, match func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		tab.mu.Lock()
		seen := slices.ContainsFunc(tab.console, match)
		tab.mu.Unlock()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited %v for the console to show %s; it shows:\n%s", tab.Name, limit, what, tab.ConsoleText())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ConsoleText is what the tab's console and its securitypolicyviolation
// listener recorded, a line each, for failure messages.
func (tab *Tab) ConsoleText() string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var s strings.Builder
	for _, m := range tab.console {
		fmt.Fprintf(&s, "  %s (source %q, url %s:%d)\n", m, m.Source, m.URL, m.Line+1)
	}
	for _, v := range tab.violations {
		fmt.Fprintf(&s, "  securitypolicyviolation: %s\n", v)
	}
	if s.Len() == 0 {
		return "  (nothing)\n"
	}
	return s.String()
}
