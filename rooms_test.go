package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// TestRoomFlags: --rooms takes names as a room's page would (capitals
// folded, duplicates dropped) and refuses one that is not a room's name;
// --max-rooms must be positive.
func TestRoomFlags(t *testing.T) {
	cfg, _, err := parseConfig([]string{"herenow", "--rooms", "Standup, design,standup"}, noEnv, &bytes.Buffer{})
	if err != nil || !slices.Equal(cfg.rooms, []string{"standup", "design"}) || cfg.maxRooms != 10000 {
		t.Errorf("--rooms 'Standup, design,standup': %q, max %d, %v; want standup and design, 10000", cfg.rooms, cfg.maxRooms, err)
	}
	for _, args := range [][]string{{"--rooms", "stand up"}, {"--rooms", "a,,b"}, {"--max-rooms", "0"}} {
		if _, _, err := parseConfig(append([]string{"herenow"}, args...), noEnv, &bytes.Buffer{}); err == nil {
			t.Errorf("%q was accepted", args)
		}
	}
}

// TestRoomsThroughRun: on its own and with --redis alike, an instance
// serves rooms and the lobby shows the Rooms panel.
func TestRoomsThroughRun(t *testing.T) {
	alone := startInstance(t, noEnv)
	clustered := startInstance(t, func(k string) string {
		return map[string]string{
			"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
			"HERENOW_REDIS_URL":    testRedisURL,
			"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
		}[k]
	})
	for name, addr := range map[string]string{"on its own": alone, "with --redis": clustered} {
		if code := statusOf(t, "http://"+addr+"/r/standup"); code != http.StatusOK {
			t.Errorf("/r/standup %s: %d, want 200", name, code)
		}
		if body := httpGet(t, "http://"+addr+"/"); !strings.Contains(body, `id="rooms-panel"`) {
			t.Errorf("the lobby %s has no Rooms panel", name)
		}
	}
}

// TestARoomSplitAcrossInstancesCountsEachPersonOnce runs two instances
// through run, sharing Redis and one user database. alice has a tab in
// standup on each; a guest watches standup on A and another joins it on
// B. A's standup viewer counts alice once, with her two tabs, and its log
// says she joined once, and nothing of the guests, which the cluster
// summarises once a minute (--log-window); both lobbies' Rooms panels
// show standup with its 3 people; a viewer of design on A receives
// nothing of standup; when alice closes both tabs, A's viewer sees her
// leave, logged once.
func TestARoomSplitAcrossInstancesCountsEachPersonOnce(t *testing.T) {
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
	a, b := startInstance(t, getenv), startInstance(t, getenv)
	cookies := loginCookies(t, a, "alice", "alice's password")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(addr, path string, h http.Header) *websocket.Conn {
		t.Helper()
		return wstest.Dial(t, ctx, "ws://"+addr+path, h)
	}
	// readUntil reads conn's frames until one contains want, and returns
	// everything read.
	readUntil := func(conn *websocket.Conn, want string) string {
		t.Helper()
		var read strings.Builder
		for {
			_, f, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %q: %v\nread so far:\n%s", want, err, read.String())
			}
			read.Write(f)
			if strings.Contains(string(f), want) {
				return read.String()
			}
		}
	}

	design := dial(a, "/r/design/live/ws", nil)
	// Its YouCounted, after the frame that counts it: the last thing it
	// should hear (its arrival is a guest's, left for the window's
	// summary).
	readUntil(design, "is-counted")
	standup := dial(a, "/r/standup/live/ws", nil)
	seen := readUntil(standup, "<strong>1</strong> person online")
	dial(b, "/r/standup/live/ws", nil) // a guest on B
	seen += readUntil(standup, "<strong>2</strong> people online")
	tabA := dial(a, "/r/standup/live/ws", cookies)
	tabB := dial(b, "/r/standup/live/ws", cookies)
	seen += readUntil(standup, "2 tabs")
	if n := strings.Count(seen, "<strong>alice</strong> joined"); n != 1 {
		t.Errorf("A's standup viewer read alice joining %d times, want once:\n%s", n, seen)
	}
	if strings.Contains(seen, "guest</strong> joined") {
		t.Errorf("A's standup viewer read a guest's own entry, want the guests summarised:\n%s", seen)
	}
	// The page counts its own viewer too, a guest new to it.
	if page := httpGet(t, "http://"+a+"/r/standup"); !strings.Contains(page, "<strong>4</strong> people online") {
		t.Error("A's standup page does not count 2 guests, alice (tabs on A and B) and its viewer as 4 people")
	}
	for name, addr := range map[string]string{"A": a, "B": b} {
		testkit.WaitUntil(t, waitLimit, name+"'s Rooms panel to show standup with 3 people", func() bool {
			page := httpGet(t, "http://"+addr+"/")
			return strings.Contains(page, `href="/r/standup">standup</a> <span class="tag is-info is-light">3 people</span>`)
		})
	}

	tabA.Close(websocket.StatusGoingAway, "")
	tabB.Close(websocket.StatusGoingAway, "")
	readUntil(standup, `<li id="u-1" hx-swap-oob="delete">`)
	// The shared log's entry may come after the frame that removes her.
	var page string
	testkit.WaitUntil(t, waitLimit, "A's standup page to say alice left", func() bool {
		page = httpGet(t, "http://"+a+"/r/standup")
		return strings.Contains(page, "<strong>alice</strong> left")
	})
	if n := strings.Count(page, "<strong>alice</strong> left"); n != 1 {
		t.Errorf("A's standup page says %d times that alice left, want once", n)
	}

	// design heard nothing since its own arrival: a frame of anything that
	// happened in standup would be waiting by now.
	quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if _, f, err := design.Read(quiet); err == nil {
		t.Errorf("a viewer of design on A received a frame while only standup changed:\n%s", f)
	}
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
