package scripting

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// HSB is a colour in the model of the Endpoint Features API: hue in degrees
// 0..360, saturation and brightness 0..1.
type HSB struct {
	Hue        float64
	Saturation float64
	Brightness float64
}

// RGBToHSB converts 8-bit sRGB components to hue, saturation and brightness
// (HSV) without rounding: #808080 is 0, 0, 128/255.
func RGBToHSB(r, g, b uint8) HSB {
	rf, gf, bf := float64(r)/255, float64(g)/255, float64(b)/255
	hi, lo := max(rf, gf, bf), min(rf, gf, bf)
	delta := hi - lo
	c := HSB{Brightness: hi}
	if hi > 0 {
		c.Saturation = delta / hi
	}
	if delta == 0 {
		return c // a grey has no hue
	}
	var h float64
	switch hi {
	case rf:
		h = math.Mod((gf-bf)/delta, 6)
	case gf:
		h = (bf-rf)/delta + 2
	default:
		h = (rf-gf)/delta + 4
	}
	h *= 60
	if h < 0 {
		h += 360
	}
	c.Hue = h
	return c
}

// ParseColor reads a colour as rules write it for set_color: "#rrggbb",
// "#rgb", or a colour name (see ColorNames). Names ignore case, spaces,
// hyphens and underscores ("Dark Orange", "dark_orange", "darkorange").
func ParseColor(s string) (HSB, error) {
	if hex, ok := strings.CutPrefix(strings.TrimSpace(s), "#"); ok {
		rgb, err := parseHex(hex)
		if err != nil {
			return HSB{}, err
		}
		return RGBToHSB(uint8(rgb>>16), uint8(rgb>>8), uint8(rgb)), nil
	}
	key := colorKey(s)
	if rgb, ok := colorNames[key]; ok {
		return RGBToHSB(uint8(rgb>>16), uint8(rgb>>8), uint8(rgb)), nil
	}
	if _, ok := temperatureNames[key]; ok {
		return HSB{}, fmt.Errorf("%q is a shade of white: use set_color_temperature", s)
	}
	return HSB{}, fmt.Errorf("unknown colour %q", s)
}

func parseHex(hex string) (uint32, error) {
	switch len(hex) {
	case 3: // #rgb is #rrggbb with each digit doubled
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	case 6:
	default:
		return 0, fmt.Errorf("colour #%s is not #rrggbb", hex)
	}
	n, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("colour #%s is not #rrggbb", hex)
	}
	return uint32(n), nil
}

