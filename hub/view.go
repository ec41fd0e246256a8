package hub

import (
	"fmt"
	"time"
)

// Person is someone who can be online: a signed-in user or a guest browser.
type Person struct {
	// Key identifies the person across all their connections. For users it
	// also names their list item, so it must be a valid HTML id.
	Key   string
	Name  string // shown in the user list and the log; empty for guests
	Guest bool
	// Status and Text are what the person set by hand (the zero value:
	// available, no text). The first connection that brings them onto
	// this instance sets them; after that only SetStatus changes them.
	Status Status
	Text   string
	// Invisible makes the person a viewer only: their subscriptions get
	// the frames everyone gets and count, list, log and hold nothing (see
	// ConnectWake).
	Invisible bool
}

// Status is a person's availability. Its zero value is StatusAvailable.
type Status uint8

// The statuses a person can set by hand, and a row can show.
const (
	StatusAvailable Status = iota
	StatusBusy
	StatusAway
)

// String returns "available", "busy" or "away".
func (s Status) String() string {
	switch s {
	case StatusAvailable:
		return "available"
	case StatusBusy:
		return "busy"
	case StatusAway:
		return "away"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// User is one row of the online users list.
type User struct {
	Key  string
	Name string
	Tabs int // open connections; the list shows a badge above one
	// Status is the status the row shows: busy or away set by hand wins,
	// else away when the person is idle, else available. Text is their
	// status text, "" for none.
	Status Status
	Text   string
}

// Counts are the figures shown above and below the user list.
type Counts struct {
	People   int // users and guests online, each counted once
	Guests   int // guests among People
	Unlisted int // users online but beyond the list limit ("+N more")
}

// Entry is one line of the activity log: people who came online or went
// offline together, within one frame.
type Entry struct {
	ID      uint64 // orders the log; names the entry's list item
	At      time.Time
	Arrived bool     // came online (true) or went offline (false)
	Names   []string // the first few users, in order of the event
	Others  int      // users beyond Names
	Guests  int
	// Visits, in an entry of its own (no Names, Others or Guests), counts
	// guests who came and went within one LogWindow: "3 guests came and
	// went". Arrived is then false.
	Visits int
}

// Snapshot is everything a newly connected viewer needs.
type Snapshot struct {
	Counts Counts
	Users  []User  // listed users, in the list's order: by name (see listed.go)
	Log    []Entry // newest first
	// At is when it was taken, by the hub's clock: the log's times are
	// labelled relative to it ("today 09:59 UTC").
	At time.Time
}

// Diff is what changed between two frames. Its size depends on how much
// changed, never on how many people are online.
type Diff struct {
	Counts  *Counts  // nil when unchanged
	Removed []string // keys of list items to delete
	Updated []User   // listed users whose row changed (tabs, status, text): each replaces its row
	// Added are users to insert into the list, each before the row its
	// Before names, in the order to apply them: a row named by Before is
	// shown already, or inserted earlier in Added.
	Added   []Placed
	Logged  []Entry  // new log entries, newest first
	Trimmed []uint64 // IDs of log entries that fell off the end
	// Relogged are entries already shown that a burst changed ("alice
	// came online" now "alice and bob came online"): each replaces the
	// shown entry with its ID.
	Relogged []Entry

	// LogReplaced says the log changed other than by Logged and Trimmed (an
	// entry went below one already shown, or was renumbered): Log is then
	// the whole log, newest first, and Logged, Trimmed and Relogged are
	// empty. Rare.
	LogReplaced bool
	Log         []Entry

	// At is when the frame was made, by the hub's clock: the log's times
	// are labelled relative to it ("today 09:59 UTC").
	At time.Time

	// Extra is a frame rendered elsewhere (the lobby's Rooms panel, given
	// through Attach) that goes out within this one: the renderer appends
	// its HTML, so a viewer gets one message per tick, not two.
	Extra *Frame
}

// Frame is one rendered message, shared by every subscriber that gets it.
type Frame struct {
	HTML     []byte    // the payload as sent over WebSocket
	Event    []byte    // the same payload framed as a server-sent event
	Rendered time.Time // when a diff was rendered, to measure fan-out; zero for snapshots
}

// Renderer turns the hub's state into frames. The hub calls it once per
// change, never once per subscriber.
type Renderer interface {
	Snapshot(Snapshot) (*Frame, error)
	Diff(Diff) (*Frame, error)
}
