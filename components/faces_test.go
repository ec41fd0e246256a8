package components_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"herenow/components"
)

func TestInitials(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"alice", "A"},
		{"alice.smith", "AS"},
		{"mary-jane_watson", "MJ"},
		{"x.y.z", "XY"},
		{"Alice Smith", "AS"}, // an account made before the rules, with a space
		{"bob-", "B"},
		{"_bob", "B"},
		{"--x", "X"},
		{"a1", "A"},
		{"007", "0"},
		{"r2-d2", "RD"},
		{"émile", "É"},
		{"e\u0301mile", "E\u0301"}, // decomposed: the accent stays with its letter
		{"ölçer.ünal", "ÖÜ"},
		{"дмитрий.иванов", "ДИ"}, // Cyrillic
		{"σοφία", "Σ"},           // Greek
		{"山田", "山"},              // Han: no case, one character
		{"김민수", "김"},             // Hangul syllables, composed
		{"किरण", "कि"},           // Devanagari: the vowel sign (a mark) stays with its consonant
		{"किरण_शर्मा", "किश"}, // and only the first letter after the separator
		{"ǆemal", "Ǆ"}, // a digraph letter upper-cased whole
		{"...", "?"},
		{"", "?"},
	} {
		if got := components.Initials(c.name); got != c.want {
			t.Errorf("Initials(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestFaceClass: a name's colour is one of the stylesheet's classes, the
// same for the name every time (on every instance, after every restart:
// these values are pinned), and names spread over all of them.
func TestFaceClass(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"alice", "face-11"},
		{"bob", "face-8"},
		{"carol", "face-2"},
		{"émile", "face-8"},
		{"山田", "face-3"},
	} {
		if got := components.FaceClass(c.name); got != c.want {
			t.Errorf("FaceClass(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	used := make(map[int]int)
	for i := range 1200 {
		name := fmt.Sprintf("user%d", i)
		if i%2 == 1 {
			name = fmt.Sprintf("ユーザー%dé", i)
		}
		class := components.FaceClass(name)
		n, err := strconv.Atoi(strings.TrimPrefix(class, "face-"))
		if !strings.HasPrefix(class, "face-") || err != nil || n < 0 || n >= components.FaceColours {
			t.Fatalf("FaceClass(%q) = %q, want face-0 to face-%d", name, class, components.FaceColours-1)
		}
		if again := components.FaceClass(name); again != class {
			t.Fatalf("FaceClass(%q) is %q, then %q", name, class, again)
		}
		used[n]++
	}
	for n := range components.FaceColours {
		if used[n] < 1200/components.FaceColours/2 {
			t.Errorf("face-%d is given to %d of 1200 names, want about %d: the names do not spread over the colours", n, used[n], 1200/components.FaceColours)
		}
	}
}
