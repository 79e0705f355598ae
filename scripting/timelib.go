package scripting

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// ParseDuration reads a duration as rules write it (RULES.md §4): a string
// accepted by ParseDurationString, or a number of seconds. Negative,
// non-finite and out-of-range values are errors.
func ParseDuration(v lua.LValue) (time.Duration, error) {
	switch x := v.(type) {
	case lua.LString:
		return ParseDurationString(string(x))
	case lua.LNumber:
		f := float64(x)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return 0, fmt.Errorf("invalid duration %v", f)
		case f < 0:
			return 0, fmt.Errorf("negative duration %v", f)
		case f*float64(time.Second) >= math.MaxInt64:
			return 0, fmt.Errorf("duration %v out of range", f)
		}
		return time.Duration(math.Round(f * float64(time.Second))), nil
	}
	return 0, fmt.Errorf("duration expected, got %s", v.Type())
}

// ParseDurationString parses Go-style durations ("300ms", "90s", "10m",
// "1h30m") extended with days ("2d", "1d12h"; a day is 24 hours, not a
// calendar day). A bare number, a sign and an empty string are errors:
// durations in strings always carry a unit.
func ParseDurationString(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	// A unit ends in s, m, h or d; no float ParseFloat accepts does (it
	// would allocate its error for every "1h").
	if last := s[len(s)-1]; !strings.ContainsRune("smhd", rune(last)) && parsesAsFloat(s) {
		return 0, fmt.Errorf("missing unit in duration %q (write %q)", s, s+"s")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		num, unit := durationPart(rest)
		if unit == "" || num == "" || num == "." {
			return 0, fmt.Errorf("invalid duration %q (examples: \"300ms\", \"90s\", \"10m\", \"1h30m\", \"2d\")", s)
		}
		part := rest[:len(num)+len(unit)]
		rest = rest[len(part):]
		var d time.Duration
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*float64(24*time.Hour) >= math.MaxInt64 {
				return 0, fmt.Errorf("duration %q out of range", s)
			}
			d = time.Duration(math.Round(f * float64(24*time.Hour)))
		} else {
			var err error
			if d, err = time.ParseDuration(part); err != nil {
				return 0, fmt.Errorf("invalid duration %q: %w", s, err)
			}
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		total += d
	}
	return total, nil
}

