package users_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"herenow/users"
)

// TestParseStatusTakesOnlyTheThreeNames: each status reads back from its
// name, as text and in JSON; anything else, however close, is refused with
// an error that names the choices.
func TestParseStatusTakesOnlyTheThreeNames(t *testing.T) {
	for _, c := range []struct {
		name string
		want users.Status
	}{{"available", users.StatusAvailable}, {"busy", users.StatusBusy}, {"away", users.StatusAway}} {
		got, err := users.ParseStatus(c.name)
		if err != nil || got != c.want || got.String() != c.name {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", c.name, got, err, c.want)
		}
		b, err := json.Marshal(c.want)
		if err != nil || string(b) != `"`+c.name+`"` {
			t.Errorf("JSON of %v = %s, %v", c.want, b, err)
		}
		var back users.Status
		if err := json.Unmarshal(b, &back); err != nil || back != c.want {
			t.Errorf("JSON %s reads as %v, %v", b, back, err)
		}
	}
	if (users.Presence{}).Status != users.StatusAvailable {
		t.Error("a new user's presence is not available")
	}
	for _, bad := range []string{"", "Available", "BUSY", "busy ", " away", "offline", "invisible", "dnd", "idle",
		"available\x00", strings.Repeat("busy", 1000)} {
		_, err := users.ParseStatus(bad)
		if !errors.Is(err, users.ErrInvalidStatus) || !strings.Contains(err.Error(), "available, busy or away") {
			t.Errorf("ParseStatus(%.30q) = %v; want ErrInvalidStatus naming the choices", bad, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("the error for a long status repeats it all: %d bytes", len(err.Error()))
		}
		var s users.Status
		if err := json.Unmarshal([]byte(`"`+bad+`"`), &s); err == nil {
			t.Errorf("JSON %.30q reads as a status", bad)
		}
	}
	if _, err := json.Marshal(users.Status(7)); err == nil {
		t.Error("a status that is none of the three is written as JSON")
	}
}

// TestNewStatusTextKeepsOneLineOfAtMost80Characters: a status text is kept
// NFC, trimmed, counted in code points after normalising; line breaks,
// control and bidirectional control characters, invalid UTF-8 and more
// than 80 characters are refused, each saying why.
func TestNewStatusTextKeepsOneLineOfAtMost80Characters(t *testing.T) {
	family := "\U0001F468\u200D\U0001F469\u200D\U0001F467" // 5 code points, one emoji
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"in a meeting", "in a meeting"},
		{"  busy – in a meeting  ", "busy – in a meeting"},
		{"🍕 lunch", "🍕 lunch"},
		{family + " at home", family + " at home"},
		{"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"}, // tags
		{"cafe\u0301", "caf\u00e9"}, // NFC
		{"\u05e9\u05dc\u05d5\u05dd\u200f!", "\u05e9\u05dc\u05d5\u05dd\u200f!"}, // RLM is a mark, not an override
		{"<b>&amp;</b>", "<b>&amp;</b>"},                                       // kept as written: the page escapes it
		{strings.Repeat("a", 80), strings.Repeat("a", 80)},
		{strings.Repeat("😀", 80), strings.Repeat("😀", 80)},
		{strings.Repeat("e\u0301", 80), strings.Repeat("\u00e9", 80)}, // 160 code points, 80 after NFC
		{" " + strings.Repeat("x", 80) + " ", strings.Repeat("x", 80)},
	} {
		got, err := users.NewStatusText(c.in)
		if err != nil || got != c.want {
			t.Errorf("NewStatusText(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, why string }{
		{strings.Repeat("a", 81), "81 characters"},
		{strings.Repeat("😀", 81), "81 characters"},
		{family + strings.Repeat("a", 76), "81 characters"},
		{strings.Repeat("a", 100000), "longer than 80"},
		{"in a\nmeeting", "line break"},
		{"in a meeting\n", "line break"},
		{"in a\r\nmeeting", "line break"},
		{"a\u0085b", "line break"},
		{"a\u2028b", "line break"},
		{"a\u2029b", "line break"},
		{"a\tb", "control character (U+0009)"},
		{"a\x00b", "control character (U+0000)"},
		{"\x1b[31mred", "control character (U+001B)"},
		{"a\x7fb", "control character (U+007F)"},
		{"a\u009bb", "control character (U+009B)"},
		{"a\u202eb", "bidirectional control character (U+202E)"},
		{"a\u2067b", "bidirectional control character (U+2067)"},
		{"a\xffb", "not valid UTF-8"},
	} {
		got, err := users.NewStatusText(c.in)
		if !errors.Is(err, users.ErrInvalidStatusText) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("NewStatusText(%.40q) = %q, %v; want ErrInvalidStatusText saying %q", c.in, got, err, c.why)
		}
	}
}

