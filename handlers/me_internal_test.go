package handlers

import (
	"strings"
	"testing"
)

// TestMeCSSTakesOnlyAUserKey: a visitor whose id is not digits alone, which
// identify never lets through, still gets the guests' rules, not a
// selector built from it.
func TestMeCSSTakesOnlyAUserKey(t *testing.T) {
	for _, id := range []string{"7 > x, body", "7}body{display:none", "+7", "-7", "7a", "٧"} {
		css := meCSS(visitor{userID: id, name: "alice"})
		if css != meGuestCSS {
			t.Errorf("user id %q: /me.css is\n%s\nwant the guests' rules", id, css)
		}
	}
	if css := meCSS(visitor{userID: "7", name: "alice"}); !strings.Contains(css, "#online-users > #u-7 > .user-name::after") || strings.Contains(css, "alice") {
		t.Errorf("user 7: /me.css is\n%s", css)
	}
}
