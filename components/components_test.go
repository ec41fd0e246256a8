package components_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"herenow/components"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

var (
	at     = time.Date(2026, 11, 24, 12, 3, 4, 0, time.UTC)
	assets = components.Assets{HTMX: "/static/h/htmx.min.js", WS: "/static/w/ws.min.js", SSE: "/static/s/sse.min.js", Bulma: "/static/b/bulma.min.css"}
	live   = components.Live{
		Count: components.Count{People: 6, Guests: 2, Unlisted: 1},
		Users: []components.UserItem{
			{Key: "u-1", Name: "alice", Tabs: 1},
			{Key: "u-2", Name: "bob", Tabs: 3},
			{Key: "u-3", Name: "<script>alert(1)</script>", Tabs: 1},
		},
		Log: []components.Entry{
			{ID: 3, At: at, Arrived: false, Names: []string{"carol"}},
			{ID: 2, At: at.Add(-time.Minute), Arrived: true, Names: []string{"alice", "bob", "<script>alert(1)</script>"}, Others: 48, Guests: 2},
			{ID: 1, At: at.Add(-time.Hour), Arrived: true, Guests: 1},
		},
	}
)

func TestGolden(t *testing.T) {
	count := components.Count{People: 1, Guests: 1}
	for _, c := range []struct {
		name string
		comp templ.Component
	}{
		{"index_guest", components.Index(components.IndexPage{Assets: assets, Live: live})},
		{"index_signed_in", components.Index(components.IndexPage{Assets: assets, Me: &components.Me{Name: "<b>alice</b>"}, Live: live})},
		{"index_empty", components.Index(components.IndexPage{Assets: assets})},
		{"login", components.Login(components.LoginPage{Assets: assets})},
		{"login_failed", components.Login(components.LoginPage{Assets: assets, Username: `"><script>x</script>`, Error: "Wrong username or password."})},
		{"live_sse", components.LiveOverSSE(live)},
		{"frame_snapshot", components.Snapshot(live)},
		{"frame_diff_full", components.DiffFrame(components.Diff{
			Count:   &components.Count{People: 7, Guests: 3},
			Removed: []string{"u-3"},
			Updated: []components.UserItem{{Key: "u-2", Name: "bob", Tabs: 2}},
			Added:   []components.UserItem{{Key: "u-4", Name: "dave", Tabs: 1}, {Key: "u-5", Name: "eve", Tabs: 2}},
			Logged: []components.Entry{
				{ID: 5, At: at, Arrived: false, Names: []string{"<script>alert(1)</script>"}},
				{ID: 4, At: at, Arrived: true, Names: []string{"dave", "eve"}, Guests: 1},
			},
			Trimmed: []uint64{1, 2},
		})},
		{"frame_diff_count_only", components.DiffFrame(components.Diff{Count: &count})},
		{"frame_diff_guests_only_entry", components.DiffFrame(components.Diff{
			Logged: []components.Entry{{ID: 9, At: at, Arrived: true, Guests: 3}},
		})},
		{"frame_diff_log_replaced", components.DiffFrame(components.Diff{
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
			Added:   []components.UserItem{{Key: "u-3", Name: evil}},
			Logged:  []components.Entry{{ID: 1, At: at, Names: []string{evil}}},
		}),
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
