package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"herenow/handlers"
)

// scrape returns the value of one series on the metrics handler.
func scrape(t *testing.T, m *handlers.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	match := re.FindStringSubmatch(rec.Body.String())
	if match == nil {
		t.Fatalf("no series %s in:\n%s", series, rec.Body.String())
	}
	v, err := strconv.ParseFloat(match[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsCountWhatHappens(t *testing.T) {
	m := handlers.NewMetrics()
	a := newAppWith(t, func(o *handlers.Options) { o.Metrics = m; o.Login.PerName = 1 })
	m.WatchHub(a.hub)

	alice := a.login(t, "alice", "correct horse")
	a.postLogin(t, a.client(t), "alice", "wrong password")
	a.postLogin(t, a.client(t), "alice", "wrong again") // a second failure from this address: limited
	a.postLogin(t, a.client(t), "", "")
	for outcome, want := range map[string]float64{"success": 1, "bad_credentials": 1, "rate_limited": 1, "invalid": 1} {
		if got := scrape(t, m, `herenow_logins_total{outcome="`+outcome+`"}`); got != want {
			t.Errorf("logins %s = %v, want %v", outcome, got, want)
		}
	}

	viewer := a.dialWS(t, nil)
	waitFor(t, viewer, "1</strong> person online")
	a.dialSSE(t, alice)
	waitFor(t, viewer, "2</strong> people online")
	if got := scrape(t, m, `herenow_live_connections{transport="websocket"}`); got != 1 {
		t.Errorf("websocket connections = %v, want 1", got)
	}
	if got := scrape(t, m, `herenow_live_connections{transport="sse"}`); got != 1 {
		t.Errorf("sse connections = %v, want 1", got)
	}
	if got := scrape(t, m, "herenow_people_online"); got != 2 {
		t.Errorf("people online = %v, want 2", got)
	}
	if got := scrape(t, m, `herenow_frames_sent_total{transport="websocket"}`); got < 3 {
		t.Errorf("websocket frames sent = %v, want the snapshot and two diffs at least", got)
	}
	if got := scrape(t, m, `herenow_frame_render_seconds_count{kind="diff"}`); got < 2 {
		t.Errorf("diff renders = %v, want at least 2", got)
	}
	rec := httptest.NewRecorder()
	m.OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, secret := range []string{"correct horse", "wrong password", "jwt="} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("metrics mention %q", secret)
		}
	}
}

func TestReadinessFollowsItsChecksAndDraining(t *testing.T) {
	var redisDown error
	a := newAppWith(t, func(o *handlers.Options) {
		o.Ready = func(context.Context) error { return redisDown }
	})
	status := func() int {
		t.Helper()
		resp, err := http.Get(a.srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusOK {
		t.Errorf("ready instance: %d, want 200", got)
	}
	redisDown = errors.New("redis: connection refused")
	if got := status(); got != http.StatusServiceUnavailable {
		t.Errorf("with a failing check: %d, want 503", got)
	}
	redisDown = nil
	a.hub.Close() // draining
	if got := status(); got != http.StatusServiceUnavailable {
		t.Errorf("while draining: %d, want 503", got)
	}
}
