// Package browsertest drives headless Chromium for tests of a page that
// must run under a strict Content-Security-Policy with htmx: one profile
// per person, driven over the DevTools protocol with chromedp v0.23.0
// (whose generic API returns each action's value from chromedp.Run and
// runs value-less steps with chromedp.Do).
//
// Every tab records three things from before its first navigation: its
// console (console API calls, uncaught exceptions and the browser's own
// log), every securitypolicyviolation event its documents fire, and the
// HTML responses it receives. [Tab.AssertConsole] and
// [Tab.AssertStrictPage] judge them.
//
// Chromium comes from Debian's chromium package (`go tool task chromium`).
// Without it [RequireChromium] skips the test with a message saying so,
// except under CI (CI=true), where a missing browser fails it: a skipped
// browser test must not pass CI unnoticed.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// WaitLimit bounds every step on a tab (an action, an evaluation) and
// every wait for the page, unless the caller gives a limit of its own.
const WaitLimit = 10 * time.Second

// RequireChromium returns the path of Chromium. When there is none it
// skips the test with a message, or fails it under CI.
func RequireChromium(t testing.TB) string {
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
