package handlers

import (
	"fmt"
	"net/http"
	"strings"
)

// serveMeCSS answers GET /me.css, the stylesheet that tells the page who
// its viewer is. Frames are rendered once for every viewer alike, so they
// cannot say "you"; every page links this stylesheet, which can. For a
// signed-in viewer it marks their own row "(you)" and shows their "N tabs"
// badge, which herenow.css hides from everyone else; for a guest it marks
// the guests "(you among them)", once the page's live connection is
// counted (#live-you, see components.YouCounted). It is never cached: it
// changes with the cookie.
func serveMeCSS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "private, no-store")
		h.Set("Vary", "Cookie")
		// Only this site's pages may use it: a sibling subdomain, to which
		// the Lax cookie still goes, must not read whose page it is from
		// the styles it applies.
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		w.Write([]byte(meCSS(visitorFrom(r.Context()))))
	})
}

// meCSS is /me.css for v. Only a user's key goes into it, and only when it
// is "u-" and digits, a valid CSS identifier: a name never does.
func meCSS(v visitor) string {
	if key := v.person().Key; v.signedIn() && isUserKey(key) {
		return fmt.Sprintf(meUserCSS, key)
	}
	return meGuestCSS
}

// isUserKey reports whether key is a signed-in user's key as issued: "u-"
// and digits.
func isUserKey(key string) bool {
	id, ok := strings.CutPrefix(key, "u-")
	return ok && isDigits(id)
}

// meUserCSS marks the row whose id is the user's key (%[1]s).
const meUserCSS = `/* You are signed in: your row is marked, and your tabs badge shown. */
#online-users > #%[1]s > .user-name::after {
  content: " (you)";
}

#online-users > #%[1]s > .tabs-badge {
  display: inline-flex;
}
`

// meGuestCSS marks the guests, among whom a guest's page counts them once
// its live connection is counted.
const meGuestCSS = `/* You are a guest: once your page's live connection is counted, you are one of the guests. */
#live:has(> #live-you.is-counted) #online-rest .online-guests::after {
  content: " (you among them)";
}

#live:has(> #live-you.is-counted) #online-rest .online-guests[data-guests="1"]::after {
  content: " (you)";
}
`
