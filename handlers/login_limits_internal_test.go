package handlers

import (
	"testing"
	"time"
)

func TestFailureCounterSlidesOverTwoWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	c := newFailureCounter(time.Minute, func() time.Time { return now })
	for range 4 {
		c.add("alice")
	}
	c.add("bob")
	for _, step := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 4},
		{59 * time.Second, 4},
		{75 * time.Second, 3},  // a quarter of the window has slid past: 4 × 3/4
		{105 * time.Second, 1}, // 4 × 1/4
		{130 * time.Second, 0}, // both windows passed
		{10 * time.Minute, 0},
	} {
		now = t0.Add(step.at)
		if got := c.count("alice"); got != step.want {
			t.Errorf("after %v: %v, want %v", step.at, got, step.want)
		}
	}
	c.add("alice")
	c.forget("alice")
	if got := c.count("alice"); got != 0 {
		t.Errorf("after forget: %v", got)
	}
}

func TestDelayDoublesFromTheNamesLimitToItsBound(t *testing.T) {
	l := newLoginLimiter(LoginLimits{PerIP: 100, PerName: 2, MaxDelay: 800 * time.Millisecond})
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 800 * time.Millisecond}
	for failures, w := range want {
		if got := l.delay("alice"); got != w {
			t.Errorf("after %d failures: %v, want %v", failures, got, w)
		}
		l.nameFailures.add(nameKey("alice"))
	}
	if got := l.delay("ALICE"); got != 800*time.Millisecond {
		t.Errorf("another spelling of the same name: %v, want the same delay", got)
	}
	if got := l.delay("bob"); got != 0 {
		t.Errorf("another name: %v, want none", got)
	}
}
