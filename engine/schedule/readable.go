package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseSchedule parses a readable schedule, with times as wall-clock times
// in loc (UTC when loc is nil):
//
//	daily 07:00            mon-fri 07:00          sat,sun 09:30
//	weekdays 07:00         weekends 10:00         daily 07:00,19:30
//	every 10m              every 1h between 08:00 and 22:00
//	mon-fri every 15m between 08:00 and 18:00
//
// Days are mon..sun or full names, joined by commas and ranges (a range may
// wrap: fri-mon); times are HH:MM or HH:MM:SS. "every" intervals are whole
// seconds (units s, m, h, d) aligned to multiples of the interval since
// the Unix epoch. A "between" window includes both ends, is read on the
// local clock, and may wrap midnight (between 22:00 and 06:00); its hours
// after midnight belong to the day the window opened.
//
// Sun times need the observer's place: ParseSchedule has none and
// rejects them with an error wrapping ErrNoPlace; use ParseScheduleAt.
func ParseSchedule(spec string, loc *time.Location) (Spec, error) {
	return ParseScheduleAt(spec, loc, nil)
}

// ParseScheduleAt parses a readable schedule like ParseSchedule, and also
// sun times at place (nil: none configured):
//
//	sunset                 sunset-30m             sunrise+1h15m
//	mon-fri sunset-30m     sat,sun sunrise        weekdays at dawn
//	sunrise,sunset         dusk+10m
//
// Sunrise and sunset are when the sun's upper edge meets the horizon
// (zenith 90.833°, NOAA's convention); dawn and dusk begin and end civil
// twilight (the sun 6° below the horizon). An offset is a Go duration
// under 12h ("30m", "1h15m", "2h"). Sun times are instants, so daylight
// saving time needs no rule: each one fires once per date. An event and
// its offset belong to the event's date, so "fri sunset+5h" fires in the
// early hours of Saturday. A date without the event (polar day or night)
// has no occurrence; Next looks up to 400 days ahead.
func ParseScheduleAt(spec string, loc *time.Location, place *Place) (Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	s, err := parseSchedule(strings.TrimSpace(spec), loc, place)
	if err != nil {
		return nil, &SpecError{Kind: "schedule", Spec: spec, Err: err}
	}
	return s, nil
}

var dayKeywords = []string{"daily", "weekdays", "weekends", "every"}

var fullDayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// dayAlias maps other spellings of day names people write.
func dayAlias(s string) (time.Weekday, bool) {
	switch s {
	case "tues":
		return time.Tuesday, true
	case "weds":
		return time.Wednesday, true
	case "thur", "thurs":
		return time.Thursday, true
	}
	return 0, false
}

const allDays = 1<<7 - 1

func parseSchedule(spec string, loc *time.Location, place *Place) (Spec, error) {
	words := strings.Fields(strings.ToLower(spec))
	if len(words) == 0 {
		return nil, errors.New("empty schedule")
	}
	days := uint8(allDays)
	if words[0] == "at" && len(words) > 1 && isSunWord(words[1]) {
		words = words[1:] // "at sunset" needs no days
	}
	if words[0] != "every" && !isSunWord(words[0]) {
		d, err := parseDays(words[0])
		if err != nil {
			if typo := sunTypo(words[0]); typo != nil {
				return nil, typo
			}
			return nil, err
		}
		days, words = d, words[1:]
		if len(words) == 0 {
			return nil, fmt.Errorf("missing time after %q (e.g. %q)", spec, spec+" 07:00")
		}
	}
	if words[0] == "every" {
		return parseEvery(spec, loc, days, words[1:])
	}
	if words[0] == "at" {
		words = words[1:]
	}
	if len(words) > 0 && isSunWord(words[0]) {
		return parseSun(spec, loc, place, days, words)
	}
	times, err := parseTimes(strings.Join(words, ","))
	if err != nil {
		return nil, err
	}
	return &dailySpec{text: spec, loc: loc, days: days, times: times}, nil
}

