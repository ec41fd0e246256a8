// Package components renders herenow's pages and live fragments with templ.
// Every input is a plain view model; nothing here knows HTTP, the hub or the
// database.
package components

import (
	"strconv"
	"strings"
	"time"
)

// Assets are the URLs of the browser libraries.
type Assets struct {
	HTMX  string
	WS    string
	SSE   string
	Bulma string
}

// Me is the signed-in visitor; pages take a nil *Me for a guest.
type Me struct {
	Name string
}

// Count holds the figures around the user list.
type Count struct {
	People   int // everyone online, each person once
	Guests   int // guests among People
	Unlisted int // users online beyond the list limit
}

// UserItem is one row of the online users list.
type UserItem struct {
	Key  string // the row's HTML id
	Name string
	Tabs int
}

// Entry is one line of the activity log.
type Entry struct {
	ID      uint64
	At      time.Time
	Arrived bool
	Names   []string
	Others  int
	Guests  int
}

// Live is the whole live region: what a viewer sees on first load and what a
// new live connection resyncs to.
type Live struct {
	Count Count
	Users []UserItem
	Log   []Entry // newest first
}

// Diff is one change to the live region, applied by htmx out-of-band swaps.
type Diff struct {
	Count   *Count
	Removed []string
	Updated []UserItem
	Added   []UserItem
	Logged  []Entry // newest first
	Trimmed []uint64
	// LogReplaced: Log is the whole activity log, newest first, replacing
	// what is shown (an entry went below one shown, or was renumbered);
	// Logged and Trimmed are then unused.
	LogReplaced bool
	Log         []Entry
}

// IndexPage is the view model of "/".
type IndexPage struct {
	Assets Assets
	Me     *Me
	Live   Live
}

// LoginPage is the view model of "/login".
type LoginPage struct {
	Assets   Assets
	Username string // echoed back after a failed attempt
	Error    string
}

// htmxConfig keeps htmx within a strict Content-Security-Policy: no
// injected indicator styles, no eval.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false}`

func entryID(id uint64) string { return "a-" + strconv.FormatUint(id, 10) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func peopleOnline(n int) string {
	if n == 1 {
		return "person online"
	}
	return "people online"
}

// rest says who is online beyond the named users: "+3 more and 2 guests".
func (c Count) rest() string {
	listed := c.People - c.Guests - c.Unlisted
	var s string
	if c.Unlisted > 0 {
		s = "+" + strconv.Itoa(c.Unlisted) + " more"
	}
	if c.Guests > 0 {
		guests := plural(c.Guests, "guest", "guests")
		switch {
		case s != "":
			s += " and " + guests
		case listed > 0:
			s = "and " + guests
		default:
			s = guests
		}
	}
	if c.People == 0 {
		s = "Nobody is here yet."
	}
	return s
}

// subject says who an entry is about: "alice, bob, 3 others and a guest".
func (e Entry) subject() string {
	parts := make([]string, 0, len(e.Names)+2)
	parts = append(parts, e.Names...)
	if e.Others > 0 {
		parts = append(parts, plural(e.Others, "other", "others"))
	}
	switch {
	case e.Guests == 1:
		parts = append(parts, "a guest")
	case e.Guests > 1:
		parts = append(parts, plural(e.Guests, "guest", "guests"))
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func (e Entry) verb() string {
	if e.Arrived {
		return " came online"
	}
	return " went offline"
}
