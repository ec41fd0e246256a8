package static_test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"herenow/components"
)

var (
	faceColour = regexp.MustCompile(`\.face-(\d+) \{ --herenow-face: #([0-9a-f]{6}); \}`)
	faceText   = regexp.MustCompile(`(?s)\.user-face \{[^}]*?\bcolor: #([0-9a-f]{3,6});`)
)

// TestFaceColoursKeepTheirInitialsReadable: the stylesheet has a colour
// for every class the components give a face (face-0 to face-11), in
// light and in dark mode, and the initials on each have a contrast of at
// least 4.5:1 (WCAG AA for text of any size).
func TestFaceColoursKeepTheirInitialsReadable(t *testing.T) {
	css, err := os.ReadFile("herenow.css")
	if err != nil {
		t.Fatal(err)
	}
	light, dark, found := strings.Cut(string(css), "@media (prefers-color-scheme: dark)")
	if !found {
		t.Fatal("herenow.css has no dark mode")
	}
	for _, scheme := range []struct{ name, css string }{{"light", light}, {"dark", dark}} {
		text := faceText.FindStringSubmatch(scheme.css)
		if text == nil {
			t.Errorf("%s mode: no colour for the initials (.user-face { color: … })", scheme.name)
			continue
		}
		colours := make(map[int]string)
		for _, m := range faceColour.FindAllStringSubmatch(scheme.css, -1) {
			n, _ := strconv.Atoi(m[1])
			colours[n] = m[2]
		}
		if len(colours) != components.FaceColours {
			t.Errorf("%s mode: %d face colours, want %d (face-0 to face-%d)", scheme.name, len(colours), components.FaceColours, components.FaceColours-1)
		}
		for n := range components.FaceColours {
			bg, ok := colours[n]
			if !ok {
				t.Errorf("%s mode: no colour for face-%d", scheme.name, n)
				continue
			}
			if ratio := contrast(text[1], bg); ratio < 4.5 {
				t.Errorf("%s mode: initials #%s on face-%d's #%s have a contrast of %.2f:1, want at least 4.5:1", scheme.name, text[1], n, bg, ratio)
			}
		}
	}
}

// contrast is WCAG 2's contrast ratio of two colours written in hex.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	var l [3]float64
	for i := range l {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			l[i] = c / 12.92
		} else {
			l[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}
