package hub

// The list's order: by name, so that a person can scan it for someone.
// Who is listed is decided by arrival (the first ListLimit users, and a
// place that frees up goes to the user who has waited longest); where
// a listed user's row stands is decided by name. A frame inserts each new
// row before the row that follows it (Placed.Before), so a frame's size
// stays that of its changes, and a snapshot lists the rows in the same
// order.

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Placed is a user to insert into the list, with where their row goes:
// before the row of the listed user whose key is Before, or at the end of
// the list when Before is empty.
type Placed struct {
	User
	Before string
}

// nameOrder is the key a name sorts by: its letters without their accents
// (the name decomposed, combining marks dropped) and lower-cased, so that
// "Émile" comes between "dave" and "frank", not after "zoe". Other
// characters sort by code point. Two users whose keys agree are ordered by
// name, then by their key, so the order is total.
func nameOrder(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range norm.NFD.String(name) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// compareListed orders two listed users as the list shows them.
func compareListed(a, b *shownPerson) int {
	return cmp.Or(
		strings.Compare(a.order, b.order),
		strings.Compare(a.person.Name, b.person.Name),
		strings.Compare(a.person.Key, b.person.Key),
	)
}

// userList is the listed users, in the list's order.
type userList []*shownPerson

// index is where sp is, or would be, in the list.
func (l userList) index(sp *shownPerson) (int, bool) {
	return slices.BinarySearchFunc(l, sp, compareListed)
}

// add puts sp in its place.
func (l *userList) add(sp *shownPerson) {
	i, _ := l.index(sp)
	*l = slices.Insert(*l, i, sp)
}

// remove takes sp out of the list.
func (l *userList) remove(sp *shownPerson) {
	if i, found := l.index(sp); found {
		*l = slices.Delete(*l, i, i+1)
	}
}

// placed returns the users a frame adds to the list (those of added still
// listed at its end), each with the row it goes before, in the order to
// insert them: last in the list's order first, so that the row each goes
// before is shown already or inserted earlier in the same frame.
func (l userList) placed(added []*shownPerson) []Placed {
	out := make([]Placed, 0, len(added))
	slices.SortFunc(added, func(a, b *shownPerson) int { return compareListed(b, a) })
	for _, sp := range added {
		i, found := l.index(sp)
		if !found {
			continue // listed and gone again within the frame: never shown
		}
		p := Placed{User: sp.user()}
		if i+1 < len(l) {
			p.Before = l[i+1].person.Key
		}
		out = append(out, p)
	}
	return out
}
