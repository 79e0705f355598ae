package schedule

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Place is where the observer stands, for sun times.
type Place struct {
	Latitude  float64 // degrees, north positive, -90 to 90
	Longitude float64 // degrees, east positive, -180 to 180
}

// Validate reports a coordinate out of range, naming the configuration
// key to fix.
func (p Place) Validate() error {
	// Written as "not inside" so NaN fails too.
	if !(p.Latitude >= -90 && p.Latitude <= 90) {
		return fmt.Errorf(`"latitude" %g out of range -90 to 90`, p.Latitude)
	}
	if !(p.Longitude >= -180 && p.Longitude <= 180) {
		return fmt.Errorf(`"longitude" %g out of range -180 to 180`, p.Longitude)
	}
	return nil
}

// ErrNoPlace marks a sun time parsed without a Place.
var ErrNoPlace = errors.New(`set "latitude" and "longitude" in the configuration`)

// sunKind is one of the sun events a schedule can name.
type sunKind uint8

const (
	sunrise sunKind = iota
	sunset
	dawn // civil twilight begins
	dusk // civil twilight ends
)

// sunNames are indexed by sunKind.
var sunNames = []string{"sunrise", "sunset", "dawn", "dusk"}

// sunEvent is a sun event moved by an offset.
type sunEvent struct {
	kind   sunKind
	offset time.Duration
}

// maxSunOffset bounds offsets so that an event moved by one stays within
// half a day of its date and each date keeps its own occurrence.
const maxSunOffset = 12 * time.Hour

// maxSunDays bounds the search for a date with the event. A year and a
// bit covers the longest polar day or night (half a year near the poles)
// whatever the day set; at a pole itself the sun does not rise and set
// within a day, and Next returns the zero time.
const maxSunDays = 400

// splitSunWord splits "sunset-30m" into "sunset" and "-30m"; name is ""
// unless the word starts with a sun event's name.
func splitSunWord(w string) (name, rest string) {
	i := strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' })
	if i < 0 {
		i = len(w)
	}
	if !slices.Contains(sunNames, w[:i]) {
		return "", w
	}
	return w[:i], w[i:]
}

// isSunWord reports whether w names a sun event, with or without offset.
func isSunWord(w string) bool {
	name, _ := splitSunWord(w)
	return name != ""
}

// sunTypo returns an error for a word that is not a day or a time but is
// close to a sun event's name ("sunest-30m"), nil otherwise.
func sunTypo(w string) error {
	i := strings.IndexAny(w, "+-,")
	if i < 0 {
		i = len(w)
	}
	word := w[:i]
	best := suggest(word, slices.Concat(sunNames, dowNames, fullDayNames, dayKeywords)...)
	if !slices.Contains(sunNames, best) {
		return nil
	}
	return fmt.Errorf("unknown sun time %q (did you mean %q?)", word, best)
}

// parseSun parses words, a comma list of sun events with optional
// offsets that starts with one ("sunrise", "sunset-30m", "dawn+1h15m",
// "sunrise, sunset"), into a spec at place.
func parseSun(spec string, loc *time.Location, place *Place, days uint8, words []string) (Spec, error) {
	var events []sunEvent
	for item := range strings.SplitSeq(strings.Join(words, " "), ",") {
		// "sunset - 30m" reads as "sunset-30m".
		for _, sign := range []string{"+", "-"} {
			item = strings.ReplaceAll(item, " "+sign, sign)
			item = strings.ReplaceAll(item, sign+" ", sign)
		}
		parts := strings.Fields(item)
		switch {
		case len(parts) == 0:
			continue
		case len(parts) > 1 && strings.Contains(parts[1], ":"):
			return nil, fmt.Errorf("cannot mix sun times and clock times (%q) in one schedule; use two triggers", parts[1])
		case len(parts) == 2 && looksLikeTime(parts[1]):
			// "sunset 30m": parseSunEvent asks for the sign.
			item = parts[0] + parts[1]
		case len(parts) > 1:
			hint := ""
			if _, err := parseDays(parts[1]); err == nil {
				hint = fmt.Sprintf(" (days go first, e.g. %q)", parts[1]+" "+parts[0])
			}
			return nil, fmt.Errorf("unexpected %q after %q%s", parts[1], parts[0], hint)
		default:
			item = parts[0]
		}
		ev, err := parseSunEvent(item)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	if place == nil {
		return nil, fmt.Errorf("%s needs the location: %w", sunNames[events[0].kind], ErrNoPlace)
	}
	if err := place.Validate(); err != nil {
		return nil, fmt.Errorf("%s needs a valid location: %w", sunNames[events[0].kind], err)
	}
	slices.SortFunc(events, func(a, b sunEvent) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.offset, b.offset))
	})
	return &sunSpec{text: spec, loc: loc, place: *place, days: days, events: slices.Compact(events)}, nil
}

