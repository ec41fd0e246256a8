package components_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"herenow/components"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

var (
	at     = time.Date(2026, 11, 24, 12, 3, 4, 0, time.UTC)
	assets = components.Assets{HTMX: "/static/h/htmx.min.js", WS: "/static/w/ws.min.js", SSE: "/static/s/sse.min.js", Bulma: "/static/b/bulma.min.css", Style: "/static/c/herenow.css", Favicon: "/static/f/favicon.svg"}
	live   = components.Live{
		Count: components.Count{People: 6, Guests: 2, Unlisted: 1},
		Users: []components.UserItem{
			{Key: "u-1", Name: "alice", Tabs: 1},
			{Key: "u-2", Name: "bob", Tabs: 3},
			{Key: "u-3", Name: "<script>alert(1)</script>", Tabs: 1},
		},
		Log: []components.Entry{
			{ID: 3, At: at, Arrived: false, Names: []string{"carol"}},
			{ID: 2, At: at.Add(-13 * time.Hour), Arrived: true, Names: []string{"alice", "bob", "<script>alert(1)</script>"}, Others: 48, Guests: 2},
			{ID: 1, At: at.Add(-3 * 24 * time.Hour), Arrived: true, Guests: 1},
		},
		Now: at.Add(30 * time.Minute),
	}
	panel = components.RoomsPanel{
		Rooms: []components.RoomRow{
			{Name: "standup", People: 6, Guests: 2, Names: []string{"alice", "bob", "<script>alert(1)</script>"}, Others: 1},
			{Name: "design.v2", People: 2, Guests: 2},
			{Name: "a-b_c", People: 1, Names: []string{"dave"}},
		},
		More: 2,
	}
	roomLive = components.Live{
		Room:  "standup",
		Count: components.Count{People: 2, Guests: 1},
		Users: []components.UserItem{{Key: "u-1", Name: "alice", Tabs: 2}},
		Log: []components.Entry{
			{ID: 2, At: at, Arrived: false, Names: []string{"bob"}, Guests: 2},
			{ID: 1, At: at.Add(-time.Minute), Arrived: true, Names: []string{"alice"}, Guests: 1},
		},
		Now: at,
	}
)

