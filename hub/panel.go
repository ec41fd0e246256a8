package hub

// The Rooms panel: each room's hub tells its Site a summary of what it
// shows (tellSite, under the room's lock), the Site keeps the summaries in
// a small map of its own, and the lobby's flush, at most once a tick,
// renders the busiest PanelLimit rooms as one frame that goes out with
// the lobby's own changes (pullPanel, the lobby's Config.Extra); the
// site's panel timer makes sure a flush comes when only rooms changed.
// Locking: see hub.go.

import (
	"container/heap"
	"slices"
)

// RoomSummary is one room as the Rooms panel shows it.
type RoomSummary struct {
	Name   string
	People int      // users and guests in the room, each counted once
	Guests int      // guests among People
	Names  []string // the first few listed users, in the list's order (by name)
	Others int      // users beyond Names
}

// Panel is the Rooms panel: the busiest rooms, most people first (then by
// name), at most SiteConfig.PanelLimit of them, and how many more rooms
// have people in them.
type Panel struct {
	Rooms []RoomSummary
	More  int
}

// namesPerRoom is how many users a room's summary names.
const namesPerRoom = 3

// tellSite hands Config.Summary the room's summary if the flush changed it,
// and Config.Emptied the news that nobody is left; the caller holds h.mu
// and is flushing. Only a change of counts or of the list can change the
// summary, so most frames (tabs, log) cost a comparison of two ints.
func (h *Hub) tellSite(d *Diff) {
	if h.cfg.Summary != nil && (d.Counts != nil || len(d.Added)+len(d.Removed) > 0) {
		sum := RoomSummary{People: h.counts.People, Guests: h.counts.Guests}
		for _, sp := range h.listed[:min(len(h.listed), namesPerRoom)] {
			sum.Names = append(sum.Names, sp.person.Name)
		}
		sum.Others = sum.People - sum.Guests - len(sum.Names)
		if !sameSummary(sum, h.summary) {
			h.summary = sum
			h.cfg.Summary(sum)
		}
	}
	if h.cfg.Emptied != nil && len(h.live) == 0 {
		h.cfg.Emptied()
	}
}

func sameSummary(a, b RoomSummary) bool {
	return a.Name == b.Name && a.People == b.People && a.Guests == b.Guests && a.Others == b.Others &&
		slices.Equal(a.Names, b.Names)
}

func samePanel(a, b Panel) bool {
	return a.More == b.More && slices.EqualFunc(a.Rooms, b.Rooms, sameSummary)
}

// busier orders rooms as the panel lists them: most people first, then by
// name.
func busier(a, b RoomSummary) bool {
	if a.People != b.People {
		return a.People > b.People
	}
	return a.Name < b.Name
}

// topRooms returns the panel for rooms: the limit busiest, in order. A
// bounded heap keeps the limit best seen so far, with the least busy of
// them at its root, so the cost is O(R log limit) for R rooms, paid at most
// once per lobby tick and only when a summary changed. Keeping the rooms
// sorted at all times would make that O(changes · log R) instead, but
// needs an ordered structure kept in step under the rooms' callbacks; at
// 10,000 rooms a pass over the map is some tens of microseconds per tick,
// which is cheaper than the bookkeeping it would save.
func topRooms(rooms map[string]RoomSummary, limit int) Panel {
	if limit <= 0 {
		return Panel{More: len(rooms)}
	}
	top := make(leastBusyFirst, 0, min(limit, len(rooms)))
	for _, r := range rooms {
		switch {
		case len(top) < limit:
			heap.Push(&top, r)
		case busier(r, top[0]):
			top[0] = r
			heap.Fix(&top, 0)
		}
	}
	slices.SortFunc(top, func(a, b RoomSummary) int {
		if busier(a, b) {
			return -1
		}
		return 1 // names are unique: never equal
	})
	return Panel{Rooms: top, More: len(rooms) - len(top)}
}

// leastBusyFirst is a heap of room summaries whose root is the room the
// panel would list last.
type leastBusyFirst []RoomSummary

func (q leastBusyFirst) Len() int           { return len(q) }
func (q leastBusyFirst) Less(i, j int) bool { return busier(q[j], q[i]) }
func (q leastBusyFirst) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *leastBusyFirst) Push(x any)        { *q = append(*q, x.(RoomSummary)) }
func (q *leastBusyFirst) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