// TestStatusAndInvisibleAreKeptAndReadWithTheUser: what SetStatus and
// SetInvisible keep comes back with the user from every lookup a session
// makes (ByID, Authenticate) and from List, touches no one else, and a
// refused setting leaves the kept one as it was.
func TestStatusAndInvisibleAreKeptAndReadWithTheUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		alice, err := s.Add(ctx, "alice", "alice's password")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.Add(ctx, "bob", "bob's password")
		if err != nil {
			t.Fatal(err)
		}
		check := func(when string, id int64, name string, want users.Presence) {
			t.Helper()
			if u, err := s.ByID(ctx, id); err != nil || u.Presence != want {
				t.Errorf("%s: ByID(%s).Presence = %+v, %v; want %+v", when, name, u.Presence, err, want)
			}
			if u, err := s.Authenticate(ctx, name, name+"'s password"); err != nil || u.Presence != want {
				t.Errorf("%s: Authenticate(%s).Presence = %+v, %v; want %+v", when, name, u.Presence, err, want)
			}
			list, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range list {
				if u.ID == id && u.Presence != want {
					t.Errorf("%s: listed %s with %+v, want %+v", when, name, u.Presence, want)
				}
			}
		}
		check("new", alice.ID, "alice", users.Presence{})
		if alice.Presence != (users.Presence{}) {
			t.Errorf("Add returned alice with %+v", alice.Presence)
		}

		busy := users.Presence{Status: users.StatusBusy, Text: "in a meeting 📅"}
		if p, err := s.SetStatus(ctx, alice.ID, users.StatusBusy, "  in a meeting 📅\u00a0"); err != nil || p != busy {
			t.Fatalf("SetStatus = %+v, %v; want %+v", p, err, busy)
		}
		check("busy", alice.ID, "alice", busy)
		check("alice busy", bob.ID, "bob", users.Presence{})

		hidden := busy
		hidden.Invisible = true
		if p, err := s.SetInvisible(ctx, alice.ID, true); err != nil || p != hidden {
			t.Fatalf("SetInvisible(true) = %+v, %v; want %+v", p, err, hidden)
		}
		check("invisible", alice.ID, "alice", hidden)
		check("alice invisible", bob.ID, "bob", users.Presence{})

		away := users.Presence{Status: users.StatusAway, Invisible: true}
		if p, err := s.SetStatus(ctx, alice.ID, users.StatusAway, ""); err != nil || p != away {
			t.Fatalf("SetStatus while invisible = %+v, %v; want %+v", p, err, away)
		}
		check("away and invisible", alice.ID, "alice", away)

		// Refused settings change nothing.
		for _, c := range []struct {
			status users.Status
			text   string
			err    error
		}{
			{users.StatusBusy, strings.Repeat("x", 81), users.ErrInvalidStatusText},
			{users.StatusBusy, "two\nlines", users.ErrInvalidStatusText},
			{users.StatusBusy, "bell\a", users.ErrInvalidStatusText},
			{users.Status(3), "", users.ErrInvalidStatus},
			{users.Status(255), "ok", users.ErrInvalidStatus},
		} {
			if p, err := s.SetStatus(ctx, alice.ID, c.status, c.text); !errors.Is(err, c.err) {
				t.Errorf("SetStatus(%d, %.20q) = %+v, %v; want %v", c.status, c.text, p, err, c.err)
			}
		}
		check("after refusals", alice.ID, "alice", away)

		visible := users.Presence{Status: users.StatusAway}
		if p, err := s.SetInvisible(ctx, alice.ID, false); err != nil || p != visible {
			t.Fatalf("SetInvisible(false) = %+v, %v; want %+v", p, err, visible)
		}
		if p, err := s.SetStatus(ctx, alice.ID, users.StatusAvailable, ""); err != nil || p != (users.Presence{}) {
			t.Fatalf("back to available = %+v, %v", p, err)
		}
		check("available again", alice.ID, "alice", users.Presence{})

		if err := s.Delete(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetStatus(ctx, bob.ID, users.StatusBusy, "gone"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("SetStatus of a deleted user: %v, want ErrNotFound", err)
		}
		if _, err := s.SetInvisible(ctx, bob.ID, true); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("SetInvisible of a deleted user: %v, want ErrNotFound", err)
		}
	})
}

