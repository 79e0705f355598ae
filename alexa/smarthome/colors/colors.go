// Package colors is the table of colour and white names the Alexa
// smart-home API accepts (phoenix setColor colorName, setColorTemperature
// colorTemperatureName) with the HSB and kelvin each stands for, and the
// nearest-name mapping a client needs where only names are accepted. The
// simulator and the smart-home client share it, so that a name one sends
// is a name the other knows.
//
// Names are the CSS Color Module Level 4 named colours in Alexa's
// snake_case spelling (research household-smarthome-api.md §6.2: "names:
// snake_case, from actionDefinitions"), without black (not a light colour)
// and without the "grey" spellings; HSB is computed from the CSS sRGB
// value (hue in degrees 0..360, saturation and brightness 0..1). White
// names and kelvins are the five Alexa shades of white (research §6.2).
package colors

import "math"

// Color is a colour name with its hue (0..360), saturation and brightness
// (0..1).
type Color struct {
	Name       string
	Hue        float64
	Saturation float64
	Brightness float64
}

// White is a colour-temperature name with its kelvin.
type White struct {
	Name   string
	Kelvin int
}

// WhiteNames are the colour-temperature names, warmest first.
var WhiteNames = []White{
	{"warm_white", 2200},
	{"soft_white", 2700},
	{"white", 4000},
	{"daylight_white", 5500},
	{"cool_white", 7000},
}