// parseSunEvent parses one sun event with an optional offset.
func parseSunEvent(item string) (sunEvent, error) {
	name, rest := splitSunWord(item)
	if name == "" {
		if looksLikeTime(item) {
			return sunEvent{}, fmt.Errorf("cannot mix sun times and clock times (%q) in one schedule; use two triggers", item)
		}
		if err := sunTypo(item); err != nil {
			return sunEvent{}, err
		}
		return sunEvent{}, fmt.Errorf("unknown sun time %q (expected sunrise, sunset, dawn or dusk)", item)
	}
	ev := sunEvent{kind: sunKind(slices.Index(sunNames, name))}
	if rest == "" {
		return ev, nil
	}
	sign := rest[0]
	if sign != '+' && sign != '-' {
		return sunEvent{}, fmt.Errorf("expected %q or %q after %q, got %q", name+"+", name+"-", name, item)
	}
	d := rest[1:]
	if d == "" {
		return sunEvent{}, fmt.Errorf("missing offset after %q (e.g. %q)", name+string(sign), name+string(sign)+"30m")
	}
	off, err := time.ParseDuration(d)
	if err != nil || !(d[0] >= '0' && d[0] <= '9' || d[0] == '.') {
		return sunEvent{}, fmt.Errorf("expected an offset like \"30m\" or \"1h15m\" after %q, got %q", name+string(sign), d)
	}
	if off >= maxSunOffset {
		return sunEvent{}, fmt.Errorf("offset %q out of range: a sun time moves by less than 12h", d)
	}
	if off%time.Second != 0 {
		return sunEvent{}, fmt.Errorf("offset %q is not a whole number of seconds", d)
	}
	if sign == '-' {
		off = -off
	}
	ev.offset = off
	return ev, nil
}

// sunSpec fires at sun events, moved by their offsets, on a set of
// weekdays.
//
// An event belongs to the date of the place's own mean solar time, which
// is the local date wherever the time zone fits the place: the sunset of
// a Monday stays Monday's even when its offset or a distant time zone
// puts it on Tuesday's clock. Days without the event (polar day and
// night) have no occurrence.
type sunSpec struct {
	text   string
	loc    *time.Location
	place  Place
	days   uint8 // bit per time.Weekday
	events []sunEvent
}

// Next returns the first fire time strictly after t, or the zero time if
// none comes within maxSunDays.
func (s *sunSpec) Next(t time.Time) time.Time {
	// The date at the place when t happens; an event of the day before
	// can still lie after t when its offset is positive.
	d0, _ := civil(t.Unix() + int64(s.place.Longitude*240))
	var best time.Time
	for _, ev := range s.events {
		if n := s.nextEvent(ev, t, d0-1); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	if best.IsZero() {
		return best
	}
	return best.In(s.loc)
}

// nextEvent returns the first occurrence of ev strictly after t, looking
// at dates from day number from on.
func (s *sunSpec) nextEvent(ev sunEvent, t time.Time, from int64) time.Time {
	var best time.Time
	last := from + maxSunDays
	for d := from; d <= last; d++ {
		if s.days&(1<<weekday(d)) == 0 {
			continue
		}
		at, ok := s.at(ev, d)
		if !ok || !at.After(t) {
			continue
		}
		if best.IsZero() || at.Before(best) {
			best = at
		}
		// Where the sun time jumps by hours from one day to the next
		// (near the polar circles) the next date's occurrence can come
		// first; two days later it cannot, as each lies within half a
		// day of its own date.
		last = min(last, d+1)
	}
	return best
}

// at returns the instant of ev on day number d (days since 1970-01-01 at
// the place), false if the sun does not reach the event's angle that day.
func (s *sunSpec) at(ev sunEvent, d int64) (time.Time, bool) {
	zenith, rising := 90.833, ev.kind == sunrise || ev.kind == dawn
	if ev.kind == dawn || ev.kind == dusk {
		zenith = 96
	}
	u, ok := sunTime(d, s.place.Latitude, s.place.Longitude, zenith, rising)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(math.Round(u)), 0).Add(ev.offset), true
}

