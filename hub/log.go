package hub

// The activity log: entries for people who came online or went offline,
// numbered 1, 2, ... alone or by the cluster (AddEntries), or provisionally
// above ProvisionalBase while cut off from it (Renumber gives them shared
// IDs later). Entries wait in pending and are merged into the log with the
// next frame. Locking: see hub.go.

import (
	"cmp"
	"slices"
	"time"
)

// AddEntries merges entries into the log by ID: an entry whose ID is
// already held (shown or about to be) is skipped, and one older than the
// newest held is inserted in order, not dropped. They go out with the next
// frame; the log keeps the LogSize newest.
func (h *Hub) AddEntries(entries []Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	added := false
	for _, e := range entries {
		if h.holds(e.ID) || (len(h.log) >= h.cfg.LogSize && e.ID < h.log[0].ID) {
			continue // held, or too old to ever be shown
		}
		h.addPending(e)
		if e.ID < ProvisionalBase {
			h.nextID = max(h.nextID, e.ID)
		}
		added = true
	}
	if excess := len(h.pending) - h.cfg.LogSize; excess > 0 {
		// Only the LogSize newest can be shown: the log is never longer.
		clear(h.pending[:excess])
		h.pending = slices.Delete(h.pending, 0, excess)
	}
	if added {
		h.scheduleFrame()
	}
}

// Renumber gives the provisional entry from the shared ID to, once the
// cluster has shared it. The log is re-sorted and the next frame shows it.
// If to is already held (the shared copy arrived first), from is dropped.
func (h *Hub) Renumber(from, to uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || from == to {
		return
	}
	if to < ProvisionalBase {
		h.nextID = max(h.nextID, to)
	}
	held := h.holds(to)
	if i, ok := findEntry(h.pending, from); ok {
		e := h.pending[i]
		h.pending = slices.Delete(h.pending, i, i+1)
		if !held {
			e.ID = to
			h.addPending(e)
		}
		return // not shown yet: the next frame merges it as any other
	}
	i, ok := findEntry(h.log, from)
	if !ok {
		return
	}
	e := h.log[i]
	h.log = slices.Delete(h.log, i, i+1)
	if !held {
		e.ID = to
		j, _ := findEntry(h.log, to)
		h.log = slices.Insert(h.log, j, e)
	}
	h.reorder = true
	h.scheduleFrame()
}

// Provisional returns the entries held with provisional IDs (above
// ProvisionalBase), oldest first: what this instance logged while cut off
// from the cluster.
func (h *Hub) Provisional() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Entry
	for _, entries := range [][]Entry{h.log, h.pending} {
		i, _ := findEntry(entries, ProvisionalBase+1)
		out = append(out, entries[i:]...)
	}
	slices.SortFunc(out, byID)
	return out
}

// LogSize is how many activity entries the hub keeps.
func (h *Hub) LogSize() int { return h.cfg.LogSize }

// LogWindow is the hub's Config.LogWindow: a cluster summarises guests
// once per this in the logs it shares, as a hub on its own does.
func (h *Hub) LogWindow() time.Duration { return h.cfg.LogWindow }

func byID(a, b Entry) int { return cmp.Compare(a.ID, b.ID) }

// findEntry finds id in entries sorted by ID: its index, or where it would
// go.
func findEntry(entries []Entry, id uint64) (int, bool) {
	return slices.BinarySearchFunc(entries, id, func(e Entry, id uint64) int { return cmp.Compare(e.ID, id) })
}

// holds reports whether an entry with id is shown or about to be.
func (h *Hub) holds(id uint64) bool {
	_, inLog := findEntry(h.log, id)
	_, inPending := findEntry(h.pending, id)
	return inLog || inPending
}

// addPending queues e for the next frame, keeping pending sorted; entries
// mostly come in order, so this is mostly an append.
func (h *Hub) addPending(e Entry) {
	i, _ := findEntry(h.pending, e.ID)
	h.pending = slices.Insert(h.pending, i, e)
}

// namesPerEntry is how many users an activity entry names before it
// summarises the rest as "and N others".
const namesPerEntry = 3