func parsesAsFloat(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// durationPart splits the number and unit off the front of s ("1.5h30m":
// "1.5", "h"), as `^([0-9]*\.?[0-9]*)(ms|us|µs|ns|d|h|m|s)` would, without
// a regexp's allocations; unit is "" when none follows the number.
func durationPart(s string) (num, unit string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	// Two-letter units before the one letter that starts them ("ms", "m").
	for _, u := range [...]string{"ms", "us", "µs", "ns", "d", "h", "m", "s"} {
		if strings.HasPrefix(s[i:], u) {
			return s[:i], u
		}
	}
	return s[:i], ""
}

// clockPattern is a wall-clock time of day: "7:30", "07:30", "07:30:15".
var clockPattern = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$`)

// ParseClock parses a time of day ("HH:MM" or "HH:MM:SS") into its offset
// from midnight on the wall clock.
func ParseClock(s string) (time.Duration, error) {
	m := clockPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("HH:MM expected, got %q", s)
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec := 0
	if m[3] != "" {
		sec, _ = strconv.Atoi(m[3])
	}
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second, nil
}

// NextClock returns the first instant strictly after now at which the wall
// clock in loc shows tod (an offset from midnight as ParseClock returns).
// DST follows RULES.md §2: a time inside the spring-forward gap means the
// first instant after the gap; a time inside the repeated fall-back hour
// means its first occurrence.
func NextClock(now time.Time, loc *time.Location, tod time.Duration) time.Time {
	local := now.In(loc)
	for day := range 3 {
		date := time.Date(local.Year(), local.Month(), local.Day()+day, 0, 0, 0, 0, time.UTC)
		t := WallTime(date.Year(), date.Month(), date.Day(), tod, loc)
		if t.After(now) {
			return t
		}
	}
	// Unreachable for real zones: three calendar days always pass tod.
	return now.Add(24 * time.Hour)
}

// WallTime returns the instant at which loc's wall clock shows tod on the
// given date, resolving DST like NextClock (gap: first instant after it;
// repeated hour: first occurrence).
func WallTime(year int, month time.Month, day int, tod time.Duration, loc *time.Location) time.Time {
	h, mi, s := int(tod/time.Hour), int(tod/time.Minute%60), int(tod/time.Second%60)
	t := time.Date(year, month, day, h, mi, s, 0, loc)
	want := time.Date(year, month, day, h, mi, s, 0, time.UTC)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
	if !got.Equal(want) {
		// In a gap: the gap ends where the zone period after it starts.
		start, end := t.ZoneBounds()
		if got.After(want) {
			return start
		}
		return end
	}
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, offBefore := start.Add(-time.Nanosecond).Zone()
	_, off := t.Zone()
	if diff := time.Duration(offBefore-off) * time.Second; diff > 0 {
		// Clocks went back at start; t may be the second occurrence.
		earlier := t.Add(-diff)
		e := earlier.In(loc)
		if earlier.Before(start) && time.Date(e.Year(), e.Month(), e.Day(), e.Hour(), e.Minute(), e.Second(), 0, time.UTC).Equal(want) {
			return earlier
		}
	}
	return t
}

// ParseWallTime parses "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS]" and
// "YYYY-MM-DD" (midnight) on loc's wall clock, resolving DST like
// WallTime, and RFC 3339 times with an explicit offset.
func ParseWallTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
			return WallTime(t.Year(), t.Month(), t.Day(), tod, loc), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q not understood (expected \"YYYY-MM-DD HH:MM\")", s)
}

// strftime formats t with the C conversions rules are likely to use.
// Unknown conversions are errors rather than passed through, so a typo
// shows up at once.
func strftime(t time.Time, format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(format) {
			return "", errors.New("format ends with '%'")
		}
		switch format[i] {
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'D', 'x':
			b.WriteString(t.Format("01/02/06"))
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'T', 'X':
			b.WriteString(t.Format("15:04:05"))
		case 'u':
			fmt.Fprintf(&b, "%d", (int(t.Weekday())+6)%7+1)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'Z':
			name, _ := t.Zone()
			b.WriteString(name)
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("unknown conversion '%%%c' in format", format[i])
		}
	}
	return b.String(), nil
}

var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Condition is a predicate the engine can evaluate in only_if/unless and a
// rule can call: Lua sees it as a callable object returning a boolean.
type Condition interface {
	Holds() bool
	String() string // shown by tostring() and in traces
}

const conditionType = "scripting.condition"

// NewCondition wraps c as a Lua value: calling it returns c.Holds().
func NewCondition(L *lua.LState, c Condition) lua.LValue {
	ud := L.NewUserData()
	ud.Value = c
	L.SetMetatable(ud, conditionMetatable(L))
	return ud
}

func conditionMetatable(L *lua.LState) *lua.LTable {
	if mt, ok := L.GetTypeMetatable(conditionType).(*lua.LTable); ok {
		return mt
	}
	mt := typeMetatable(L, conditionType, 3)
	mt.RawSetString("__call", L.NewFunction(func(L *lua.LState) int {
		c, _ := asCondition(L.Get(1))
		L.Push(lua.LBool(c.Holds()))
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		c, _ := asCondition(L.Get(1))
		L.Push(lua.LString(c.String()))
		return 1
	}))
	// Hide the metatable so a rule cannot swap __call.
	mt.RawSetString("__metatable", lua.LString("condition"))
	return mt
}

func asCondition(v lua.LValue) (Condition, bool) {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return nil, false
	}
	c, ok := ud.Value.(Condition)
	return c, ok
}

// IsCondition reports whether v is a Condition made by NewCondition (such
// as time.between).
func IsCondition(v lua.LValue) bool {
	_, ok := asCondition(v)
	return ok
}

// EvalCondition evaluates v if it is a Condition: (result, true); for any
// other value it returns (false, false) and the caller decides (a plain
// function in only_if, for example).
func EvalCondition(_ *lua.LState, v lua.LValue) (bool, bool) {
	c, ok := asCondition(v)
	if !ok {
		return false, false
	}
	return c.Holds(), true
}

// betweenCondition holds while the wall clock is in [start, end); an end
// before the start wraps midnight.
type betweenCondition struct {
	clock      engine.Clock
	loc        *time.Location
	start, end time.Duration
	text       string
}

func (b *betweenCondition) Holds() bool {
	now := b.clock.Now().In(b.loc)
	tod := time.Duration(now.Hour())*time.Hour + time.Duration(now.Minute())*time.Minute + time.Duration(now.Second())*time.Second
	if b.start < b.end {
		return tod >= b.start && tod < b.end
	}
	return tod >= b.start || tod < b.end
}

func (b *betweenCondition) String() string { return b.text }

// timeLib holds what the time and os functions read: the clock and the
// zone of the states they serve (one state's, or every state's of a
// LibCache: sharedTime).
type timeLib struct {
	clock engine.Clock
	loc   *time.Location
	start time.Time // os.clock counts from here plus the state's clockStartKey
}

// clockStartKey is the registry field where a state keeps when it was
// created, as nanoseconds after its timeLib's start: os.clock counts from
// there, in a state of its own as in one that shares its os table.
const clockStartKey = "alexarules.clockstart"

// markStart records now as L's creation for os.clock.
func (tl *timeLib) markStart(L *lua.LState) {
	L.G.Registry.RawSetString(clockStartKey, lua.LNumber(tl.clock.Now().Sub(tl.start)))
}

// reads reports whether tl reads clock in loc (nil: the real clock, the
// local zone, as newTimeLib takes them).
func (tl *timeLib) reads(clock engine.Clock, loc *time.Location) bool {
	clock, loc = timeDefaults(clock, loc)
	typ := reflect.TypeOf(tl.clock)
	return tl.loc == loc && typ == reflect.TypeOf(clock) && typ.Comparable() && tl.clock == clock
}

// timeTable returns the table `time` (RULES.md §4):
//
//	time.now()                  -> epoch seconds
//	time.next("17:30" [, from]) -> epoch seconds of the next occurrence
//	time.format(t [, fmt])      -> string (strftime subset; "!" prefix = UTC)
//	time.between("22:00", "06:00") -> Condition (call it for a boolean)
//	time.weekday([t])           -> "mon".."sun"
//	time.parse("2026-03-02 06:59") -> epoch seconds, or nil, message
//
// All of them read tl's clock and use its zone as the wall-clock zone.
// Wrong arguments raise Lua errors naming the call and the caller's
// file:line.
func (tl *timeLib) timeTable(L *lua.LState) *lua.LTable {
	return funcTable(L, map[string]lua.LGFunction{
		"now":     tl.now,
		"next":    tl.next,
		"format":  tl.format,
		"between": tl.between,
		"weekday": tl.weekday,
		"parse":   tl.parse,
	})
}

// funcTable returns a table of the functions, sized for them (L.NewTable
// reserves 32 array and 32 hash slots, about 3 KB).
func funcTable(L *lua.LState, funcs map[string]lua.LGFunction) *lua.LTable {
	return L.SetFuncs(L.CreateTable(0, len(funcs)), funcs)
}

func newTimeLib(clock engine.Clock, loc *time.Location) *timeLib {
	clock, loc = timeDefaults(clock, loc)
	return &timeLib{clock: clock, loc: loc, start: clock.Now()}
}

// timeDefaults are the clock and zone a timeLib reads: the real clock
// when clock is nil, the local zone when loc is.
func timeDefaults(clock engine.Clock, loc *time.Location) (engine.Clock, *time.Location) {
	if clock == nil {
		clock = engine.RealClock{}
	}
	if loc == nil {
		loc = time.Local
	}
	return clock, loc
}

func (tl *timeLib) now(L *lua.LState) int {
	L.Push(TimeToLua(tl.clock.Now()))
	return 1
}

func (tl *timeLib) next(L *lua.LState) int {
	tod := checkClock(L, 1)
	from := tl.clock.Now()
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		from = checkTime(L, 2)
	}
	L.Push(TimeToLua(NextClock(from, tl.loc, tod)))
	return 1
}

func (tl *timeLib) format(L *lua.LState) int {
	t := checkTime(L, 1)
	format := L.OptString(2, "%Y-%m-%d %H:%M:%S")
	L.Push(lua.LString(tl.strftime(L, 2, t, format)))
	return 1
}

// strftime formats in the state's zone, or UTC after a leading "!", and
// raises an argument error for argument n on a bad format.
func (tl *timeLib) strftime(L *lua.LState, n int, t time.Time, format string) string {
	loc := tl.loc
	if rest, ok := strings.CutPrefix(format, "!"); ok {
		format, loc = rest, time.UTC
	}
	s, err := strftime(t.In(loc), format)
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return s
}

func (tl *timeLib) between(L *lua.LState) int {
	start, end := checkClock(L, 1), checkClock(L, 2)
	if start == end {
		L.ArgError(2, "end must differ from start")
	}
	text := fmt.Sprintf("time.between(%q, %q)", L.Get(1).String(), L.Get(2).String())
	L.Push(NewCondition(L, &betweenCondition{clock: tl.clock, loc: tl.loc, start: start, end: end, text: text}))
	return 1
}

func (tl *timeLib) weekday(L *lua.LState) int {
	t := tl.clock.Now()
	if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
		t = checkTime(L, 1)
	}
	L.Push(lua.LString(weekdays[t.In(tl.loc).Weekday()]))
	return 1
}

func (tl *timeLib) parse(L *lua.LState) int {
	t, err := ParseWallTime(L.CheckString(1), tl.loc)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(TimeToLua(t))
	return 1
}

// checkClock reads argument n as "HH:MM" or raises an argument error.
func checkClock(L *lua.LState, n int) time.Duration {
	v := L.Get(n)
	s, ok := v.(lua.LString)
	if !ok {
		L.ArgError(n, "HH:MM expected, got "+v.Type().String())
	}
	tod, err := ParseClock(string(s))
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return tod
}

// checkTime reads argument n as epoch seconds or raises an argument error.
func checkTime(L *lua.LState, n int) time.Time {
	v := L.Get(n)
	num, ok := v.(lua.LNumber)
	// ±1e11 s is about ±3000 years: beyond it time.Time arithmetic is
	// meaningless and float-to-int conversion undefined.
	if !ok || math.IsNaN(float64(num)) || math.Abs(float64(num)) > 1e11 {
		L.ArgError(n, "epoch seconds expected, got "+luaTypeOrValue(v))
	}
	return TimeFromLua(num)
}

func luaTypeOrValue(v lua.LValue) string {
	if n, ok := v.(lua.LNumber); ok {
		return n.String()
	}
	return v.Type().String()
}

// osTable returns the sandbox's `os`: only time, clock, date and difftime,
// all on the engine clock.
func (tl *timeLib) osTable(L *lua.LState) *lua.LTable {
	return funcTable(L, map[string]lua.LGFunction{
		"time":     tl.osTime,
		"clock":    tl.osClock,
		"date":     tl.osDate,
		"difftime": tl.osDifftime,
	})
}

// osTime is os.time([table]): integer epoch seconds, of now or of the wall
// time the table describes (year, month, day; hour defaults to 12, min and
// sec to 0; out-of-range fields normalise like in C).
func (tl *timeLib) osTime(L *lua.LState) int {
	if L.GetTop() == 0 || L.Get(1) == lua.LNil {
		L.Push(lua.LNumber(tl.clock.Now().Unix()))
		return 1
	}
	tb := L.CheckTable(1)
	field := func(name string, def int) int {
		v := tb.RawGetString(name)
		if v == lua.LNil {
			if def < 0 {
				L.ArgError(1, "field '"+name+"' missing in date table")
			}
			return def
		}
		n, ok := v.(lua.LNumber)
		if !ok || float64(n) != math.Trunc(float64(n)) || math.Abs(float64(n)) > 1e7 {
			L.ArgError(1, "field '"+name+"' is not an integer")
		}
		return int(n)
	}
	year, month, day := field("year", -1), field("month", -1), field("day", -1)
	hour, minute, sec := field("hour", 12), field("min", 0), field("sec", 0)
	date := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	tod := time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute + time.Duration(sec)*time.Second
	days := int(tod / (24 * time.Hour))
	if tod < 0 && tod%(24*time.Hour) != 0 {
		days-- // floor, so a negative hour lands on the previous day
	}
	date = date.AddDate(0, 0, days)
	tod -= time.Duration(days) * 24 * time.Hour
	L.Push(lua.LNumber(WallTime(date.Year(), date.Month(), date.Day(), tod, tl.loc).Unix()))
	return 1
}

// osClock is os.clock(): seconds the engine clock moved since the state was
// created (markStart; not CPU time, which rules have no use for and tests
// could not pin).
func (tl *timeLib) osClock(L *lua.LState) int {
	created, _ := L.G.Registry.RawGetString(clockStartKey).(lua.LNumber)
	L.Push(lua.LNumber((tl.clock.Now().Sub(tl.start) - time.Duration(created)).Seconds()))
	return 1
}

// osDate is os.date([format [, t]]): "*t" / "!*t" give a table, anything
// else is a strftime format ("%c" by default).
func (tl *timeLib) osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	t := tl.clock.Now()
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		t = checkTime(L, 2)
	}
	switch format {
	case "*t", "!*t":
		loc := tl.loc
		if format == "!*t" {
			loc = time.UTC
		}
		lt := t.In(loc)
		tb := L.CreateTable(0, 9)
		tb.RawSetString("year", lua.LNumber(lt.Year()))
		tb.RawSetString("month", lua.LNumber(lt.Month()))
		tb.RawSetString("day", lua.LNumber(lt.Day()))
		tb.RawSetString("hour", lua.LNumber(lt.Hour()))
		tb.RawSetString("min", lua.LNumber(lt.Minute()))
		tb.RawSetString("sec", lua.LNumber(lt.Second()))
		tb.RawSetString("wday", lua.LNumber(lt.Weekday()+1))
		tb.RawSetString("yday", lua.LNumber(lt.YearDay()))
		tb.RawSetString("isdst", lua.LBool(lt.IsDST()))
		L.Push(tb)
	default:
		L.Push(lua.LString(tl.strftime(L, 1, t, format)))
	}
	return 1
}

func (tl *timeLib) osDifftime(L *lua.LState) int {
	L.Push(L.CheckNumber(1) - L.OptNumber(2, 0))
	return 1
}
