package scripting_test

import (
	"math"
	"slices"
	"testing"

	"github.com/alexarules/alexarules/scripting"
)

func closeHSB(a, b scripting.HSB) bool {
	const eps = 1e-3
	return math.Abs(a.Hue-b.Hue) < eps && math.Abs(a.Saturation-b.Saturation) < eps &&
		math.Abs(a.Brightness-b.Brightness) < eps
}

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want scripting.HSB
	}{
		{"#ff0000", scripting.HSB{Hue: 0, Saturation: 1, Brightness: 1}},
		{"#00ff00", scripting.HSB{Hue: 120, Saturation: 1, Brightness: 1}},
		{"#0000FF", scripting.HSB{Hue: 240, Saturation: 1, Brightness: 1}},
		{"#ffff00", scripting.HSB{Hue: 60, Saturation: 1, Brightness: 1}},
		{"#00ffff", scripting.HSB{Hue: 180, Saturation: 1, Brightness: 1}},
		{"#ff00ff", scripting.HSB{Hue: 300, Saturation: 1, Brightness: 1}},
		{"#ff0080", scripting.HSB{Hue: 329.882, Saturation: 1, Brightness: 1}}, // hue below 0 before wrapping
		{"#808080", scripting.HSB{Hue: 0, Saturation: 0, Brightness: 128.0 / 255}},
		{"#000000", scripting.HSB{}},
		{"#ffffff", scripting.HSB{Saturation: 0, Brightness: 1}},
		{"#336699", scripting.HSB{Hue: 210, Saturation: 2.0 / 3, Brightness: 0.6}},
		{"#f00", scripting.HSB{Hue: 0, Saturation: 1, Brightness: 1}},
		{" #ABC ", scripting.HSB{Hue: 210, Saturation: 34.0 / 204, Brightness: 0.8}},
		{"red", scripting.HSB{Hue: 0, Saturation: 1, Brightness: 1}},
		{"RED", scripting.HSB{Hue: 0, Saturation: 1, Brightness: 1}},
		{"orange", scripting.HSB{Hue: 38.824, Saturation: 1, Brightness: 1}},
		{"green", scripting.HSB{Hue: 120, Saturation: 1, Brightness: 1}}, // not CSS's dim #008000
		{"purple", scripting.HSB{Hue: 270.118, Saturation: 1, Brightness: 1}},
		{"white", scripting.HSB{Saturation: 0, Brightness: 1}},
		{"Hot Pink", scripting.HSB{Hue: 330, Saturation: 150.0 / 255, Brightness: 1}},
		{"dark_orange", scripting.HSB{Hue: 32.941, Saturation: 1, Brightness: 1}},
		{"navy", scripting.HSB{Hue: 240, Saturation: 1, Brightness: 128.0 / 255}},
	}
	for _, tt := range tests {
		got, err := scripting.ParseColor(tt.in)
		if err != nil || !closeHSB(got, tt.want) {
			t.Errorf("ParseColor(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseColorErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"blurple", `unknown colour "blurple"`},
		{"", `unknown colour ""`},
		{"#12345", "colour #12345 is not #rrggbb"},
		{"#gggggg", "colour #gggggg is not #rrggbb"},
		{"#-12345", "colour #-12345 is not #rrggbb"},
		{"Soft White", `"Soft White" is a shade of white: use set_color_temperature`},
		{"daylight", `"daylight" is a shade of white: use set_color_temperature`},
	}
	for _, tt := range tests {
		if _, err := scripting.ParseColor(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("ParseColor(%q) error = %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestRGBToHSBRoundTrips(t *testing.T) {
	// Converting back with the textbook HSV→RGB formula must give the same
	// 8-bit components, for a spread of colours.
	for r := 0; r < 256; r += 15 {
		for g := 0; g < 256; g += 17 {
			for b := 0; b < 256; b += 51 {
				c := scripting.RGBToHSB(uint8(r), uint8(g), uint8(b))
				if c.Hue < 0 || c.Hue >= 360 || c.Saturation < 0 || c.Saturation > 1 || c.Brightness < 0 || c.Brightness > 1 {
					t.Fatalf("RGBToHSB(%d,%d,%d) = %+v out of range", r, g, b, c)
				}
				rr, gg, bb := hsbToRGB(c)
				if rr != r || gg != g || bb != b {
					t.Fatalf("RGBToHSB(%d,%d,%d) = %+v converts back to %d,%d,%d", r, g, b, c, rr, gg, bb)
				}
			}
		}
	}
}

func hsbToRGB(c scripting.HSB) (int, int, int) {
	f := func(n float64) int {
		k := math.Mod(n+c.Hue/60, 6)
		v := c.Brightness - c.Brightness*c.Saturation*math.Max(0, math.Min(k, math.Min(4-k, 1)))
		return int(math.Round(v * 255))
	}
	return f(5), f(3), f(1)
}

func TestColorNames(t *testing.T) {
	names := scripting.ColorNames()
	if len(names) != 148 || !slices.IsSorted(names) {
		t.Errorf("ColorNames: %d names (sorted %t), want the 148 CSS names sorted", len(names), slices.IsSorted(names))
	}
	for _, n := range names {
		if _, err := scripting.ParseColor(n); err != nil {
			t.Errorf("ParseColor(%q): %v", n, err)
		}
	}
}

func TestColorTemperatureNames(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{"warm white", 2200}, {"warm", 2200}, {"Warm_White", 2200},
		{"soft white", 2700}, {"incandescent", 2700},
		{"white", 4000},
		{"daylight", 5500}, {"daylight white", 5500},
		{"cool white", 7000}, {"COOL", 7000},
	}
	for _, tt := range tests {
		if got, ok := scripting.ColorTemperature(tt.name); !ok || got != tt.want {
			t.Errorf("ColorTemperature(%q) = %d, %t; want %d", tt.name, got, ok, tt.want)
		}
	}
	if _, ok := scripting.ColorTemperature("candle"); ok {
		t.Error(`ColorTemperature("candle") is known`)
	}
}
