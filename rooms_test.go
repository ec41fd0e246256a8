package main

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
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

// TestRoomsThroughRun: on its own an instance serves rooms, and the
// lobby shows the Rooms panel; with --redis it serves the lobby alone
// (rooms are not shared between instances yet), as the README says.
func TestRoomsThroughRun(t *testing.T) {
	alone := startInstance(t, noEnv)
	if code := statusOf(t, "http://"+alone+"/r/standup"); code != http.StatusOK {
		t.Errorf("/r/standup on its own: %d, want 200", code)
	}
	if body := httpGet(t, "http://"+alone+"/"); !strings.Contains(body, `id="rooms-panel"`) {
		t.Error("the lobby on its own has no Rooms panel")
	}
	clustered := startInstance(t, func(k string) string {
		return map[string]string{
			"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
			"HERENOW_REDIS_URL":    testRedisURL,
			"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
		}[k]
	})
	if code := statusOf(t, "http://"+clustered+"/r/standup"); code != http.StatusNotFound {
		t.Errorf("/r/standup with --redis: %d, want 404 (no rooms yet)", code)
	}
	if body := httpGet(t, "http://"+clustered+"/"); strings.Contains(body, `id="rooms-panel"`) {
		t.Error("the lobby with --redis shows a Rooms panel of rooms it does not serve")
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