func TestGolden(t *testing.T) {
	count := components.Count{People: 1, Guests: 1}
	for _, c := range []struct {
		name string
		comp templ.Component
	}{
		{"index_guest", components.Index(components.IndexPage{Assets: assets, Live: live, Rooms: &panel})},
		{"index_signed_in", components.Index(components.IndexPage{Assets: assets, Me: &components.Me{Name: "<b>alice</b>"}, Live: live, Rooms: &panel})},
		{"index_empty", components.Index(components.IndexPage{Assets: assets, Rooms: &components.RoomsPanel{}})},
		{"index_without_rooms", components.Index(components.IndexPage{Assets: assets})},
		{"room", components.Room(components.RoomPage{Assets: assets, Me: &components.Me{Name: "alice"}, Room: "standup", Live: greeting(roomLive, "u-1")})},
		{"room_not_found", components.RoomNotFound(components.RoomNotFoundPage{Assets: assets, Name: "stand up!", Rule: "A room's name is 1 to 64 characters from a-z, 0-9, '-', '_' and '.'."})},
		{"rooms_full", components.RoomsFull(components.RoomsFullPage{Assets: assets, Me: &components.Me{Name: "alice"}, Name: "retro"})},
		{"method_not_allowed", components.MethodNotAllowed(components.MethodNotAllowedPage{Assets: assets, Me: &components.Me{Name: "alice"}, Method: "GET", Allowed: []string{"POST"}})},
		{"method_not_allowed_unknown", components.MethodNotAllowed(components.MethodNotAllowedPage{Assets: assets, Method: "BREW"})},
		{"too_many_attempts", components.TooManyAttempts(components.TooManyAttemptsPage{Assets: assets, RetryAfter: time.Minute})},
		{"live_sse_room", components.LiveOverSSE(greeting(roomLive, "guest"))},
		{"frame_room_snapshot", components.Snapshot(roomLive)},
		{"frame_room_diff", components.DiffFrame(components.Diff{
			Now:   at,
			Room:  "standup",
			Count: &components.Count{People: 3, Guests: 1},
			Added: []components.Placed{{UserItem: components.UserItem{Key: "u-2", Name: "carol", Tabs: 1}}},
			Logged: []components.Entry{
				{ID: 4, At: at, Arrived: true, Names: []string{"carol"}},
				{ID: 3, At: at, Arrived: false, Names: []string{"dave"}, Guests: 2},
			},
		})},
		{"frame_room_diff_log_replaced", components.DiffFrame(components.Diff{
			Now:         at.Add(24 * time.Hour), // the first frame of a new day
			Room:        "standup",
			LogReplaced: true,
			Log:         []components.Entry{{ID: 7, At: at, Arrived: true, Guests: 1}, {ID: 6, At: at, Arrived: false, Names: []string{"erin"}}},
		})},
		{"frame_greeting_signed_in", components.Greeting(&components.Me{Name: "<b>alice</b>"})},
		{"frame_greeting_guest", components.Greeting(nil)},
		{"frame_heartbeat", components.Heartbeat(at.In(time.FixedZone("CET", 3600)))},
		{"frame_you_counted", components.YouCounted()},
		{"frame_diff_alone", components.DiffFrame(components.Diff{Count: &components.Count{People: 1}})},
		{"frame_rooms_panel", components.RoomsPanelFrame(panel)},
		{"frame_rooms_panel_one_more", components.RoomsPanelFrame(components.RoomsPanel{Rooms: panel.Rooms[2:], More: 1})},
		{"frame_rooms_panel_empty", components.RoomsPanelFrame(components.RoomsPanel{})},
		{"login", components.Login(components.LoginPage{Assets: assets})},
		{"login_signed_in", components.Login(components.LoginPage{Assets: assets, Me: &components.Me{Name: "<b>alice</b>"}})},
		{"login_failed", components.Login(components.LoginPage{Assets: assets, Username: `"><script>x</script>`, Error: "Wrong username or password."})},
		{"live_sse", components.LiveOverSSE(live)},
		{"frame_snapshot", components.Snapshot(live)},
		{"frame_diff_full", components.DiffFrame(components.Diff{
			Now:     at,
			Count:   &components.Count{People: 7, Guests: 3},
			Removed: []string{"u-3"},
			Updated: []components.UserItem{{Key: "u-2", Name: "bob", Tabs: 2}},
			Added:   []components.Placed{{UserItem: components.UserItem{Key: "u-5", Name: "eve", Tabs: 2}}, {UserItem: components.UserItem{Key: "u-4", Name: "dave", Tabs: 1}, Before: "u-5"}},
			Logged: []components.Entry{
				{ID: 5, At: at, Arrived: false, Names: []string{"<script>alert(1)</script>"}},
				{ID: 4, At: at, Arrived: true, Names: []string{"dave", "eve"}, Guests: 1},
			},
			Trimmed: []uint64{1, 2},
		})},
		{"frame_diff_burst_and_visits", components.DiffFrame(components.Diff{
			Now:      at,
			Relogged: []components.Entry{{ID: 8, At: at.Add(-20 * time.Second), Arrived: true, Names: []string{"alice", "bob"}}},
			Logged:   []components.Entry{{ID: 9, At: at, Visits: 3}},
		})},
		{"frame_room_diff_visit", components.DiffFrame(components.Diff{
			Room:   "standup",
			Now:    at,
			Logged: []components.Entry{{ID: 5, At: at, Visits: 1}},
		})},
		{"frame_diff_count_only", components.DiffFrame(components.Diff{Count: &count})},
		{"frame_diff_guests_only_entry", components.DiffFrame(components.Diff{
			Now:    at,
			Logged: []components.Entry{{ID: 9, At: at, Arrived: true, Guests: 3}},
		})},
		{"frame_diff_log_replaced", components.DiffFrame(components.Diff{
			Now:         at.AddDate(1, 0, 0), // a year on: the dates say which year
			Count:       &count,
			LogReplaced: true,
			Log: []components.Entry{
				{ID: 1<<62 + 1, At: at, Arrived: true, Names: []string{"dave"}}, // provisional: 19 digits
				{ID: 12, At: at.Add(-time.Second), Arrived: false, Names: []string{"carol"}},
				{ID: 11, At: at.Add(-time.Minute), Arrived: true, Guests: 1},
			},
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.comp.Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			// One element per line keeps golden diffs readable.
			got := strings.ReplaceAll(buf.String(), "><", ">\n<") + "\n"
			compareGolden(t, filepath.Join("testdata", c.name+".golden"), got)
		})
	}
}

// greeting returns l as a page that greets whom shows it.
func greeting(l components.Live, whom string) components.Live {
	l.Greets = whom
	return l
}

// TestTimeLabel: an entry's time reads relative to the render, in UTC,
// whatever zone either time is given in.
func TestTimeLabel(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC) // a Tuesday
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		at, now time.Time
		want    string
	}{
		{now, now, "today 09:30 UTC"},
		{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), now, "today 00:00 UTC"},
		{time.Date(2026, 11, 24, 23, 59, 59, 0, time.UTC), now, "today 23:59 UTC"}, // ahead of now, but today
		{time.Date(2026, 11, 23, 23, 59, 59, 0, time.UTC), now, "yesterday 23:59 UTC"},
		{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), now, "yesterday 00:00 UTC"},
		{time.Date(2026, 11, 22, 23, 10, 0, 0, time.UTC), now, "Sun 22 Nov 23:10 UTC"},
		{time.Date(2026, 11, 25, 0, 1, 0, 0, time.UTC), now, "Wed 25 Nov 00:01 UTC"}, // tomorrow: another clock ahead
		{time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), now, "Wed 31 Dec 2025 23:00 UTC"},
		{time.Date(2026, 11, 24, 0, 30, 0, 0, paris), now, "yesterday 23:30 UTC"}, // 00:30 in Paris
		{now, time.Date(2026, 11, 25, 0, 30, 0, 0, paris), "today 09:30 UTC"},     // 23:30 UTC on the 24th
		{now, time.Time{}, "Tue 24 Nov 2026 09:30 UTC"},                           // no render time: the date
	} {
		if got := components.TimeLabel(c.at, c.now); got != c.want {
			t.Errorf("TimeLabel(%v, %v) = %q, want %q", c.at, c.now, got, c.want)
		}
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./components -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered output; if the change is intended, run go test ./components -update and read the diff.\n--- got:\n%s", path, got)
	}
}