// newEntry logs people who came or went together, numbered as logging
// says, for the next frame: a new entry, or, in a burst, the newest one
// with them added (joinBurst).
func (h *Hub) newEntry(at time.Time, logging Logging, arrived bool, people []Person) {
	if logging == LogAlone && h.cfg.LogWindow > 0 && h.joinBurst(at, arrived, people) {
		return
	}
	e := Entry{At: at, Arrived: arrived}
	if logging == LogProvisional {
		// Above every provisional ID held, and never one handed out before
		// (an earlier one may since have been renumbered).
		newest := h.nextProv
		if n := len(h.log); n > 0 {
			newest = max(newest, h.log[n-1].ID)
		}
		if n := len(h.pending); n > 0 {
			newest = max(newest, h.pending[n-1].ID)
		}
		h.nextProv = newest + 1
		e.ID = h.nextProv
	} else {
		h.nextID++
		e.ID = h.nextID
	}
	e.add(people)
	h.addPending(e)
	h.written = append(h.written, e.ID)
}

// add counts people into e: the first few users by name, the rest as
// others, and guests.
func (e *Entry) add(people []Person) {
	for _, p := range people {
		switch {
		case p.Guest:
			e.Guests++
		case len(e.Names) < namesPerEntry:
			e.Names = append(e.Names, p.Name)
		default:
			e.Others++
		}
	}
}

// joinBurst adds users who came (or went) to the newest entry, and
// reports whether it did: when that entry is this hub's, says the same
// of users only (no guests, no visits), and was begun within LogWindow of
// at. Nothing was logged since, or it would not be the newest. An entry
// already shown is sent again in the next frame (Diff.Relogged), which
// replaces it by its ID; its time stays the burst's first.
func (h *Hub) joinBurst(at time.Time, arrived bool, people []Person) bool {
	entries := h.pending
	if len(entries) == 0 {
		entries = h.log
	}
	if len(entries) == 0 {
		return false
	}
	last := &entries[len(entries)-1]
	if last.ID >= ProvisionalBase || last.Arrived != arrived || last.Guests+last.Visits > 0 ||
		len(last.Names) == 0 || at.Sub(last.At) >= h.cfg.LogWindow || slices.ContainsFunc(people, func(p Person) bool { return p.Guest }) {
		return false
	}
	// A fresh Names: a snapshot taken earlier may share the old one, and
	// is read outside the lock.
	last.Names = slices.Clip(last.Names)
	last.add(people)
	if len(h.pending) == 0 && !slices.Contains(h.relogged, last.ID) {
		h.relogged = append(h.relogged, last.ID)
	}
	if !slices.Contains(h.written, last.ID) {
		h.written = append(h.written, last.ID)
	}
	return true
}

// guestTally is the guests' comings and goings in the current LogWindow,
// summarised when it ends (closeGuestWindow). came holds the guests whose
// arrival is in it and who are still here: one who leaves within it
// counts as a visit, neither an arrival nor a departure.
type guestTally struct {
	open   bool
	due    time.Time // when the window ends
	came   map[string]bool
	visits int // came and went within the window
	went   int // were here before the window and went
	timer  Timer
	gen    uint64 // tells a stopped timer from the current one
}

// tallyGuests counts the guests among arrived and left into the current
// window, opening one if none is, and returns the users, to be logged as
// they come and go.
func (h *Hub) tallyGuests(now time.Time, arrived, left []Person) (users, usersLeft []Person) {
	g := &h.guests
	for _, p := range arrived {
		if !p.Guest {
			users = append(users, p)
			continue
		}
		h.openGuestWindow(now)
		g.came[p.Key] = true
	}
	for _, p := range left {
		if !p.Guest {
			usersLeft = append(usersLeft, p)
			continue
		}
		h.openGuestWindow(now)
		if g.came[p.Key] {
			delete(g.came, p.Key)
			g.visits++
		} else {
			g.went++
		}
	}
	return users, usersLeft
}

