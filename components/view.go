// Package components renders herenow's pages and live fragments with templ.
// Every input is a plain view model; nothing here knows HTTP, the hub or the
// database.
package components

import (
	"context"
	"hash/fnv"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/a-h/templ"
)

// Assets are the URLs of the browser libraries and of herenow's stylesheet.
type Assets struct {
	HTMX  string
	WS    string
	SSE   string
	Bulma string
	Style string
	// Favicon is the site's icon, an SVG.
	Favicon string
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
	Key  string // the row's HTML id, also a CSS id selector (u-7)
	Name string
	Tabs int
}

// Placed is a row to insert into the online users list: before the row
// whose key is Before, or at the end of the list when Before is empty.
type Placed struct {
	UserItem
	Before string
}

// swap is the hx-swap-oob that puts the row in its place.
func (p Placed) swap() string {
	if p.Before == "" {
		return "beforeend:#online-users"
	}
	return "beforebegin:#" + p.Before
}

// FaceColours is how many colours a face may have: the stylesheet's
// classes face-0 to face-11.
const FaceColours = 12

// faceClass names the colour of the user's face, the same for a name
// everywhere and always: face-N for N the 32-bit FNV-1a hash of the name,
// modulo FaceColours. It is a class because the Content-Security-Policy
// allows no style attribute.
func (u UserItem) faceClass() string {
	h := fnv.New32a()
	io.WriteString(h, u.Name) //nolint:errcheck // a hash's Write never fails
	return "face-" + strconv.FormatUint(uint64(h.Sum32()%FaceColours), 10)
}