// parseDays parses a day set: daily, weekdays, weekends, or a comma list
// of days and day ranges.
func parseDays(s string) (uint8, error) {
	var set uint8
	for item := range strings.SplitSeq(s, ",") {
		switch item {
		case "daily":
			set |= allDays
			continue
		case "weekdays":
			set |= 0b0111110
			continue
		case "weekends":
			set |= 0b1000001
			continue
		case "":
			return 0, fmt.Errorf("empty day in %q", s)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parseDay(lo)
		if err != nil {
			return 0, err
		}
		if !isRange {
			set |= 1 << a
			continue
		}
		b, err := parseDay(hi)
		if err != nil {
			return 0, err
		}
		for d := a; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == b {
				break
			}
		}
	}
	return set, nil
}

func parseDay(s string) (time.Weekday, error) {
	for i, name := range dowNames {
		if s == name || s == fullDayNames[i] {
			return time.Weekday(i), nil
		}
	}
	if d, ok := dayAlias(s); ok {
		return d, nil
	}
	if s == "" {
		return 0, errors.New("missing day in range")
	}
	if looksLikeTime(s) {
		return 0, fmt.Errorf("expected days before the time (e.g. \"daily %s\"), got %q", s, s)
	}
	candidates := slices.Concat(dowNames, dayKeywords, fullDayNames)
	return 0, fmt.Errorf("unknown day %q%s", s, didYouMean(s, candidates...))
}

func looksLikeTime(s string) bool {
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// parseTimes parses a comma list of HH:MM[:SS] into sorted, distinct
// seconds of the day.
func parseTimes(s string) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			continue
		}
		t, err := parseClock(item)
		if err != nil {
			if isSunWord(item) {
				return nil, fmt.Errorf("cannot mix clock times and sun times (%q) in one schedule; use two triggers", item)
			}
			if typo := sunTypo(item); typo != nil && !looksLikeTime(item) {
				return nil, typo
			}
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("missing time (e.g. 07:00)")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// parseClock parses HH:MM or HH:MM:SS into seconds of the day.
func parseClock(s string) (int, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("expected HH:MM, got %q", s)
	}
	units := []struct {
		name string
		max  int
		mul  int
	}{{"hour", 23, 3600}, {"minute", 59, 60}, {"second", 59, 1}}
	sec := 0
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || p == "" || len(p) > 2 || p[0] == '+' || p[0] == '-' {
			return 0, fmt.Errorf("expected HH:MM, got %q", s)
		}
		if n > units[i].max {
			return 0, fmt.Errorf("%s %d out of range 0-%d in %q", units[i].name, n, units[i].max, s)
		}
		sec += n * units[i].mul
	}
	return sec, nil
}

// parseEvery parses what follows "every": an interval and an optional
// "between HH:MM and HH:MM" (or "from HH:MM to HH:MM") window.
func parseEvery(spec string, loc *time.Location, days uint8, words []string) (Spec, error) {
	if len(words) == 0 {
		return nil, errors.New(`missing interval after "every" (e.g. "every 10m")`)
	}
	period, err := parseInterval(words[0])
	if err != nil {
		if words[0] == "day" || words[0] == "week" {
			err = fmt.Errorf("%w (for a time of day write \"daily 07:00\")", err)
		}
		return nil, err
	}
	e := &everySpec{text: spec, loc: loc, period: period, days: days}
	words = words[1:]
	if len(words) == 0 {
		return e, nil
	}
	open, closeWord := words[0], "and"
	switch open {
	case "between":
	case "from":
		closeWord = "to"
	default:
		return nil, fmt.Errorf("unexpected %q after the interval (expected \"between 08:00 and 22:00\")%s", open, didYouMean(open, "between", "from"))
	}
	if len(words) != 4 || words[2] != closeWord {
		return nil, fmt.Errorf("expected %q HH:MM %q HH:MM, got %q", open, closeWord, strings.Join(words, " "))
	}
	for _, w := range []string{words[1], words[3]} {
		if isSunWord(w) {
			return nil, fmt.Errorf("a window takes clock times (HH:MM), not sun times (%q)", w)
		}
	}
	if e.from, err = parseClock(words[1]); err != nil {
		return nil, err
	}
	if e.to, err = parseClock(words[3]); err != nil {
		return nil, err
	}
	if e.from == e.to {
		return nil, fmt.Errorf("empty window: %s and %s are the same time", words[1], words[3])
	}
	e.window = true
	return e, nil
}

