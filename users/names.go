package users

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"
)

// ErrInvalidName is wrapped by every refusal of a new name, with the rule it
// broke.
var ErrInvalidName = errors.New("invalid name")

// MaxNameLength is the most characters (code points) a name may have.
const MaxNameLength = 64

// Name is a new account's name as it is kept. Display is shown on the page:
// the typed name, width-mapped and NFC-normalised, its case kept. Key and
// Shape are what two names that look alike share, so that the store's
// unique indexes let only one of them exist: Key is the name case-folded,
// then reduced to its confusable skeleton ("Alice", "ALICE", "rnary" and
// "mary" agree), Shape is the skeleton of the name as shown (so "aIice" with
// a capital I, which folds to "aiice", still collides with "alice").
type Name struct {
	Display string
	Key     string
	Shape   string
}

// Conflicts reports whether n and other look alike: one of them must go.
func (n Name) Conflicts(other Name) bool { return n.Key == other.Key || n.Shape == other.Shape }

// NewName checks a name for a new account (or a rename) and returns it as it
// is kept. The rules, in the order they are checked:
//
//   - PRECIS UsernameCasePreserved (RFC 8265): fullwidth letters become
//     their ordinary form, the name is normalised to NFC, and spaces,
//     symbols, control, invisible and default-ignorable characters (the
//     combining grapheme joiner, variation selectors, Hangul fillers, the
//     blank Braille pattern, zero-width joiners out of context) are refused;
//   - a documented narrowing of it: letters, combining marks, digits and
//     . _ - only, so no name can read as the page's own sentences
//     ("and 3 guests", "bob went offline · 09:59:59 UTC");
//   - at least one letter or digit, and no leading combining mark;
//   - 1 to 64 characters;
//   - one script, or a mix a single writing system uses (Latin with Han,
//     Hiragana and Katakana; Latin with Han and Hangul; Latin with Han and
//     Bopomofo): Unicode's "highly restrictive" level (UTS #39), so "аlice"
//     with a Cyrillic а is refused.
//
// Key and Shape are UTS #39 confusable skeletons (see Name), so "Alice",
// "ａｌｉｃｅ", "aIice", "асе" (all Cyrillic) against "ace", and "alice"
// cannot coexist.
func NewName(name string) (Name, error) {
	if !utf8.ValidString(name) {
		return Name{}, fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidName)
	}
	display, err := precis.UsernameCasePreserved.String(name)
	if err != nil {
		return Name{}, fmt.Errorf("%w: %s", ErrInvalidName, precisReason(name))
	}
	if n := utf8.RuneCountInString(display); n > MaxNameLength {
		return Name{}, fmt.Errorf("%w: it has %d characters, at most %d are allowed", ErrInvalidName, n, MaxNameLength)
	}
	letterOrDigit := false
	for i, r := range display {
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.Nd, r):
			letterOrDigit = true
		case unicode.IsMark(r):
			if i == 0 {
				return Name{}, fmt.Errorf("%w: it starts with a combining mark", ErrInvalidName)
			}
		case r == '.' || r == '_' || r == '-':
		default:
			return Name{}, fmt.Errorf("%w: %q is not a letter, a digit or one of . _ -", ErrInvalidName, r)
		}
	}
	if !letterOrDigit {
		return Name{}, fmt.Errorf("%w: it has no letter or digit", ErrInvalidName)
	}
	if scripts := scriptsOf(display); !singleWritingSystem(scripts) {
		return Name{}, fmt.Errorf("%w: it mixes the %s scripts", ErrInvalidName, strings.Join(scripts, " and "))
	}
	folded, err := precis.UsernameCaseMapped.String(display)
	if err != nil { // cannot happen for a name UsernameCasePreserved took
		return Name{}, fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	return Name{Display: display, Key: confusables.Skeleton(folded), Shape: confusables.Skeleton(display)}, nil
}

// NameKey returns the key a login looks name up by when no account has
// exactly that name: NewName's key for a name that passes the rules, and for
// one that does not (an account made before the rules) the name itself
// behind a prefix no skeleton starts with, so it can match only itself.
func NameKey(name string) string {
	if n, err := NewName(name); err == nil {
		return n.Key
	}
	return legacyKeyPrefix + name
}

// SameName reports whether a and b are spellings of one name: equal after
// PRECIS case mapping (width, case and normalisation), not merely alike in
// shape as "alice" and "a1ice" are.
func SameName(a, b string) bool {
	return precis.UsernameCaseMapped.Compare(a, b)
}

// legacyKeyPrefix marks the key of a name that predates the rules: '=' is
// not among the characters a new name may have.
const legacyKeyPrefix = "="

// precisReason says in words why PRECIS refused name.
func precisReason(name string) string {
	if name == "" {
		return "it is empty"
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
			return "it contains a space"
		case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r) ||
			unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Cc, r):
			return fmt.Sprintf("it contains an invisible or control character (U+%04X)", r)
		case r > unicode.MaxASCII && !precisAllows(r):
			return fmt.Sprintf("%q (U+%04X) is not allowed in a name", r, r)
		}
	}
	return "it is not a valid username (RFC 8265)"
}

// precisAllows reports whether PRECIS takes r on its own.
func precisAllows(r rune) bool {
	_, err := precis.UsernameCasePreserved.String(string(r))
	return err == nil
}

// scriptsOf returns the names of the scripts name's letters belong to,
// sorted; marks and digits of the Common and Inherited scripts count for
// none.
func scriptsOf(name string) []string {
	var out []string
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		for script, table := range unicode.Scripts {
			if script == "Common" || script == "Inherited" || !unicode.Is(table, r) {
				continue
			}
			if !slices.Contains(out, script) {
				out = append(out, script)
			}
			break
		}
	}
	slices.Sort(out)
	return out
}

// writingSystems are the mixes of scripts that UTS #39's "highly
// restrictive" level allows in one identifier.
var writingSystems = [][]string{
	{"Han", "Hiragana", "Katakana", "Latin"}, // Japanese
	{"Han", "Hangul", "Latin"},               // Korean
	{"Bopomofo", "Han", "Latin"},             // Chinese with Bopomofo
}

// singleWritingSystem reports whether scripts (sorted) are one script or a
// mix that one writing system uses.
func singleWritingSystem(scripts []string) bool {
	if len(scripts) <= 1 {
		return true
	}
	for _, system := range writingSystems {
		if !slices.ContainsFunc(scripts, func(s string) bool { return !slices.Contains(system, s) }) {
			return true
		}
	}
	return false
}
