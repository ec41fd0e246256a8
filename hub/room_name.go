package hub

import (
	"errors"
	"fmt"
)

// MaxRoomName is the longest a room's name may be.
const MaxRoomName = 64

// ErrRoomName says what a room's name may be.
var ErrRoomName = errors.New("a room's name is 1 to 64 characters from a-z, 0-9, '-', '_' and '.'")

// RoomName returns the room a name means: the name with ASCII letters
// folded to lower case ("Standup" is "standup"), or ErrRoomName when it
// has any other character or the wrong length. Nothing else is folded or
// mapped: a name that passes is its own URL path segment and HTML id
// suffix as it stands, and no two names that differ can look alike beyond
// case, which the folding already joins.
func RoomName(name string) (string, error) {
	if len(name) == 0 || len(name) > MaxRoomName {
		return "", fmt.Errorf("%w: it has %d", ErrRoomName, len(name))
	}
	folded := []byte(name)
	for i, c := range folded {
		switch {
		case 'A' <= c && c <= 'Z':
			folded[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return "", fmt.Errorf("%w: %q is not one of them", ErrRoomName, rune(c))
		}
	}
	if s := string(folded); s == "." || s == ".." {
		return "", fmt.Errorf("%w, and not %q", ErrRoomName, s)
	}
	return string(folded), nil
}