// parseInterval parses an interval of whole seconds: a Go duration that
// may also use d for days ("90s", "10m", "1h30m", "2d").
func parseInterval(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, fmt.Errorf("interval %q is shorter than 1s", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("interval %q is not a whole number of seconds", s)
	}
	return d, nil
}

// ParseDuration parses a Go duration ("90s", "1h30m") that may also use d
// for 24-hour days ("2d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	var total time.Duration
	if s == "" {
		return 0, errors.New(`expected a duration like "10m" or "2d", got ""`)
	}
	// Peel off a leading "<n>d"; the rest is a Go duration.
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("expected a duration like \"10m\" or \"2d\", got %q", orig)
		}
		total = time.Duration(n * float64(24*time.Hour))
		s = s[i+1:]
		if s == "" {
			return total, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("expected a duration like \"10m\" or \"2d\", got %q", orig)
	}
	return total + d, nil
}

// dailySpec fires at fixed wall-clock times on a set of weekdays.
type dailySpec struct {
	text  string
	loc   *time.Location
	days  uint8 // bit per time.Weekday
	times []int // sorted seconds of the day
}

// Next returns the first fire time strictly after t.
func (d *dailySpec) Next(t time.Time) time.Time { return nextWallClock(d, d.loc, t) }

func (d *dailySpec) String() string { return d.text }

// Location returns the time zone the spec's wall times are in.
func (d *dailySpec) Location() *time.Location { return d.loc }

func (d *dailySpec) nextWall(w int64) (int64, bool) {
	days, sec := civil(w)
	for range 8 {
		if d.days&(1<<weekday(days)) != 0 {
			if i, _ := slices.BinarySearch(d.times, sec); i < len(d.times) {
				return days*day + int64(d.times[i]), true
			}
		}
		days++
		sec = 0
	}
	return 0, false
}

// everySpec fires at multiples of period since the Unix epoch, optionally
// only on some days and inside a daily wall-clock window.
type everySpec struct {
	text     string
	loc      *time.Location
	period   time.Duration // whole seconds
	days     uint8
	window   bool
	from, to int // window bounds, seconds of the day, inclusive
}

// Next returns the first fire time strictly after t.
func (e *everySpec) Next(t time.Time) time.Time {
	p := int64(e.period / time.Second)
	u := floorDiv(t.Unix(), p)*p + p
	if e.days == allDays && !e.window {
		return time.Unix(u, 0).In(e.loc)
	}
	opens := &dailySpec{days: e.days, times: []int{e.from}}
	for range 4 * maxSearchDays {
		lt := time.Unix(u, 0).In(e.loc)
		if e.allowed(lt) {
			return lt
		}
		// Nothing can fire before the window next opens on the local
		// clock, or before the clock jumps at the end of this zone period.
		_, off := lt.Zone()
		_, end := lt.ZoneBounds()
		w, ok := opens.nextWall(u + int64(off) + 1)
		next := w - int64(off)
		if !end.IsZero() && (!ok || next > end.Unix()) {
			next, ok = end.Unix(), true
		}
		if !ok {
			return time.Time{}
		}
		u = -floorDiv(-next, p) * p // round up to the grid
	}
	return time.Time{}
}

// allowed reports whether lt is on an allowed day and inside the window.
func (e *everySpec) allowed(lt time.Time) bool {
	tod := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	wd := lt.Weekday()
	if e.window {
		switch {
		case e.from < e.to:
			if tod < e.from || tod > e.to {
				return false
			}
		case tod <= e.to:
			// After midnight in a wrapping window: the day it opened counts.
			wd = (wd + 6) % 7
		case tod < e.from:
			return false
		}
	}
	return e.days&(1<<wd) != 0
}

func (e *everySpec) String() string { return e.text }

// Location returns the time zone of the spec's window and days.
func (e *everySpec) Location() *time.Location { return e.loc }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
