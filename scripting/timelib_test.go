package scripting_test

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// berlinState returns a sandboxed state in Europe/Berlin on a virtual
// clock standing at now.
func berlinState(t testing.TB, now time.Time) (*lua.LState, *engine.Virtual) {
	t.Helper()
	clock := engine.NewVirtual(now)
	L := scripting.NewState(scripting.StateOptions{Clock: clock, Location: berlin(t)})
	t.Cleanup(L.Close)
	return L, clock
}

func eval(t testing.TB, L *lua.LState, expr string) lua.LValue {
	t.Helper()
	v, err := run(t, L, "time", "return "+expr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTimeNext(t *testing.T) {
	loc := berlin(t)
	at := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, loc) }
	utc := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }
	tests := []struct {
		name string
		now  time.Time
		expr string
		want time.Time
	}{
		{"later today", at(2026, 3, 2, 6, 59), `time.next("07:00")`, at(2026, 3, 2, 7, 0)},
		{"earlier: tomorrow", at(2026, 3, 2, 6, 59), `time.next("06:00")`, at(2026, 3, 3, 6, 0)},
		{"now exactly: tomorrow", at(2026, 3, 2, 6, 59), `time.next("06:59")`, at(2026, 3, 3, 6, 59)},
		{"seconds", at(2026, 3, 2, 6, 59), `time.next("06:59:30")`, at(2026, 3, 2, 6, 59).Add(30 * time.Second)},
		{"one digit hour", at(2026, 3, 2, 6, 59), `time.next("7:05")`, at(2026, 3, 2, 7, 5)},
		{"from argument", at(2026, 3, 2, 6, 59), `time.next("07:00", time.next("08:00"))`, at(2026, 3, 3, 7, 0)},
		{"month end", at(2026, 3, 31, 23, 0), `time.next("01:00")`, at(2026, 4, 1, 1, 0)},
		// 2026-03-29 02:00 CET -> 03:00 CEST.
		{"spring gap: first instant after it", at(2026, 3, 28, 12, 0), `time.next("02:30")`, utc(2026, 3, 29, 1, 0)},
		{"spring day: 23 hours later", at(2026, 3, 28, 20, 0), `time.next("07:00")`, utc(2026, 3, 29, 5, 0)},
		{"after the gap", utc(2026, 3, 29, 0, 30), `time.next("03:00")`, utc(2026, 3, 29, 1, 0)},
		// 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice.
		{"fall: first occurrence", at(2026, 10, 24, 12, 0), `time.next("02:30")`, utc(2026, 10, 25, 0, 30)},
		{"fall: inside the first hour", utc(2026, 10, 25, 0, 10), `time.next("02:30")`, utc(2026, 10, 25, 0, 30)},
		{"fall: never the second occurrence", utc(2026, 10, 25, 0, 45), `time.next("02:30")`, utc(2026, 10, 26, 1, 30)},
		{"fall day: 25 hours later", at(2026, 10, 24, 20, 0), `time.next("07:00")`, utc(2026, 10, 25, 6, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L, _ := berlinState(t, tt.now)
			v := eval(t, L, tt.expr)
			n, ok := v.(lua.LNumber)
			if !ok {
				t.Fatalf("%s returned %s", tt.expr, v.Type())
			}
			if got := scripting.TimeFromLua(n); !got.Equal(tt.want) {
				t.Errorf("%s at %v = %v, want %v", tt.expr, tt.now.In(loc), got.In(loc), tt.want.In(loc))
			}
		})
	}
}

