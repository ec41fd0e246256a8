package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"herenow/hub"
)

// The scripts' field separators (see scripts/common.lua): between items,
// between an item's fields, inside a field, and between a room and a
// person's key in a share's field.
const (
	itemSep  = "\x1d"
	fieldSep = "\x1e"
	innerSep = "\x1f"
	roomSep  = "\x1c"
)

// clean keeps a person's key or name from carrying a separator. Names
// that pass the naming rules have none, but an account from before them
// might; room names never do (hub.RoomName).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x1c && r <= 0x1f {
			return -1
		}
		return r
	}, s)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// op is one person's change as a script takes it.
type op struct {
	room  string // "" for the lobby
	held  hub.Held
	quiet bool // already logged here while cut off
}

// roomHeld is a person as an instance holds them in a room ("" for the
// lobby).
type roomHeld struct {
	room string
	held hub.Held
}

// logged is an entry and the room whose log it is in ("" for the lobby's).
type logged struct {
	room  string
	entry hub.Entry
}

// encodeOps writes ops as the scripts read them.
func encodeOps(ops []op) string {
	var b strings.Builder
	for i, o := range ops {
		if i > 0 {
			b.WriteString(itemSep)
		}
		conns := strconv.Itoa(o.held.Conns)
		if o.held.Gone {
			conns = "-1"
		}
		b.WriteString(clean(o.held.Person.Key))
		b.WriteString(fieldSep)
		b.WriteString(conns)
		b.WriteString(fieldSep)
		b.WriteString(clean(o.held.Person.Name))
		b.WriteString(fieldSep)
		b.WriteString(flag(o.held.Person.Guest))
		b.WriteString(fieldSep)
		b.WriteString(flag(o.quiet))
		b.WriteString(fieldSep)
		b.WriteString(o.room)
	}
	return b.String()
}

// decodeOps reads the changes of another instance's delta.
func decodeOps(s string) ([]roomHeld, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, itemSep)
	out := make([]roomHeld, 0, len(items))
	for _, item := range items {
		f := strings.Split(item, fieldSep)
		if len(f) != 6 {
			return nil, fmt.Errorf("decode change %q: %d fields", item, len(f))
		}
		h := hub.Held{Person: hub.Person{Key: f[0], Name: f[2], Guest: f[3] == "1"}}
		if f[1] == "-1" {
			h.Gone = true
		} else {
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("decode change %q: connections %q", item, f[1])
			}
			h.Conns = n
		}
		out = append(out, roomHeld{room: f[5], held: h})
	}
	return out, nil
}

// decodeShare reads an instance's share as HGETALL returns it: each field
// is a person's key in the lobby, or room roomSep key in a room.
func decodeShare(fields map[string]string) ([]roomHeld, error) {
	out := make([]roomHeld, 0, len(fields))
	for field, value := range fields {
		f := strings.Split(value, innerSep)
		if len(f) != 3 {
			return nil, fmt.Errorf("decode share of %q: %q", field, value)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("decode share of %q: connections %q", field, f[0])
		}
		room, key, inRoom := strings.Cut(field, roomSep)
		if !inRoom {
			room, key = "", field
		}
		out = append(out, roomHeld{room: room, held: hub.Held{Person: hub.Person{Key: key, Name: f[1], Guest: f[2] == "1"}, Conns: n}})
	}
	return out, nil
}

// encodeEntry writes an entry of a room's log as the scripts do: an
// eighth field, the visits, only where there are some (a guest window's
// "3 guests came and went"), so that every other entry reads as before.
func encodeEntry(l logged) string {
	e := l.entry
	names := make([]string, len(e.Names))
	for i, n := range e.Names {
		names[i] = clean(n)
	}
	fields := []string{
		strconv.FormatUint(e.ID, 10), strconv.FormatInt(e.At.UnixMilli(), 10), flag(e.Arrived),
		strconv.Itoa(e.Guests), strconv.Itoa(e.Others), strings.Join(names, innerSep), l.room,
	}
	if e.Visits > 0 {
		fields = append(fields, strconv.Itoa(e.Visits))
	}
	return strings.Join(fields, fieldSep)
}

func encodeEntries(entries []logged) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = encodeEntry(e)
	}
	return strings.Join(parts, itemSep)
}

var errBadEntry = errors.New("malformed entry")

// decodeEntries reads entries as the scripts write them, itemSep-separated.
func decodeEntries(s string) ([]logged, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, itemSep)
	out := make([]logged, 0, len(items))
	for _, item := range items {
		e, err := decodeEntry(item)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// decodeEntry reads one entry. The seventh field, its room, is missing
// from entries logged before rooms were shared: those are the lobby's.
// The eighth, visits, is there only in a guest window's "came and went".
func decodeEntry(s string) (logged, error) {
	f := strings.Split(s, fieldSep)
	if len(f) < 6 || len(f) > 8 {
		return logged{}, fmt.Errorf("%w: %q", errBadEntry, s)
	}
	id, err1 := strconv.ParseUint(f[0], 10, 64)
	at, err2 := strconv.ParseInt(f[1], 10, 64)
	guests, err3 := strconv.Atoi(f[3])
	others, err4 := strconv.Atoi(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil || id == 0 || guests < 0 || others < 0 {
		return logged{}, fmt.Errorf("%w: %q", errBadEntry, s)
	}
	l := logged{entry: hub.Entry{ID: id, At: time.UnixMilli(at).UTC(), Arrived: f[2] == "1", Guests: guests, Others: others}}
	if f[5] != "" {
		l.entry.Names = strings.Split(f[5], innerSep)
	}
	if len(f) >= 7 {
		l.room = f[6]
	}
	if len(f) == 8 {
		visits, err := strconv.Atoi(f[7])
		if err != nil || visits < 0 {
			return logged{}, fmt.Errorf("%w: %q", errBadEntry, s)
		}
		l.entry.Visits = visits
	}
	return l, nil
}