// ColorNames lists the names ParseColor accepts, sorted.
func ColorNames() []string {
	names := make([]string, 0, len(colorNames))
	for n := range colorNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ColorTemperature returns the kelvin of a named shade of white, as the
// reference's "Color temperature values" table gives them: warm white (or
// warm) 2200, soft white (or incandescent) 2700, white 4000, daylight (or
// daylight white) 5500, cool white (or cool) 7000. Names ignore case,
// spaces, hyphens and underscores.
func ColorTemperature(name string) (int, bool) {
	k, ok := temperatureNames[colorKey(name)]
	return k, ok
}

// colorKey folds a colour name to its table key.
func colorKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_', '\t':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// temperatureNames are keyed by colorKey.
var temperatureNames = map[string]int{
	"warmwhite":     2200,
	"warm":          2200,
	"softwhite":     2700,
	"incandescent":  2700,
	"white":         4000,
	"daylight":      5500,
	"daylightwhite": 5500,
	"coolwhite":     7000,
	"cool":          7000,
}

// colorNames are the CSS Color Module Level 4 named colours, which are also
// the colour names Alexa understands for smart bulbs, keyed by colorKey.
// Two differ from CSS on purpose: CSS "green" (#008000) and "purple"
// (#800080) are half-brightness web colours, which on a bulb would also
// dim the light, so here green is #00ff00 (as lime) and purple #8000ff,
// both at full brightness.
var colorNames = map[string]uint32{
	"aliceblue": 0xf0f8ff, "antiquewhite": 0xfaebd7, "aqua": 0x00ffff, "aquamarine": 0x7fffd4,
	"azure": 0xf0ffff, "beige": 0xf5f5dc, "bisque": 0xffe4c4, "black": 0x000000,
	"blanchedalmond": 0xffebcd, "blue": 0x0000ff, "blueviolet": 0x8a2be2, "brown": 0xa52a2a,
	"burlywood": 0xdeb887, "cadetblue": 0x5f9ea0, "chartreuse": 0x7fff00, "chocolate": 0xd2691e,
	"coral": 0xff7f50, "cornflowerblue": 0x6495ed, "cornsilk": 0xfff8dc, "crimson": 0xdc143c,
	"cyan": 0x00ffff, "darkblue": 0x00008b, "darkcyan": 0x008b8b, "darkgoldenrod": 0xb8860b,
	"darkgray": 0xa9a9a9, "darkgreen": 0x006400, "darkgrey": 0xa9a9a9, "darkkhaki": 0xbdb76b,
	"darkmagenta": 0x8b008b, "darkolivegreen": 0x556b2f, "darkorange": 0xff8c00, "darkorchid": 0x9932cc,
	"darkred": 0x8b0000, "darksalmon": 0xe9967a, "darkseagreen": 0x8fbc8f, "darkslateblue": 0x483d8b,
	"darkslategray": 0x2f4f4f, "darkslategrey": 0x2f4f4f, "darkturquoise": 0x00ced1, "darkviolet": 0x9400d3,
	"deeppink": 0xff1493, "deepskyblue": 0x00bfff, "dimgray": 0x696969, "dimgrey": 0x696969,
	"dodgerblue": 0x1e90ff, "firebrick": 0xb22222, "floralwhite": 0xfffaf0, "forestgreen": 0x228b22,
	"fuchsia": 0xff00ff, "gainsboro": 0xdcdcdc, "ghostwhite": 0xf8f8ff, "gold": 0xffd700,
	"goldenrod": 0xdaa520, "gray": 0x808080, "green": 0x00ff00, "greenyellow": 0xadff2f,
	"grey": 0x808080, "honeydew": 0xf0fff0, "hotpink": 0xff69b4, "indianred": 0xcd5c5c,
	"indigo": 0x4b0082, "ivory": 0xfffff0, "khaki": 0xf0e68c, "lavender": 0xe6e6fa,
	"lavenderblush": 0xfff0f5, "lawngreen": 0x7cfc00, "lemonchiffon": 0xfffacd, "lightblue": 0xadd8e6,
	"lightcoral": 0xf08080, "lightcyan": 0xe0ffff, "lightgoldenrodyellow": 0xfafad2, "lightgray": 0xd3d3d3,
	"lightgreen": 0x90ee90, "lightgrey": 0xd3d3d3, "lightpink": 0xffb6c1, "lightsalmon": 0xffa07a,
	"lightseagreen": 0x20b2aa, "lightskyblue": 0x87cefa, "lightslategray": 0x778899, "lightslategrey": 0x778899,
	"lightsteelblue": 0xb0c4de, "lightyellow": 0xffffe0, "lime": 0x00ff00, "limegreen": 0x32cd32,
	"linen": 0xfaf0e6, "magenta": 0xff00ff, "maroon": 0x800000, "mediumaquamarine": 0x66cdaa,
	"mediumblue": 0x0000cd, "mediumorchid": 0xba55d3, "mediumpurple": 0x9370db, "mediumseagreen": 0x3cb371,
	"mediumslateblue": 0x7b68ee, "mediumspringgreen": 0x00fa9a, "mediumturquoise": 0x48d1cc, "mediumvioletred": 0xc71585,
	"midnightblue": 0x191970, "mintcream": 0xf5fffa, "mistyrose": 0xffe4e1, "moccasin": 0xffe4b5,
	"navajowhite": 0xffdead, "navy": 0x000080, "oldlace": 0xfdf5e6, "olive": 0x808000,
	"olivedrab": 0x6b8e23, "orange": 0xffa500, "orangered": 0xff4500, "orchid": 0xda70d6,
	"palegoldenrod": 0xeee8aa, "palegreen": 0x98fb98, "paleturquoise": 0xafeeee, "palevioletred": 0xdb7093,
	"papayawhip": 0xffefd5, "peachpuff": 0xffdab9, "peru": 0xcd853f, "pink": 0xffc0cb,
	"plum": 0xdda0dd, "powderblue": 0xb0e0e6, "purple": 0x8000ff, "rebeccapurple": 0x663399,
	"red": 0xff0000, "rosybrown": 0xbc8f8f, "royalblue": 0x4169e1, "saddlebrown": 0x8b4513,
	"salmon": 0xfa8072, "sandybrown": 0xf4a460, "seagreen": 0x2e8b57, "seashell": 0xfff5ee,
	"sienna": 0xa0522d, "silver": 0xc0c0c0, "skyblue": 0x87ceeb, "slateblue": 0x6a5acd,
	"slategray": 0x708090, "slategrey": 0x708090, "snow": 0xfffafa, "springgreen": 0x00ff7f,
	"steelblue": 0x4682b4, "tan": 0xd2b48c, "teal": 0x008080, "thistle": 0xd8bfd8,
	"tomato": 0xff6347, "turquoise": 0x40e0d0, "violet": 0xee82ee, "wheat": 0xf5deb3,
	"white": 0xffffff, "whitesmoke": 0xf5f5f5, "yellow": 0xffff00, "yellowgreen": 0x9acd32,
}