// Names are the colour names, alphabetical.
var Names = []Color{
	{"alice_blue", 208.0, 0.059, 1.0},
	{"antique_white", 34.3, 0.14, 0.98},
	{"aqua", 180.0, 1.0, 1.0},
	{"aquamarine", 159.8, 0.502, 1.0},
	{"azure", 180.0, 0.059, 1.0},
	{"beige", 60.0, 0.102, 0.961},
	{"bisque", 32.5, 0.231, 1.0},
	{"blanched_almond", 36.0, 0.196, 1.0},
	{"blue", 240.0, 1.0, 1.0},
	{"blue_violet", 271.1, 0.81, 0.886},
	{"brown", 0.0, 0.745, 0.647},
	{"burlywood", 33.8, 0.392, 0.871},
	{"cadet_blue", 181.8, 0.406, 0.627},
	{"chartreuse", 90.1, 1.0, 1.0},
	{"chocolate", 25.0, 0.857, 0.824},
	{"coral", 16.1, 0.686, 1.0},
	{"cornflower_blue", 218.5, 0.578, 0.929},
	{"cornsilk", 48.0, 0.137, 1.0},
	{"crimson", 348.0, 0.909, 0.863},
	{"cyan", 180.0, 1.0, 1.0},
	{"dark_blue", 240.0, 1.0, 0.545},
	{"dark_cyan", 180.0, 1.0, 0.545},
	{"dark_goldenrod", 42.7, 0.94, 0.722},
	{"dark_gray", 0.0, 0.0, 0.663},
	{"dark_green", 120.0, 1.0, 0.392},
	{"dark_khaki", 55.6, 0.434, 0.741},
	{"dark_magenta", 300.0, 1.0, 0.545},
	{"dark_olive_green", 82.0, 0.561, 0.42},
	{"dark_orange", 32.9, 1.0, 1.0},
	{"dark_orchid", 280.1, 0.755, 0.8},
	{"dark_red", 0.0, 1.0, 0.545},
	{"dark_salmon", 15.1, 0.476, 0.914},
	{"dark_sea_green", 120.0, 0.239, 0.737},
	{"dark_slate_blue", 248.5, 0.561, 0.545},
	{"dark_slate_gray", 180.0, 0.405, 0.31},
	{"dark_turquoise", 180.9, 1.0, 0.82},
	{"dark_violet", 282.1, 1.0, 0.827},
	{"deep_pink", 327.6, 0.922, 1.0},
	{"deep_sky_blue", 195.1, 1.0, 1.0},
	{"dim_gray", 0.0, 0.0, 0.412},
	{"dodger_blue", 209.6, 0.882, 1.0},
	{"firebrick", 0.0, 0.809, 0.698},
	{"floral_white", 40.0, 0.059, 1.0},
	{"forest_green", 120.0, 0.755, 0.545},
	{"fuchsia", 300.0, 1.0, 1.0},
	{"gainsboro", 0.0, 0.0, 0.863},
	{"ghost_white", 240.0, 0.027, 1.0},
	{"gold", 50.6, 1.0, 1.0},
	{"goldenrod", 42.9, 0.853, 0.855},
	{"gray", 0.0, 0.0, 0.502},
	{"green", 120.0, 1.0, 0.502},
	{"green_yellow", 83.7, 0.816, 1.0},
	{"honeydew", 120.0, 0.059, 1.0},
	{"hot_pink", 330.0, 0.588, 1.0},
	{"indian_red", 0.0, 0.551, 0.804},
	{"indigo", 274.6, 1.0, 0.51},
	{"ivory", 60.0, 0.059, 1.0},
	{"khaki", 54.0, 0.417, 0.941},
	{"lavender", 240.0, 0.08, 0.98},
	{"lavender_blush", 340.0, 0.059, 1.0},
	{"lawn_green", 90.5, 1.0, 0.988},
	{"lemon_chiffon", 54.0, 0.196, 1.0},
	{"light_blue", 194.7, 0.248, 0.902},
	{"light_coral", 0.0, 0.467, 0.941},
	{"light_cyan", 180.0, 0.122, 1.0},
	{"light_goldenrod_yellow", 60.0, 0.16, 0.98},
	{"light_gray", 0.0, 0.0, 0.827},
	{"light_green", 120.0, 0.395, 0.933},
	{"light_pink", 351.0, 0.286, 1.0},
	{"light_salmon", 17.1, 0.522, 1.0},
	{"light_sea_green", 176.7, 0.82, 0.698},
	{"light_sky_blue", 203.0, 0.46, 0.98},
	{"light_slate_gray", 210.0, 0.222, 0.6},
	{"light_steel_blue", 213.9, 0.207, 0.871},
	{"light_yellow", 60.0, 0.122, 1.0},
	{"lime", 120.0, 1.0, 1.0},
	{"lime_green", 120.0, 0.756, 0.804},
	{"linen", 30.0, 0.08, 0.98},
	{"magenta", 300.0, 1.0, 1.0},
	{"maroon", 0.0, 1.0, 0.502},
	{"medium_aquamarine", 159.6, 0.502, 0.804},
	{"medium_blue", 240.0, 1.0, 0.804},
	{"medium_orchid", 288.1, 0.597, 0.827},
	{"medium_purple", 259.6, 0.489, 0.859},
	{"medium_sea_green", 146.7, 0.665, 0.702},
	{"medium_slate_blue", 248.5, 0.563, 0.933},
	{"medium_spring_green", 157.0, 1.0, 0.98},
	{"medium_turquoise", 177.8, 0.656, 0.82},
	{"medium_violet_red", 322.2, 0.894, 0.78},
	{"midnight_blue", 240.0, 0.777, 0.439},
	{"mint_cream", 150.0, 0.039, 1.0},
	{"misty_rose", 6.0, 0.118, 1.0},
	{"moccasin", 38.1, 0.29, 1.0},
	{"navajo_white", 35.9, 0.322, 1.0},
	{"navy", 240.0, 1.0, 0.502},
	{"old_lace", 39.1, 0.091, 0.992},
	{"olive", 60.0, 1.0, 0.502},
	{"olive_drab", 79.6, 0.754, 0.557},
	{"orange", 38.8, 1.0, 1.0},
	{"orange_red", 16.2, 1.0, 1.0},
	{"orchid", 302.3, 0.486, 0.855},
	{"pale_goldenrod", 54.7, 0.286, 0.933},
	{"pale_green", 120.0, 0.394, 0.984},
	{"pale_turquoise", 180.0, 0.265, 0.933},
	{"pale_violet_red", 340.4, 0.489, 0.859},
	{"papaya_whip", 37.1, 0.165, 1.0},
	{"peach_puff", 28.3, 0.275, 1.0},
	{"peru", 29.6, 0.693, 0.804},
	{"pink", 349.5, 0.247, 1.0},
	{"plum", 300.0, 0.276, 0.867},
	{"powder_blue", 186.7, 0.235, 0.902},
	{"purple", 300.0, 1.0, 0.502},
	{"rebecca_purple", 270.0, 0.667, 0.6},
	{"red", 0.0, 1.0, 1.0},
	{"rosy_brown", 0.0, 0.239, 0.737},
	{"royal_blue", 225.0, 0.711, 0.882},
	{"saddle_brown", 25.0, 0.863, 0.545},
	{"salmon", 6.2, 0.544, 0.98},
	{"sandy_brown", 27.6, 0.607, 0.957},
	{"sea_green", 146.5, 0.669, 0.545},
	{"seashell", 24.7, 0.067, 1.0},
	{"sienna", 19.3, 0.719, 0.627},
	{"silver", 0.0, 0.0, 0.753},
	{"sky_blue", 197.4, 0.426, 0.922},
	{"slate_blue", 248.3, 0.561, 0.804},
	{"slate_gray", 210.0, 0.222, 0.565},
	{"snow", 0.0, 0.02, 1.0},
	{"spring_green", 149.9, 1.0, 1.0},
	{"steel_blue", 207.3, 0.611, 0.706},
	{"tan", 34.3, 0.333, 0.824},
	{"teal", 180.0, 1.0, 0.502},
	{"thistle", 300.0, 0.116, 0.847},
	{"tomato", 9.1, 0.722, 1.0},
	{"turquoise", 174.0, 0.714, 0.878},
	{"violet", 300.0, 0.454, 0.933},
	{"wheat", 39.1, 0.269, 0.961},
	{"white", 0.0, 0.0, 1.0},
	{"white_smoke", 0.0, 0.0, 0.961},
	{"yellow", 60.0, 1.0, 1.0},
	{"yellow_green", 79.7, 0.756, 0.804},
}