// recently returns the names RecentlySeen returns, each with its time.
func recently(t *testing.T, s *users.Store, since time.Time, limit int) []users.Seen {
	t.Helper()
	seen, err := s.RecentlySeen(context.Background(), since, limit)
	if err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		seen[i].ID = 0 // compared by name and time
	}
	return seen
}

// TestLastSeenNeverMovesBackwards: a later time replaces the last seen
// one, an earlier or equal one does not, nothing is recorded while the
// user is invisible, and a user gone meanwhile is no error.
func TestLastSeenNeverMovesBackwards(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		alice, err := s.Add(ctx, "alice", "alice's password")
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
		lastSeen := func(when string, want time.Time) {
			t.Helper()
			got := recently(t, s, t0.Add(-time.Hour), 10)
			if w := []users.Seen{{Name: "alice", LastSeen: want}}; !reflect.DeepEqual(got, w) {
				t.Errorf("%s: recently seen %+v, want %+v", when, got, w)
			}
		}
		if got := recently(t, s, time.Time{}, 10); len(got) != 0 {
			t.Errorf("never seen, yet recently seen: %+v", got)
		}
		steps := []struct {
			at   time.Time
			want time.Time
		}{
			{t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)},
			{t0, t0.Add(10 * time.Minute)}, // earlier: kept as it was
			{t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)},
			{t0.Add(10*time.Minute + 1500*time.Microsecond), t0.Add(10*time.Minute + time.Millisecond)}, // to the millisecond
			{t0.Add(20 * time.Minute).In(time.FixedZone("UTC+5", 5*3600)), t0.Add(20 * time.Minute)},
		}
		for i, step := range steps {
			if err := s.TouchLastSeen(ctx, alice.ID, step.at); err != nil {
				t.Fatal(err)
			}
			lastSeen("step "+string(rune('1'+i)), step.want)
		}

		if _, err := s.SetInvisible(ctx, alice.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchLastSeen(ctx, alice.ID, t0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetInvisible(ctx, alice.ID, false); err != nil {
			t.Fatal(err)
		}
		lastSeen("touched while invisible", t0.Add(20*time.Minute))

		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchLastSeen(ctx, alice.ID, t0.Add(40*time.Minute)); err != nil {
			t.Errorf("last seen of a user deleted meanwhile: %v, want no error", err)
		}
	})
}

