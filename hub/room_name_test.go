package hub_test

import (
	"errors"
	"strings"
	"testing"

	"herenow/hub"
)

func TestRoomName(t *testing.T) {
	for in, want := range map[string]string{
		"standup":               "standup",
		"Standup":               "standup",
		"team-a_2.0":            "team-a_2.0",
		strings.Repeat("a", 64): strings.Repeat("a", 64),
	} {
		if got, err := hub.RoomName(in); err != nil || got != want {
			t.Errorf("RoomName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", strings.Repeat("a", 65), "stand up", "stand/up", "ståndup", "ＳＴＡＮＤＵＰ", "standup\x00", ".", "..", "a%2fb", "<b>"} {
		if got, err := hub.RoomName(in); !errors.Is(err, hub.ErrRoomName) {
			t.Errorf("RoomName(%q) = %q, %v; want ErrRoomName", in, got, err)
		}
	}
}
