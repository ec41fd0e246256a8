package users_test

import (
	"errors"
	"strings"
	"testing"

	"herenow/users"
)

// TestNewNameRefusesNamesThatImpersonate lists the names found to pass for
// someone else, or for the page's own words, and checks each is refused
// with a reason.
func TestNewNameRefusesNamesThatImpersonate(t *testing.T) {
	for _, tc := range []struct{ name, why string }{
		{"", "empty"},
		{"\xff", "invalid UTF-8"},
		{"\u0430lice", "Cyrillic а among Latin letters"},
		{"p\u0430ypal", "Cyrillic а inside a Latin name"},
		{"alice\u034f", "combining grapheme joiner"},
		{"alice\ufe0f", "variation selector"},
		{"alice\u200b", "zero-width space"},
		{"al\u200dice", "zero-width joiner"},
		{"\u3164", "Hangul filler alone"},
		{"\u2800", "blank Braille pattern alone"},
		{"\u115f", "Hangul choseong filler alone"},
		{"alice\u3164", "Hangul filler after a name"},
		{"and 3 guests", "the page's guest count"},
		{"+5 more and 2 guests", "the page's overflow line"},
		{"Nobody is here yet.", "the page's empty list"},
		{"bob went offline · 09:59:59 UTC", "an activity log entry"},
		{"alice·bob", "a middle dot"},
		{"(you)", "punctuation that reads as the page's marker"},
		{"...", "no letter or digit"},
		{"_-_", "no letter or digit"},
		{"\u0301a", "a leading combining mark"},
		{"<script>", "angle brackets"},
		{" alice", "a leading space"},
		{"alice\n", "a newline"},
		{strings.Repeat("a", 65), "65 characters"},
	} {
		if n, err := users.NewName(tc.name); !errors.Is(err, users.ErrInvalidName) {
			t.Errorf("NewName(%q) (%s) = %+v, %v; want ErrInvalidName", tc.name, tc.why, n, err)
		} else if strings.TrimPrefix(err.Error(), users.ErrInvalidName.Error()+": ") == err.Error() {
			t.Errorf("NewName(%q) (%s): error %q gives no reason", tc.name, tc.why, err)
		}
	}
}

// TestNewNameAcceptsOrdinaryNames checks that the rules leave real names
// alone, in any one script, and how each is kept.
func TestNewNameAcceptsOrdinaryNames(t *testing.T) {
	for _, tc := range []struct{ name, display string }{
		{"alice", "alice"},
		{"Alice", "Alice"},
		{"bob.smith", "bob.smith"},
		{"carol_1984", "carol_1984"},
		{"jean-luc", "jean-luc"},
		{"42", "42"},
		{"ａｌｉｃｅ", "alice"},              // fullwidth is mapped to ordinary letters
		{"e\u0301lodie", "\u00e9lodie"}, // NFD is kept as NFC
		{"Ζωή", "Ζωή"},
		{"Иван", "Иван"},
		{"山田太郎", "山田太郎"},
		{"やまだ_taro", "やまだ_taro"}, // Japanese with Latin is one writing system
		{"김민준", "김민준"},
		{"मोहन", "मोहन"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
	} {
		n, err := users.NewName(tc.name)
		if err != nil || n.Display != tc.display {
			t.Errorf("NewName(%q) = %+v, %v; want display %q", tc.name, n, err, tc.display)
		}
	}
}

// TestNamesThatLookAlikeConflict checks that spellings a reader cannot
// tell apart conflict, so the store's unique keys refuse the second, and
// that different names do not.
func TestNamesThatLookAlikeConflict(t *testing.T) {
	name := func(s string) users.Name {
		t.Helper()
		n, err := users.NewName(s)
		if err != nil {
			t.Fatalf("NewName(%q): %v", s, err)
		}
		return n
	}
	for _, same := range [][]string{
		{"alice", "Alice", "ALICE", "ａｌｉｃｅ", "aIice"},
		{"\u00e9lodie", "e\u0301lodie", "\u00c9lodie"},
		{"mary", "rnary", "MARY"},
		{"paypal", "PayPal", "paypaI"},
		{"\u0430\u0441\u0435", "ace"}, // all-Cyrillic асе against Latin ace
	} {
		for _, s := range same[1:] {
			if !name(s).Conflicts(name(same[0])) {
				t.Errorf("%q (%+v) does not conflict with %q (%+v)", s, name(s), same[0], name(same[0]))
			}
		}
	}
	for _, pair := range [][2]string{{"alice", "alicia"}, {"bob", "rob"}, {"ann", "anna"}, {"al1ce", "alice"}} {
		if name(pair[0]).Conflicts(name(pair[1])) {
			t.Errorf("%q and %q conflict; they do not look alike", pair[0], pair[1])
		}
	}
}

// TestNameKeyOfAnOldNameMatchesOnlyItself checks the key a login uses for a
// name made before the rules: it cannot equal any new name's key.
func TestNameKeyOfAnOldNameMatchesOnlyItself(t *testing.T) {
	old := "Alice Smith"
	if _, err := users.NewName(old); err == nil {
		t.Fatalf("NewName(%q) passed; the test needs a name the rules refuse", old)
	}
	if users.NameKey(old) == users.NameKey("AliceSmith") || users.NameKey(old) == users.NameKey("alice") {
		t.Errorf("NameKey(%q) = %q matches a valid name's key", old, users.NameKey(old))
	}
	if users.NameKey("Alice") != users.NameKey("alice") {
		t.Error("NameKey differs from NewName's key for a valid name")
	}
}