// TestNamesAreEscapedEverywhere renders a hostile name in every place a name
// appears and checks no markup from it survives.
func TestNamesAreEscapedEverywhere(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	for name, comp := range map[string]templ.Component{
		"page":     components.Index(components.IndexPage{Assets: assets, Me: &components.Me{Name: evil}, Live: live}),
		"snapshot": components.Snapshot(live),
		"diff": components.DiffFrame(components.Diff{
			Updated: []components.UserItem{{Key: "u-3", Name: evil, Tabs: 2}},
			Added:   []components.Placed{{UserItem: components.UserItem{Key: "u-3", Name: evil}, Before: "u-1"}},
			Logged:  []components.Entry{{ID: 1, At: at, Names: []string{evil}}},
		}),
		"room page":     components.Room(components.RoomPage{Assets: assets, Me: &components.Me{Name: evil}, Room: "standup", Live: roomLive}),
		"room snapshot": components.Snapshot(components.Live{Room: "standup", Users: []components.UserItem{{Key: "u-3", Name: evil}}}),
		"room diff": components.DiffFrame(components.Diff{
			Room:    "standup",
			Updated: []components.UserItem{{Key: "u-3", Name: evil, Tabs: 2}},
			Added:   []components.Placed{{UserItem: components.UserItem{Key: "u-3", Name: evil}, Before: "u-1"}},
			Logged:  []components.Entry{{ID: 1, At: at, Names: []string{evil}}},
		}),
		"room diff, log replaced": components.DiffFrame(components.Diff{
			Room: "standup", LogReplaced: true,
			Log: []components.Entry{{ID: 1, At: at, Arrived: true, Names: []string{evil}}},
		}),
		"rooms panel frame":  components.RoomsPanelFrame(components.RoomsPanel{Rooms: []components.RoomRow{{Name: "x", People: 1, Names: []string{evil}}}}),
		"lobby with rooms":   components.Index(components.IndexPage{Assets: assets, Rooms: &components.RoomsPanel{Rooms: []components.RoomRow{{Name: "x", People: 1, Names: []string{evil}}}}}),
		"room not found":     components.RoomNotFound(components.RoomNotFoundPage{Assets: assets, Name: evil, Rule: "a-z"}),
		"rooms full":         components.RoomsFull(components.RoomsFullPage{Assets: assets, Name: evil}),
		"method not allowed": components.MethodNotAllowed(components.MethodNotAllowedPage{Assets: assets, Method: evil, Allowed: []string{evil}}),
	} {
		var buf bytes.Buffer
		if err := comp.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		html := buf.String()
		if strings.Contains(html, "<script>alert") {
			t.Errorf("%s: raw script tag in output", name)
		}
		if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped name missing", name)
		}
	}
}