// initials are what the user's face shows, in capitals: the first letter
// (or digit) of the name and the first one after a separator ('-', '_',
// '.' or a space) if there is one: "AS" for alice.smith, "B" for bob, "?"
// for a name with neither. A letter keeps the combining marks that follow
// it (a Devanagari vowel sign, an accent left undecomposed), so no letter
// is cut from its mark.
func (u UserItem) initials() string {
	var out []rune
	taken, wanted, taking := 0, true, false
	for _, r := range u.Name {
		if taking && unicode.IsMark(r) {
			out = append(out, r)
			continue
		}
		taking = false
		if taken == 2 {
			break
		}
		switch {
		case r == '-' || r == '_' || r == '.' || unicode.IsSpace(r):
			wanted = true
		case wanted && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			out = append(out, r)
			taken++
			wanted, taking = false, true
		}
	}
	if taken == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

// Entry is one line of the activity log.
type Entry struct {
	ID      uint64
	At      time.Time
	Arrived bool
	Names   []string
	Others  int
	Guests  int
	Visits  int // guests who came and went within a minute or so, in an entry of their own
}

// Live is the whole live region: what a viewer sees on first load and what a
// new live connection resyncs to.
type Live struct {
	// Room is the room the region shows, empty for the lobby: it picks the
	// live endpoints (/r/ROOM/live/... or /live/...) and the log's wording
	// ("joined" and "left" in a room, "came online" and "went offline" in
	// the lobby).
	Room string
	// Greets is whom the page's navbar greets ("guest", or a user's key),
	// carried by its live endpoints' addresses: a live connection sends a
	// Greeting only when its visitor is someone else, so that a page whose
	// navbar is right is not swapped under a keyboard's focus.
	Greets string
	Count  Count
	Users  []UserItem
	Log    []Entry // newest first
	// Now is when the region is rendered: the log's times are labelled
	// relative to it, in UTC ("today 09:59 UTC"). Zero: every label gives
	// the date.
	Now time.Time
}

// Diff is one change to the live region, applied by htmx out-of-band swaps.
type Diff struct {
	Count   *Count
	Removed []string
	Updated []UserItem
	// Added are rows to insert, in the order to apply them: the row each
	// goes before is shown already, or inserted earlier in Added.
	Added   []Placed
	Logged  []Entry // newest first
	Trimmed []uint64
	// Relogged are entries already shown that changed (a burst of
	// arrivals grew): each replaces the shown entry with its ID.
	Relogged []Entry
	// LogReplaced: Log is the whole activity log, newest first, replacing
	// what is shown (an entry went below one shown, or was renumbered);
	// Logged and Trimmed are then unused.
	LogReplaced bool
	Log         []Entry
	// Now is when the frame is rendered, as Live.Now.
	Now time.Time
	// Room is the room whose diff this is, empty for the lobby: its log
	// reads "joined" and "left" rather than the lobby's "came online" and
	// "went offline", and its page's title names it. It is here and not on
	// Entry so that Entry keeps hub.Entry's fields, which the handlers
	// convert one into the other.
	Room string
}

// IndexPage is the view model of "/", the lobby.
type IndexPage struct {
	Assets Assets
	Me     *Me
	Live   Live
	Rooms  *RoomsPanel // nil: the site has no rooms
}

// RoomsPanel is the lobby's list of the rooms in use, busiest first.
type RoomsPanel struct {
	Rooms []RoomRow // the rows shown, busiest first
	More  int       // rooms in use beyond Rooms ("+N more rooms")
}

// RoomRow is one room in the Rooms panel: "standup · 5 people · alice,
// bob, carol, 1 other and a guest".
type RoomRow struct {
	Name   string   // a valid room name, also its URL path segment
	People int      // everyone in the room, each person once
	Guests int      // guests among People
	Names  []string // the first few users in the room
	Others int      // users beyond Names
}

// RoomPage is the view model of "/r/{room}".
type RoomPage struct {
	Assets Assets
	Me     *Me
	Room   string
	Live   Live // its Room is taken to be Room
}

// RoomNotFoundPage is the view model of the 404 page for a name that is
// not a room.
type RoomNotFoundPage struct {
	Assets Assets
	Me     *Me
	Name   string // the name asked for, as given
	Rule   string // what a room's name may be, as a sentence
}

// RoomsFullPage is the view model of the 503 page for a new room past the
// limit on rooms in use.
type RoomsFullPage struct {
	Assets Assets
	Me     *Me
	Name   string
}

// MethodNotAllowedPage is the view model of the 405 page.
type MethodNotAllowedPage struct {
	Assets  Assets
	Me      *Me
	Method  string   // the request's method, as given
	Allowed []string // the methods the address takes, if any
}

// sentence says what went wrong: "This address does not take a GET
// request; it takes POST."
func (p MethodNotAllowedPage) sentence() string {
	s := "This address does not take a " + p.Method + " request"
	if len(p.Allowed) > 0 {
		s += "; it takes " + who(p.Allowed, 0, 0)
	}
	return s + "."
}

// TooManyAttemptsPage is the view model of the 429 page for a login
// refused by the login limits.
type TooManyAttemptsPage struct {
	Assets     Assets
	Me         *Me
	RetryAfter time.Duration // what the Retry-After header says
}

// wait says how long to wait: "a minute", "2 minutes", "30 seconds", "a
// moment" when the time is not known.
func (p TooManyAttemptsPage) wait() string {
	switch d := p.RetryAfter; {
	case d <= time.Second:
		return "a moment"
	case d == time.Minute:
		return "a minute"
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute", "minutes")
	default:
		return plural(int(d.Round(time.Second)/time.Second), "second", "seconds")
	}
}

// LoginPage is the view model of "/login".
type LoginPage struct {
	Assets Assets
	// Me is who is signed in, if anyone: the page then says so and offers
	// to log out rather than a form.
	Me       *Me
	Username string // echoed back after a failed attempt
	Error    string
}

// meStylesheet is the address of the per-viewer stylesheet, which marks
// the viewer's own row "(you)" and shows them their tabs badge: the frames,
// the same for every viewer, cannot.
const meStylesheet = "/me.css"

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

// more counts the users online beyond the list: "+3 more", or "".
func (c Count) more() string {
	if c.Unlisted == 0 {
		return ""
	}
	return "+" + strconv.Itoa(c.Unlisted) + " more"
}

// guests counts the guests online, after the users if any: "and 2 guests"
// (after "+3 more" too), "1 guest" alone, or "" for none.
func (c Count) guests() string {
	if c.Guests == 0 {
		return ""
	}
	guests := plural(c.Guests, "guest", "guests")
	if c.People > c.Guests {
		return "and " + guests
	}
	return guests
}

// lobbyTitle names the lobby's page, in its title and heading.
const lobbyTitle = "Who is online"

// liveTitle is the title of the page that shows a live region, the same
// on the page as rendered and in every frame that changes its count:
// "(5) Who is online" in the lobby, "(3) standup" in a room. With nobody
// online it is the page's name alone.
func liveTitle(room string, people int) string {
	name := room
	if name == "" {
		name = lobbyTitle
	}
	if people <= 0 {
		return name
	}
	return "(" + strconv.Itoa(people) + ") " + name
}

// url is the address of one of a live region's endpoints: path under the
// lobby ("/live/ws") or under the room ("/r/standup/live/ws"), saying whom
// the page greets ("?greets=u-7").
func (l Live) url(path string) string {
	if l.Room != "" {
		path = "/r/" + url.PathEscape(l.Room) + path
	}
	if l.Greets != "" {
		path += "?greets=" + url.QueryEscape(l.Greets)
	}
	return string(templ.URL(path))
}

// roomURL is the address of a room's page.
func roomURL(room string) templ.SafeURL {
	return templ.URL("/r/" + url.PathEscape(room))
}

// who names a group of people: "alice, bob, 3 others and a guest".
func who(names []string, others, guests int) string {
	parts := make([]string, 0, len(names)+2)
	parts = append(parts, names...)
	if others > 0 {
		parts = append(parts, plural(others, "other", "others"))
	}
	switch {
	case guests == 1:
		parts = append(parts, "a guest")
	case guests > 1:
		parts = append(parts, plural(guests, "guest", "guests"))
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// subject says who an entry is about: "alice, bob, 3 others and a guest",
// or "3 guests" who came and went.
func (e Entry) subject() string {
	if e.Visits > 0 {
		return who(nil, 0, e.Visits)
	}
	return who(e.Names, e.Others, e.Guests)
}

// verb says what the entry's people did: in a room they joined or left it,
// in the lobby they came online or went offline; guests who came and went
// within a minute or so are summarised as such.
func (e Entry) verb(inRoom bool) string {
	switch {
	case e.Visits > 0 && inRoom:
		return " joined and left"
	case e.Visits > 0:
		return " came and went"
	case inRoom && e.Arrived:
		return " joined"
	case inRoom:
		return " left"
	case e.Arrived:
		return " came online"
	default:
		return " went offline"
	}
}

// timeLabel says when an entry was made, in UTC, relative to now: "today
// 09:59 UTC", "yesterday 23:10 UTC", "Mon 24 Nov 09:59 UTC" before that
// (or after now: another instance's clock may run ahead), with the year
// when it is not now's. A frame goes to every viewer alike, wherever
// they are, so "today" is the UTC day of now: the moment the frame was
// rendered, not the moment it is read.
func timeLabel(at, now time.Time) string {
	at, now = at.UTC(), now.UTC()
	clock := at.Format("15:04") + " UTC"
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch {
	case now.IsZero():
	case !at.Before(today) && at.Before(today.AddDate(0, 0, 1)):
		return "today " + clock
	case !at.Before(today.AddDate(0, 0, -1)) && at.Before(today):
		return "yesterday " + clock
	case at.Year() == now.Year():
		return at.Format("Mon 2 Jan ") + clock
	}
	return at.Format("Mon 2 Jan 2006 ") + clock
}

// fullTime is an entry's time to the second, with its date: the label's
// tooltip.
func fullTime(at time.Time) string {
	return at.UTC().Format("Monday 2 January 2006, 15:04:05") + " UTC"
}

// people is a room's count: "1 person", "3 people".
func (r RoomRow) people() string { return plural(r.People, "person", "people") }

// who names the room's first people: "alice, bob and 2 guests".
func (r RoomRow) who() string { return who(r.Names, r.Others, r.Guests) }

// more counts the rooms beyond the panel's rows: "+2 more rooms".
func (p RoomsPanel) more() string {
	if p.More == 1 {
		return "+1 more room"
	}
	return "+" + strconv.Itoa(p.More) + " more rooms"
}

// roomNamePattern is the form's hint of what a room's name may be (the
// server folds case, so capitals pass); the server checks the name again.
// HTML patterns compile with the v flag, where '-' in a class is escaped.
const roomNamePattern = `[A-Za-z0-9._\-]{1,64}`

// roomNameHelp says the rule in words under the form's field.
const roomNameHelp = "1 to 64 characters: letters a-z, digits, '-', '_' and '.'"

// live is the room's live region, connecting to the room's endpoints
// whatever the caller left in Live.Room.
func (p RoomPage) live() Live {
	l := p.Live
	l.Room = p.Room
	return l
}

// breakable writes a room's name with a line break allowed (<wbr>) every
// 16 characters: a name of 64 letters is one word that would push a
// phone's page sideways, and the CSP leaves no style attribute to make it
// wrap. Each piece is escaped as any text is.
func breakable(name string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		const piece = 16
		for i := 0; i < len(name); i += piece {
			if i > 0 {
				if _, err := io.WriteString(w, "<wbr>"); err != nil {
					return err
				}
			}
			if _, err := io.WriteString(w, templ.EscapeString(name[i:min(i+piece, len(name))])); err != nil {
				return err
			}
		}
		return nil
	})
}