func TestNextClockOtherZones(t *testing.T) {
	tests := []struct {
		zone string
		now  string // RFC 3339
		tod  string
		want string // RFC 3339
	}{
		// New York 2026-03-08 02:00 EST -> 03:00 EDT.
		{"America/New_York", "2026-03-07T12:00:00-05:00", "02:30", "2026-03-08T03:00:00-04:00"},
		// New York 2026-11-01 02:00 EDT -> 01:00 EST.
		{"America/New_York", "2026-10-31T12:00:00-04:00", "01:30", "2026-11-01T01:30:00-04:00"},
		// Lord Howe moves by 30 minutes: 2026-10-04 02:00 -> 02:30.
		{"Australia/Lord_Howe", "2026-10-03T12:00:00+10:30", "02:15", "2026-10-04T02:30:00+11:00"},
		{"UTC", "2026-03-02T06:59:00Z", "06:59", "2026-03-03T06:59:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.tod, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			now, _ := time.Parse(time.RFC3339, tt.now)
			want, _ := time.Parse(time.RFC3339, tt.want)
			tod, err := scripting.ParseClock(tt.tod)
			if err != nil {
				t.Fatal(err)
			}
			if got := scripting.NextClock(now, loc, tod); !got.Equal(want) {
				t.Errorf("NextClock = %v, want %v", got.In(loc), want.In(loc))
			}
		})
	}
}