// TestRoomEndpointsStayInTheirAttribute gives the live region a room name
// that the handlers would refuse, and checks it stays one path segment of
// each endpoint and cannot leave the attribute.
func TestRoomEndpointsStayInTheirAttribute(t *testing.T) {
	const hostile = `a"b<c>/../d`
	l := components.Live{Room: hostile}
	var buf bytes.Buffer
	for _, comp := range []templ.Component{components.LiveOverWebSocket(l), components.LiveOverSSE(l)} {
		if err := comp.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
	}
	html := buf.String()
	for _, want := range []string{
		`ws-connect="/r/a%22b%3Cc%3E%2F..%2Fd/live/ws"`,
		`hx-get="/r/a%22b%3Cc%3E%2F..%2Fd/live/sse-box"`,
		`sse-connect="/r/a%22b%3Cc%3E%2F..%2Fd/live/events"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	if strings.Contains(html, "<c>") || strings.Contains(html, `a"b`) {
		t.Errorf("the room name escaped its attribute:\n%s", html)
	}
}

// TestALongRoomNameMayBreak: a room's name in the panel allows a line
// break every 16 characters, so 64 letters do not widen a phone's page,
// and reads as the name itself.
func TestALongRoomNameMayBreak(t *testing.T) {
	name := strings.Repeat("x", 40)
	var b strings.Builder
	if err := components.RoomsPanelFrame(components.RoomsPanel{Rooms: []components.RoomRow{{Name: name, People: 1}}}).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	want := `">` + strings.Repeat("x", 16) + "<wbr>" + strings.Repeat("x", 16) + "<wbr>" + strings.Repeat("x", 8) + "</a>"
	if !strings.Contains(b.String(), want) {
		t.Errorf("the panel renders a 40-letter name as %s, want %s", b.String(), want)
	}
}

// TestTitleCountsPeopleOnTheFirstRenderAndLive: the tab's title reads the
// same on the page as rendered, in the snapshot a live connection starts
// with and in a diff that changes the count, in the lobby and in a room.
func TestTitleCountsPeopleOnTheFirstRenderAndLive(t *testing.T) {
	pageTitle := regexp.MustCompile(`<title id="page-title">([^<]*)</title>`)
	frameTitle := regexp.MustCompile(`<div id="page-title" hx-swap-oob="innerHTML">([^<]*)</div>`)
	for _, c := range []struct {
		room   string
		people int
		want   string
	}{
		{"", 5, "(5) Who is online · herenow"},
		{"", 1, "(1) Who is online · herenow"},
		{"", 0, "Who is online · herenow"},
		{"standup", 3, "(3) standup · herenow"},
		{"standup", 0, "standup · herenow"},
	} {
		t.Run(fmt.Sprintf("%q with %d", c.room, c.people), func(t *testing.T) {
			count := components.Count{People: c.people, Guests: c.people}
			l := components.Live{Room: c.room, Count: count}
			page := templ.Component(components.Index(components.IndexPage{Assets: assets, Live: l}))
			if c.room != "" {
				page = components.Room(components.RoomPage{Assets: assets, Room: c.room, Live: l})
			}
			for _, r := range []struct {
				what string
				comp templ.Component
				re   *regexp.Regexp
			}{
				{"the page", page, pageTitle},
				{"the snapshot", components.Snapshot(l), frameTitle},
				{"a diff of the count", components.DiffFrame(components.Diff{Room: c.room, Count: &count}), frameTitle},
			} {
				var b strings.Builder
				if err := r.comp.Render(context.Background(), &b); err != nil {
					t.Fatal(err)
				}
				m := r.re.FindAllStringSubmatch(b.String(), -1)
				if len(m) != 1 || m[0][1] != c.want {
					t.Errorf("%s titles %q, want once %q:\n%s", r.what, m, c.want, b.String())
				}
			}
		})
	}
	var b strings.Builder
	if err := components.DiffFrame(components.Diff{Added: []components.Placed{{UserItem: components.UserItem{Key: "u-1", Name: "alice", Tabs: 1}}}}).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "page-title") {
		t.Errorf("a diff that leaves the count be changes the title:\n%s", b.String())
	}
}
