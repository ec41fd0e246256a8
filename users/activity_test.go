package users_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"herenow/users"
)

// TestActivityLogIsKeptTrimmedAndForgotten: entries saved are read back
// as they were, by room; saving an ID again replaces it (a burst grew);
// each room keeps its newest; a forgotten room's log goes, the others
// stay.
func TestActivityLogIsKeptTrimmedAndForgotten(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		at := time.Date(2026, 11, 24, 9, 59, 4, 123e6, time.UTC)
		lobby := []users.LogEntry{
			{ID: 1, At: at, Arrived: true, Names: []string{"alice"}},
			{ID: 2, At: at.Add(time.Minute), Names: []string{}, Visits: 3},
			{ID: 3, At: at.Add(2 * time.Minute), Arrived: false, Names: []string{"bob", `"carol"`, "dave"}, Others: 2, Guests: 1},
		}
		if err := s.SaveLog(ctx, "", lobby, 5); err != nil {
			t.Fatal(err)
		}
		room := []users.LogEntry{{ID: 1, At: at, Arrived: true, Names: []string{"erin"}}}
		if err := s.SaveLog(ctx, "standup", room, 5); err != nil {
			t.Fatal(err)
		}
		// Entry 1 grew into a burst; 4 and 5 came; the log keeps 4.
		lobby[0].Names = []string{"alice", "frank"}
		more := []users.LogEntry{lobby[0], {ID: 4, At: at.Add(3 * time.Minute), Names: []string{"gina"}}, {ID: 5, At: at.Add(4 * time.Minute), Names: []string{"hal"}}}
		if err := s.SaveLog(ctx, "", more, 4); err != nil {
			t.Fatal(err)
		}
		logs, err := s.Logs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]users.LogEntry{
			"":        {lobby[1], lobby[2], more[1], more[2]}, // entry 1, the oldest, trimmed
			"standup": room,
		}
		if !reflect.DeepEqual(logs, want) {
			t.Errorf("logs = %+v\nwant %+v", logs, want)
		}

		if err := s.SaveLog(ctx, "", more[:1], 4); err != nil { // entry 1 again: still the oldest of five
			t.Fatal(err)
		}
		if logs, _ := s.Logs(ctx); len(logs[""]) != 4 || logs[""][0].ID != 2 {
			t.Errorf("after saving an old entry again the lobby's log is %+v, want 2, 3, 4, 5", logs[""])
		}

		if err := s.ForgetLog(ctx, "standup"); err != nil {
			t.Fatal(err)
		}
		logs, err = s.Logs(ctx)
		if err != nil || len(logs) != 1 || len(logs[""]) != 4 {
			t.Errorf("after forgetting standup: %+v, %v; want the lobby's 4 entries alone", logs, err)
		}
	})
}