func TestTimeFormat(t *testing.T) {
	loc := berlin(t)
	winter := time.Date(2026, 3, 2, 6, 59, 5, 0, loc)
	summer := time.Date(2026, 7, 4, 13, 5, 0, 0, loc)
	L, _ := berlinState(t, winter)
	L.SetGlobal("winter", scripting.TimeToLua(winter))
	L.SetGlobal("summer", scripting.TimeToLua(summer))
	tests := []struct{ expr, want string }{
		{`time.format(winter, "%H:%M")`, "06:59"},
		{`time.format(winter)`, "2026-03-02 06:59:05"},
		{`time.format(winter, "%Y-%m-%d %H:%M:%S")`, "2026-03-02 06:59:05"},
		{`time.format(winter, "%a %A %b %B %j %p %y %Z %z %%")`, "Mon Monday Mar March 061 AM 26 CET +0100 %"},
		{`time.format(summer, "%I:%M %p %Z %z %e %u %w")`, "01:05 PM CEST +0200  4 6 6"},
		{`time.format(summer, "%c|%x|%X|%D|%F|%T")`, "Sat Jul  4 13:05:00 2026|07/04/26|13:05:00|07/04/26|2026-07-04|13:05:00"},
		{`time.format(winter, "!%H:%M %Z")`, "05:59 UTC"},
		{`time.format(winter, "plain text")`, "plain text"},
		{`time.format(time.now(), "%d.%m.")`, "02.03."},
		{`os.date("%H:%M")`, "06:59"},
		{`os.date("!%H:%M", summer)`, "11:05"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if got := eval(t, L, tt.expr).String(); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestTimeBetween(t *testing.T) {
	loc := berlin(t)
	day := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, loc) }
	tests := []struct {
		start, end string
		now        time.Time
		want       bool
	}{
		{"22:00", "06:00", day(22, 0, 0), true},
		{"22:00", "06:00", day(23, 30, 0), true},
		{"22:00", "06:00", day(0, 0, 0), true},
		{"22:00", "06:00", day(5, 59, 59), true},
		{"22:00", "06:00", day(6, 0, 0), false},
		{"22:00", "06:00", day(12, 0, 0), false},
		{"22:00", "06:00", day(21, 59, 59), false},
		{"08:00", "17:00", day(8, 0, 0), true},
		{"08:00", "17:00", day(16, 59, 0), true},
		{"08:00", "17:00", day(17, 0, 0), false},
		{"08:00", "17:00", day(7, 0, 0), false},
		{"05:00", "09:00:30", day(9, 0, 15), true},
	}
	for _, tt := range tests {
		name := tt.start + "-" + tt.end + " at " + tt.now.Format("15:04:05")
		t.Run(name, func(t *testing.T) {
			L, _ := berlinState(t, tt.now)
			expr := `time.between("` + tt.start + `", "` + tt.end + `")`
			if got := eval(t, L, expr+"()"); got != lua.LBool(tt.want) {
				t.Errorf("%s() = %v, want %v", expr, got, tt.want)
			}
			cond := eval(t, L, expr)
			got, isCond := scripting.EvalCondition(L, cond)
			if !isCond || got != tt.want {
				t.Errorf("EvalCondition = %v, %v; want %v, true", got, isCond, tt.want)
			}
		})
	}

	t.Run("re-evaluates on the clock", func(t *testing.T) {
		L, clock := berlinState(t, day(21, 0, 0))
		if _, err := run(t, L, "time", `night = time.between("22:00", "06:00")`); err != nil {
			t.Fatal(err)
		}
		cond := L.GetGlobal("night")
		if !scripting.IsCondition(cond) {
			t.Fatal("time.between did not return a Condition")
		}
		if held, _ := scripting.EvalCondition(L, cond); held {
			t.Error("holds at 21:00")
		}
		clock.Advance(90 * time.Minute)
		if held, _ := scripting.EvalCondition(L, cond); !held {
			t.Error("does not hold at 22:30")
		}
		if got := eval(t, L, `tostring(night) .. " " .. type(night) .. " " .. tostring(getmetatable(night))`); got.String() != `time.between("22:00", "06:00") userdata condition` {
			t.Errorf("tostring/type/getmetatable = %q", got)
		}
	})

	t.Run("other values are not conditions", func(t *testing.T) {
		L, _ := berlinState(t, day(12, 0, 0))
		for _, v := range []lua.LValue{lua.LTrue, lua.LNil, L.NewFunction(func(*lua.LState) int { return 0 }), L.NewUserData()} {
			if scripting.IsCondition(v) {
				t.Errorf("IsCondition(%v) = true", v)
			}
			if got, is := scripting.EvalCondition(L, v); got || is {
				t.Errorf("EvalCondition(%v) = %v, %v", v, got, is)
			}
		}
	})
}

func TestTimeWeekdayNowParse(t *testing.T) {
	loc := berlin(t)
	now := time.Date(2026, 3, 2, 6, 59, 0, 0, loc) // a Monday
	L, _ := berlinState(t, now)
	tests := []struct {
		expr string
		want lua.LValue
	}{
		{`time.weekday()`, lua.LString("mon")},
		{`time.weekday(time.now() - 86400)`, lua.LString("sun")},
		{`time.weekday(time.now() + 5 * 86400)`, lua.LString("sat")},
		// 2026-03-01 23:30 UTC is already Monday in Berlin.
		{`time.weekday(` + scripting.TimeToLua(time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)).String() + `)`, lua.LString("mon")},
		{`time.now()`, scripting.TimeToLua(now)},
		{`time.now() == os.time()`, lua.LTrue},
		{`time.parse("2026-03-02 07:00")`, scripting.TimeToLua(time.Date(2026, 3, 2, 7, 0, 0, 0, loc))},
		{`time.parse("2026-07-04T13:05:10")`, scripting.TimeToLua(time.Date(2026, 7, 4, 13, 5, 10, 0, loc))},
		{`time.parse("2026-03-02")`, scripting.TimeToLua(time.Date(2026, 3, 2, 0, 0, 0, 0, loc))},
		{`time.parse("2026-03-02T07:00:00Z")`, scripting.TimeToLua(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC))},
		{`select(2, time.parse("tomorrow"))`, lua.LString(`time "tomorrow" not understood (expected "YYYY-MM-DD HH:MM")`)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if got := eval(t, L, tt.expr); got.String() != tt.want.String() {
				t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestOSTime(t *testing.T) {
	loc := berlin(t)
	now := time.Date(2026, 3, 2, 6, 59, 0, 0, loc)
	L, clock := berlinState(t, now)
	unix := func(tm time.Time) lua.LValue { return lua.LNumber(tm.Unix()) }
	tests := []struct {
		expr string
		want lua.LValue
	}{
		{`os.time()`, unix(now)},
		{`os.time({year = 2026, month = 3, day = 2, hour = 7})`, unix(time.Date(2026, 3, 2, 7, 0, 0, 0, loc))},
		{`os.time({year = 2026, month = 3, day = 2})`, unix(time.Date(2026, 3, 2, 12, 0, 0, 0, loc))},
		{`os.time({year = 2026, month = 13, day = 1, hour = 0})`, unix(time.Date(2027, 1, 1, 0, 0, 0, 0, loc))},
		{`os.time({year = 2026, month = 3, day = 2, hour = 25, min = 30})`, unix(time.Date(2026, 3, 3, 1, 30, 0, 0, loc))},
		{`os.time({year = 2026, month = 3, day = 2, hour = -1})`, unix(time.Date(2026, 3, 1, 23, 0, 0, 0, loc))},
		{`os.time({year = 2026, month = 3, day = 29, hour = 2, min = 30})`, unix(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC))},
		{`os.date("*t").hour .. ":" .. os.date("*t").min .. " " .. os.date("*t").wday .. " " .. os.date("*t").yday .. " " .. tostring(os.date("*t").isdst)`, lua.LString("6:59 2 61 false")},
		{`os.date("!*t").hour`, lua.LNumber(5)},
		{`os.date("*t", os.time({year = 2026, month = 7, day = 4})).isdst`, lua.LTrue},
		{`os.time(os.date("*t"))`, unix(now)},
		{`os.date()`, lua.LString("Mon Mar  2 06:59:00 2026")},
		{`os.difftime(10, 4)`, lua.LNumber(6)},
		{`os.clock()`, lua.LNumber(0)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if got := eval(t, L, tt.expr); got.String() != tt.want.String() {
				t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
	clock.Advance(90 * time.Second)
	if got := eval(t, L, `os.clock()`); got != lua.LNumber(90) {
		t.Errorf("os.clock() after 90s = %v", got)
	}
}

func TestTimeBadArguments(t *testing.T) {
	tests := []struct{ src, want string }{
		{`local c = time.between("25:00", "06:00")`, `rules/time.lua:1: bad argument #1 to between (HH:MM expected, got "25:00")`},
		{"\n\nlocal c = time.between(\"22:00\")", `rules/time.lua:3: bad argument #2 to between (HH:MM expected, got nil)`},
		{`local c = time.between("22:00", "22:00")`, `rules/time.lua:1: bad argument #2 to between (end must differ from start)`},
		{`local c = time.between("7h", "08:00")`, `rules/time.lua:1: bad argument #1 to between (HH:MM expected, got "7h")`},
		{`return time.next(730)`, `rules/time.lua:1: bad argument #1 to next (HH:MM expected, got number)`},
		{`return time.next("12:60")`, `rules/time.lua:1: bad argument #1 to next (HH:MM expected, got "12:60")`},
		{`return time.format("now")`, `rules/time.lua:1: bad argument #1 to format (epoch seconds expected, got string)`},
		{`return time.format(0/0)`, `rules/time.lua:1: bad argument #1 to format (epoch seconds expected, got NaN)`},
		{`return time.format(0, "%Q")`, `rules/time.lua:1: bad argument #2 to format (unknown conversion '%Q' in format)`},
		{`return time.format(0, "50%")`, `rules/time.lua:1: bad argument #2 to format (format ends with '%')`},
		{`return time.format(1e300)`, `rules/time.lua:1: bad argument #1 to format (epoch seconds expected, got 1e+300)`},
		{`return time.weekday("mon")`, `rules/time.lua:1: bad argument #1 to weekday (epoch seconds expected, got string)`},
		{`return os.date("%Q")`, `rules/time.lua:1: bad argument #1 to date (unknown conversion '%Q' in format)`},
		{`return os.time({year = 2026})`, `rules/time.lua:1: bad argument #1 to time (field 'month' missing in date table)`},
		{`return os.time({year = 2026, month = "x", day = 1})`, `rules/time.lua:1: bad argument #1 to time (field 'month' is not an integer)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			L, _ := berlinState(t, time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC))
			_, err := run(t, L, "time", tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %q\nwant   %q", got, tt.want)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	good := map[string]time.Duration{"00:00": 0, "7:05": 7*time.Hour + 5*time.Minute, "23:59:59": 24*time.Hour - time.Second}
	for in, want := range good {
		if got, err := scripting.ParseClock(in); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"24:00", "7", "07:5", "07:00:60", " 07:00", "07:00pm", ""} {
		if got, err := scripting.ParseClock(in); err == nil {
			t.Errorf("ParseClock(%q) = %v, want an error", in, got)
		}
	}
}
