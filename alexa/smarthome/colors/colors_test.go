package colors_test

import (
	"testing"

	"github.com/alexarules/alexarules/alexa/smarthome/colors"
)

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		h, s float64
		want string
	}{
		{0, 1, "red"},       // red and dark_red share hue and saturation: the brighter wins
		{360, 1, "red"},     // hue wraps
		{-120, 1, "blue"},   // 240°
		{120, 1, "lime"},    // lime is the full-brightness 120°; green is darker
		{240, 1, "blue"},    // blue over medium_blue, dark_blue, navy
		{60, 1, "yellow"},   // yellow over olive
		{39, 1, "orange"},   // orange is 38.8°
		{300, 1, "fuchsia"}, // fuchsia and magenta are one colour; the first wins
		{200, 0, "white"},   // no saturation: achromatic, the brightest
		{6, 0.55, "salmon"}, // salmon is 6.2°, 0.544
		{271, 0.81, "blue_violet"},
		{0, 2, "red"}, // saturation clamped
	} {
		if got := colors.Nearest(tc.h, tc.s); got.Name != tc.want {
			t.Errorf("Nearest(%v, %v) = %+v, want %s", tc.h, tc.s, got, tc.want)
		}
	}
}

func TestNearestWhite(t *testing.T) {
	for _, tc := range []struct {
		k    int
		want string
	}{
		{0, "warm_white"}, {1000, "warm_white"}, {2200, "warm_white"}, {2400, "warm_white"},
		{2450, "soft_white"}, {2700, "soft_white"}, {3200, "soft_white"},
		{3250, "white"}, {4000, "white"}, {4600, "white"},
		{4650, "daylight_white"}, {5500, "daylight_white"}, {6100, "daylight_white"},
		{6200, "cool_white"}, {7000, "cool_white"}, {10000, "cool_white"},
	} {
		if got := colors.NearestWhite(tc.k); got.Name != tc.want {
			t.Errorf("NearestWhite(%d) = %+v, want %s", tc.k, got, tc.want)
		}
	}
}

// TestTable checks every entry is in range, unique and round-trips through
// Nearest to a colour with the same hue and saturation.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range colors.Names {
		if seen[c.Name] {
			t.Errorf("duplicate %s", c.Name)
		}
		seen[c.Name] = true
		if c.Hue < 0 || c.Hue >= 360 || c.Saturation < 0 || c.Saturation > 1 || c.Brightness <= 0 || c.Brightness > 1 {
			t.Errorf("%+v out of range", c)
		}
		got := colors.Nearest(c.Hue, c.Saturation)
		if got.Hue != c.Hue || got.Saturation != c.Saturation {
			t.Errorf("Nearest(%s) = %+v, a different colour", c.Name, got)
		}
		if l, ok := colors.Lookup(c.Name); !ok || l != c {
			t.Errorf("Lookup(%s) = %+v, %v", c.Name, l, ok)
		}
	}
	for _, w := range colors.WhiteNames {
		if got := colors.NearestWhite(w.Kelvin); got != w {
			t.Errorf("NearestWhite(%d) = %+v, want %+v", w.Kelvin, got, w)
		}
		if l, ok := colors.LookupWhite(w.Name); !ok || l != w {
			t.Errorf("LookupWhite(%s) = %+v, %v", w.Name, l, ok)
		}
	}
	if _, ok := colors.Lookup("black"); ok {
		t.Error("black is not a light colour")
	}
	if _, ok := colors.LookupWhite("red"); ok {
		t.Error("red is not a white")
	}
}