// Nearest returns the colour whose hue and saturation are closest to h
// (degrees, any value; taken modulo 360) and s (0..1, clamped): the
// distance is measured on the colour wheel, where saturation is the radius
// and hue the angle, so every hue is close at low saturation. Among equally
// near names the brightest wins (red over dark_red), then the first.
func Nearest(h, s float64) Color {
	s = math.Max(0, math.Min(1, s))
	x, y := wheel(h, s)
	best, bestD := Names[0], math.Inf(1)
	for _, c := range Names {
		cx, cy := wheel(c.Hue, c.Saturation)
		d := math.Hypot(x-cx, y-cy)
		// Table values are rounded: distances within 1e-9 are ties.
		if d < bestD-1e-9 || (d <= bestD+1e-9 && c.Brightness > best.Brightness) {
			best, bestD = c, math.Min(d, bestD)
		}
	}
	return best
}

func wheel(h, s float64) (x, y float64) {
	rad := h * math.Pi / 180
	return s * math.Cos(rad), s * math.Sin(rad)
}

// NearestWhite returns the white name closest to k kelvin, measured in
// mireds (1e6/K), the scale on which equal steps look equally different:
// the boundaries fall near 2420, 3220, 4630 and 6160 K, close to the
// buckets alexa_media_player uses (2400, 3200, 4400, 6000 K). k ≤ 0 gives
// the warmest name.
func NearestWhite(k int) White {
	if k <= 0 {
		return WhiteNames[0]
	}
	m := 1e6 / float64(k)
	best, bestD := WhiteNames[0], math.Inf(1)
	for _, w := range WhiteNames {
		if d := math.Abs(m - 1e6/float64(w.Kelvin)); d < bestD {
			best, bestD = w, d
		}
	}
	return best
}

// Lookup returns the colour named name.
func Lookup(name string) (Color, bool) {
	for _, c := range Names {
		if c.Name == name {
			return c, true
		}
	}
	return Color{}, false
}

// LookupWhite returns the white named name.
func LookupWhite(name string) (White, bool) {
	for _, w := range WhiteNames {
		if w.Name == name {
			return w, true
		}
	}
	return White{}, false
}
