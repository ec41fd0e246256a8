package handlers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"herenow/handlers"
	"herenow/hub"
	"herenow/hub/hubtest"
)

// arrivalAndDepartureFrames returns the frames a viewer receives when one
// user arrives and then leaves while online guests are already there.
func arrivalAndDepartureFrames(t testing.TB, online int) (arrival, departure []byte) {
	clock := hubtest.NewClock()
	h, err := hub.New(hub.Config{Render: handlers.Renderer{}, Clock: clock, Tick: 50 * time.Millisecond,
		Grace: time.Second, ListLimit: 100, LogSize: 50, QueueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range online - 1 {
		s := h.Connect(hub.Person{Key: fmt.Sprintf("g-%d", i), Guest: true})
		defer s.Close()
	}
	viewer := h.Connect(hub.Person{Key: "g-viewer", Guest: true})
	defer viewer.Close()
	clock.Advance(time.Minute)
	for len(viewer.Frames()) > 0 {
		<-viewer.Frames()
	}

	probe := h.Connect(hub.Person{Key: "u-probe", Name: "probe"})
	arrival = (<-viewer.Frames()).HTML
	probe.Close()
	clock.Advance(time.Minute)
	departure = (<-viewer.Frames()).HTML
	return arrival, departure
}

// TestDiffFrameSizeDoesNotGrowWithPeopleOnline checks the property that
// makes fan-out cheap: one arrival or departure costs the same bytes whether
// 10 or 10,000 people are online (give or take the digits of the count).
func TestDiffFrameSizeDoesNotGrowWithPeopleOnline(t *testing.T) {
	smallIn, smallOut := arrivalAndDepartureFrames(t, 10)
	bigIn, bigOut := arrivalAndDepartureFrames(t, 10_000)
	for _, c := range []struct {
		name       string
		small, big []byte
	}{{"arrival", smallIn, bigIn}, {"departure", smallOut, bigOut}} {
		// Four figures grow by 3 digits each: people online, the guests
		// in words ("and N guests") and for the stylesheet (data-guests),
		// and people online again in the tab's title.
		if d := len(c.big) - len(c.small); d != 4*3 {
			t.Errorf("%s frame: %d bytes at 10 online, %d at 10,000", c.name, len(c.small), len(c.big))
		}
		if !strings.Contains(string(c.big), "probe") {
			t.Errorf("%s frame does not name the probe:\n%s", c.name, c.big)
		}
	}
}

// TestDiffFrameCanReplaceTheWholeLog checks the renderer passes the hub's
// whole-log replacement on to the template.
func TestDiffFrameCanReplaceTheWholeLog(t *testing.T) {
	f, err := (handlers.Renderer{}).Diff(hub.Diff{LogReplaced: true, Log: []hub.Entry{
		{ID: 12, At: time.Now(), Names: []string{"carol"}},
		{ID: 11, At: time.Now(), Arrived: true, Names: []string{"bob"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	html := string(f.HTML)
	if !strings.Contains(html, `<div id="activity-log" hx-swap-oob="innerHTML">`) ||
		strings.Index(html, `id="a-12"`) > strings.Index(html, `id="a-11"`) || !strings.Contains(html, `id="a-11"`) {
		t.Errorf("frame does not replace the log with entries 12, 11:\n%s", html)
	}
}

func BenchmarkRenderArrivalDiff(b *testing.B) {
	d := hub.Diff{
		Counts:  &hub.Counts{People: 10_001, Guests: 5_000, Unlisted: 4_900},
		Added:   []hub.Placed{{User: hub.User{Key: "u-42", Name: "alice", Tabs: 1}, Before: "u-43"}},
		Logged:  []hub.Entry{{ID: 51, At: time.Now(), Arrived: true, Names: []string{"alice"}}},
		Trimmed: []uint64{1},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (handlers.Renderer{}).Diff(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderSnapshot(b *testing.B) {
	var s hub.Snapshot
	s.Counts = hub.Counts{People: 10_000, Guests: 5_000, Unlisted: 4_900}
	for i := range 100 {
		s.Users = append(s.Users, hub.User{Key: fmt.Sprintf("u-%d", i), Name: fmt.Sprintf("user%05d", i), Tabs: 1 + i%3})
	}
	for i := range 50 {
		s.Log = append(s.Log, hub.Entry{ID: uint64(100 - i), At: time.Now(), Arrived: i%2 == 0, Names: []string{"a", "b", "c"}, Others: 7, Guests: 2})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (handlers.Renderer{}).Snapshot(s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAnAttachedPanelGoesOutInTheSameMessage: a diff carrying the Rooms
// panel renders as one message on both transports: the panel's HTML
// after the diff's, one SSE event holding both.
func TestAnAttachedPanelGoesOutInTheSameMessage(t *testing.T) {
	panel, err := handlers.RenderPanel(hub.Panel{Rooms: []hub.RoomSummary{{Name: "standup", People: 2, Guests: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	c := hub.Counts{People: 3, Guests: 3}
	f, err := handlers.Renderer{}.Diff(hub.Diff{Counts: &c, Extra: panel})
	if err != nil {
		t.Fatal(err)
	}
	html := string(f.HTML)
	if !strings.Contains(html, "online-count") || !strings.HasSuffix(html, string(panel.HTML)) {
		t.Errorf("the frame is %q, want the diff then the panel %q", html, panel.HTML)
	}
	if n := strings.Count(string(f.Event), "event: update"); n != 1 || !strings.Contains(string(f.Event), "rooms-list") {
		t.Errorf("the SSE frame holds %d events (%q), want one with the panel", n, f.Event)
	}
}