func (h *Hub) openGuestWindow(now time.Time) {
	g := &h.guests
	if g.open {
		return
	}
	g.open, g.due = true, now.Add(h.cfg.LogWindow)
	if g.came == nil {
		g.came = make(map[string]bool)
	}
	g.gen++
	gen := g.gen
	g.timer = h.cfg.Clock.AfterFunc(h.cfg.LogWindow, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed || h.guests.gen != gen {
			return
		}
		h.guests.timer = nil
		h.scheduleFrame() // the flush closes the window
	})
}

// closeGuestWindow, once the window is over, logs what it saw: "2 guests
// came online", "3 guests came and went", "a guest went offline", each an
// entry of its own and only when there is something to say.
func (h *Hub) closeGuestWindow(now time.Time) {
	g := &h.guests
	if !g.open || now.Before(g.due) {
		return
	}
	for _, e := range []Entry{
		{Arrived: true, Guests: len(g.came)},
		{Visits: g.visits},
		{Guests: g.went},
	} {
		if e.Guests+e.Visits == 0 {
			continue
		}
		h.nextID++
		e.ID, e.At = h.nextID, now
		h.addPending(e)
		h.written = append(h.written, e.ID)
	}
	clear(g.came)
	g.open, g.visits, g.went = false, 0, 0
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// tellLogged hands Config.Logged the entries this hub wrote or changed
// since the last frame and still holds, oldest first.
func (h *Hub) tellLogged() {
	if len(h.written) == 0 {
		return
	}
	if h.cfg.Logged != nil {
		slices.Sort(h.written)
		var out []Entry
		for _, id := range h.written {
			if i, ok := findEntry(h.log, id); ok {
				out = append(out, h.log[i])
			}
		}
		if len(out) > 0 {
			h.cfg.Logged(out)
		}
	}
	h.written = h.written[:0]
}

// mergeLog moves the pending entries into the log, trims it to LogSize and
// puts the change in d. In the common case, entries newer than all shown,
// d gets them (Logged) and the IDs that fell off the end (Trimmed); when an
// entry went anywhere else, or Renumber moved one, d carries the whole log
// instead (Log, LogReplaced).
func (h *Hub) mergeLog(d *Diff) {
	added := h.pending
	reorder := h.reorder
	relogged := h.relogged
	h.reorder, h.relogged = false, h.relogged[:0]
	if len(added) == 0 && !reorder && len(relogged) == 0 {
		return
	}
	var newest uint64 // of the entries shown
	if n := len(h.log); n > 0 {
		newest = h.log[n-1].ID
	}
	switch {
	case len(added) == 0:
	case added[0].ID > newest:
		h.log = append(h.log, added...)
	default:
		merged := make([]Entry, 0, len(h.log)+len(added))
		merged = append(append(merged, h.log...), added...)
		slices.SortFunc(merged, byID)
		h.log = merged
	}
	isNew := func(id uint64) bool {
		_, found := findEntry(added, id)
		return found
	}
	if excess := len(h.log) - h.cfg.LogSize; excess > 0 {
		for _, e := range h.log[:excess] {
			if !isNew(e.ID) { // one added and trimmed in the same frame is never sent
				d.Trimmed = append(d.Trimmed, e.ID)
			}
		}
		clear(h.log[:excess])
		h.log = h.log[excess:]
	}
	for i := len(added) - 1; i >= 0 && len(h.log) > 0 && added[i].ID >= h.log[0].ID; i-- {
		if added[i].ID < newest {
			reorder = true // shown below an entry already shown
		}
		d.Logged = append(d.Logged, added[i])
	}
	for _, id := range relogged {
		if i, ok := findEntry(h.log, id); ok {
			d.Relogged = append(d.Relogged, h.log[i])
		}
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	if reorder {
		d.Logged, d.Trimmed, d.Relogged = nil, nil, nil
		d.LogReplaced = true
		d.Log = make([]Entry, 0, len(h.log))
		for i := len(h.log) - 1; i >= 0; i-- {
			d.Log = append(d.Log, h.log[i])
		}
	}
}