// TestRecentlySeenIsNewestFirstSinceATimeCappedAndHidesTheInvisibleAndDeleted:
// RecentlySeen returns those seen at or after since, newest first (the
// newer account first within a millisecond), at most limit, leaving out
// the never seen, the invisible and the deleted.
func TestRecentlySeenIsNewestFirstSinceATimeCappedAndHidesTheInvisibleAndDeleted(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
		ids := map[string]int64{}
		for _, c := range []struct {
			name string
			seen time.Duration // after t0; 0: never
		}{
			{"alice", 5 * time.Minute},
			{"bob", 50 * time.Minute},
			{"carol", -time.Minute}, // before since
			{"dave", 30 * time.Minute},
			{"erin", 30 * time.Minute}, // same millisecond as dave, newer account
			{"frank", 0},
			{"gina", 40 * time.Minute}, // will be invisible
			{"hal", 45 * time.Minute},  // will be deleted
			{"ivy", 0},                 // exactly since
		} {
			u, err := s.Add(ctx, c.name, c.name+"'s password")
			if err != nil {
				t.Fatal(err)
			}
			ids[c.name] = u.ID
			if c.seen != 0 {
				if err := s.TouchLastSeen(ctx, u.ID, t0.Add(c.seen)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.TouchLastSeen(ctx, ids["ivy"], t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetInvisible(ctx, ids["gina"], true); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "hal"); err != nil {
			t.Fatal(err)
		}
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		all := []users.Seen{
			{Name: "bob", LastSeen: at(50 * time.Minute)},
			{Name: "erin", LastSeen: at(30 * time.Minute)},
			{Name: "dave", LastSeen: at(30 * time.Minute)},
			{Name: "alice", LastSeen: at(5 * time.Minute)},
			{Name: "ivy", LastSeen: t0},
		}
		if got := recently(t, s, t0, 10); !reflect.DeepEqual(got, all) {
			t.Errorf("since t0:\n got %+v\nwant %+v", got, all)
		}
		if got := recently(t, s, t0, 3); !reflect.DeepEqual(got, all[:3]) {
			t.Errorf("since t0, 3 at most:\n got %+v\nwant %+v", got, all[:3])
		}
		if got := recently(t, s, at(30*time.Minute), 10); !reflect.DeepEqual(got, all[:3]) {
			t.Errorf("since dave and erin were seen:\n got %+v\nwant %+v", got, all[:3])
		}
		if got := recently(t, s, at(30*time.Minute+time.Millisecond), 10); !reflect.DeepEqual(got, all[:1]) {
			t.Errorf("since just after dave and erin:\n got %+v\nwant %+v", got, all[:1])
		}
		for _, limit := range []int{0, -1} {
			if got := recently(t, s, t0, limit); len(got) != 0 {
				t.Errorf("limit %d: %+v", limit, got)
			}
		}
		// carol, seen before since, is there from earlier on; gina again
		// once visible.
		if _, err := s.SetInvisible(ctx, ids["gina"], false); err != nil {
			t.Fatal(err)
		}
		want := append(append([]users.Seen{}, all[0], users.Seen{Name: "gina", LastSeen: at(40 * time.Minute)}), all[1:]...)
		want = append(want, users.Seen{Name: "carol", LastSeen: at(-time.Minute)})
		if got := recently(t, s, at(-time.Hour), 10); !reflect.DeepEqual(got, want) {
			t.Errorf("since an hour before, gina visible:\n got %+v\nwant %+v", got, want)
		}
		if seen, err := s.RecentlySeen(ctx, t0, 1); err != nil || len(seen) != 1 || seen[0].ID != ids["bob"] {
			t.Errorf("newest = %+v, %v; want bob, id %d", seen, err, ids["bob"])
		}
	})
}

// TestPresenceSettingsAndLastSeenSurviveARestart: what a user set and when
// they were last seen are read back by a store opened anew on the same
// database (the migrations found up to date), not only by the one that
// wrote them.
func TestPresenceSettingsAndLastSeenSurviveARestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		seen := time.Date(2026, 11, 24, 9, 59, 4, 123e6, time.UTC)
		first := openStore(t, dsn)
		alice, err := first.Add(ctx, "alice", "alice's password")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := first.Add(ctx, "bob", "bob's password")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.SetStatus(ctx, alice.ID, users.StatusBusy, "busy – in a meeting ☕"); err != nil {
			t.Fatal(err)
		}
		if err := first.TouchLastSeen(ctx, alice.ID, seen); err != nil {
			t.Fatal(err)
		}
		if err := first.TouchLastSeen(ctx, bob.ID, seen.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := first.SetInvisible(ctx, bob.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}

		again := openStore(t, dsn)
		if u, err := again.ByID(ctx, alice.ID); err != nil ||
			u.Presence != (users.Presence{Status: users.StatusBusy, Text: "busy – in a meeting ☕"}) {
			t.Errorf("alice after a restart: %+v, %v", u, err)
		}
		if u, err := again.ByID(ctx, bob.ID); err != nil || u.Presence != (users.Presence{Invisible: true}) {
			t.Errorf("bob after a restart: %+v, %v", u, err)
		}
		want := []users.Seen{{ID: alice.ID, Name: "alice", LastSeen: seen}}
		if got, err := again.RecentlySeen(ctx, seen.Add(-time.Hour), 10); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("recently seen after a restart: %+v, %v; want %+v", got, err, want)
		}
	})
}