func (s *sunSpec) String() string { return s.text }

// Location returns the time zone the spec's fire times are shown in.
func (s *sunSpec) Location() *time.Location { return s.loc }

// Place returns where the spec's sun times are computed for.
func (s *sunSpec) Place() Place { return s.place }

// sunTime returns the Unix time in seconds at which the sun's centre
// crosses zenith (in degrees) on day number d at latitude lat and
// longitude lon, rising or setting, and false if it does not that day.
//
// 90.833° is sunrise and sunset (the upper limb on the horizon, with
// standard refraction); 96° is civil twilight. This is the NOAA solar
// calculator's method (Meeus, Astronomical Algorithms): each pass takes
// the sun's position at the previous estimate, so three passes from
// mean noon settle within a second.
func sunTime(d int64, lat, lon, zenith float64, rising bool) (float64, bool) {
	meanNoon := float64(d*day) + 12*3600 - lon*240 // 4 minutes a degree
	sinLat, cosLat := math.Sincos(lat * deg)
	t := meanNoon
	for range 3 {
		decl, eqTime := sunPosition(t)
		sinDecl, cosDecl := math.Sincos(decl)
		cosH := (math.Cos(zenith*deg) - sinLat*sinDecl) / (cosLat * cosDecl)
		if !(cosH >= -1 && cosH <= 1) {
			return 0, false // the sun stays above (or below) all day
		}
		h := math.Acos(cosH) / deg // hour angle in degrees
		if rising {
			h = -h
		}
		t = meanNoon - eqTime*60 + h*240
	}
	return t, true
}

const deg = math.Pi / 180

// sunPosition returns the sun's declination in radians and the equation
// of time in minutes at Unix time u (seconds), after the NOAA solar
// calculator.
func sunPosition(u float64) (decl, eqTime float64) {
	// Julian centuries since J2000.0 (2000-01-01 12:00 TT; TT-UTC is
	// about a minute, far below the accuracy needed here).
	jc := (u/86400 + 2440587.5 - 2451545) / 36525
	l0 := math.Mod(280.46646+jc*(36000.76983+jc*0.0003032), 360) * deg // mean longitude
	m := (357.52911 + jc*(35999.05029-0.0001537*jc)) * deg             // mean anomaly
	e := 0.016708634 - jc*(0.000042037+0.0000001267*jc)                // orbit eccentricity
	center := math.Sin(m)*(1.914602-jc*(0.004817+0.000014*jc)) +
		math.Sin(2*m)*(0.019993-0.000101*jc) + math.Sin(3*m)*0.000289
	omega := (125.04 - 1934.136*jc) * deg
	lambda := l0 + (center-0.00569-0.00478*math.Sin(omega))*deg // apparent longitude
	obliquity := (23 + (26+(21.448-jc*(46.815+jc*(0.00059-jc*0.001813)))/60)/60 +
		0.00256*math.Cos(omega)) * deg
	decl = math.Asin(math.Sin(obliquity) * math.Sin(lambda))
	y := math.Tan(obliquity / 2)
	y *= y
	eq := y*math.Sin(2*l0) - 2*e*math.Sin(m) + 4*e*y*math.Sin(m)*math.Cos(2*l0) -
		0.5*y*y*math.Sin(4*l0) - 1.25*e*e*math.Sin(2*m)
	return decl, 4 * eq / deg
}
