package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/alexarules/alexarules/engine/schedule"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func parse(t testing.TB, kind, spec string, loc *time.Location) schedule.Spec {
	t.Helper()
	var s schedule.Spec
	var err error
	if kind == "cron" {
		s, err = schedule.ParseCron(spec, loc)
	} else {
		s, err = schedule.ParseSchedule(spec, loc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNextAcrossTransitions lists the fire times around the 2026
// transitions of America/New_York (spring 03-08 02:00 EST -> 03:00 EDT,
// fall 11-01 02:00 EDT -> 01:00 EST) and Europe/Berlin (spring 03-29
// 02:00 CET -> 03:00 CEST, fall 10-25 03:00 CEST -> 02:00 CET).
func TestNextAcrossTransitions(t *testing.T) {
	const layout = "01-02 15:04 MST"
	tests := []struct {
		zone, kind, spec, from string // from: local wall time, 2026
		want                   []string
	}{
		// Spring forward, New York: 02:30 does not exist on 03-08.
		{"America/New_York", "schedule", "daily 02:30", "03-07 12:00",
			[]string{"03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"}},
		{"America/New_York", "cron", "30 2 * * *", "03-07 12:00",
			[]string{"03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"}},
		{"America/New_York", "schedule", "daily 01:30", "03-07 12:00",
			[]string{"03-08 01:30 EST", "03-09 01:30 EDT"}},
		{"America/New_York", "schedule", "daily 01:30,02:00,02:30,03:00,03:30", "03-08 00:00",
			[]string{"03-08 01:30 EST", "03-08 03:00 EDT", "03-08 03:30 EDT", "03-09 01:30 EDT"}},
		{"America/New_York", "cron", "0 2 * * *", "03-08 01:59",
			[]string{"03-08 03:00 EDT", "03-09 02:00 EDT"}},
		{"America/New_York", "cron", "*/15 2 * * *", "03-08 01:00",
			[]string{"03-08 03:00 EDT", "03-09 02:00 EDT"}},
		// Fall back, New York: 01:00-01:59 happens twice on 11-01.
		{"America/New_York", "schedule", "daily 01:30", "10-31 12:00",
			[]string{"11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"}},
		{"America/New_York", "cron", "30 1 * * *", "10-31 12:00",
			[]string{"11-01 01:30 EDT", "11-02 01:30 EST"}},
		{"America/New_York", "schedule", "daily 02:30", "10-31 12:00",
			[]string{"11-01 02:30 EST", "11-02 02:30 EST"}},
		{"America/New_York", "cron", "30 2 * * *", "10-31 12:00",
			[]string{"11-01 02:30 EST", "11-02 02:30 EST"}},
		{"America/New_York", "cron", "0,30 1 * * *", "11-01 00:00",
			[]string{"11-01 01:00 EDT", "11-01 01:30 EDT", "11-02 01:00 EST"}},
		// Spring forward, Berlin.
		{"Europe/Berlin", "schedule", "daily 02:30", "03-28 12:00",
			[]string{"03-29 03:00 CEST", "03-30 02:30 CEST"}},
		{"Europe/Berlin", "cron", "30 2 * * *", "03-28 12:00",
			[]string{"03-29 03:00 CEST", "03-30 02:30 CEST"}},
		{"Europe/Berlin", "schedule", "daily 01:30", "03-28 12:00",
			[]string{"03-29 01:30 CET", "03-30 01:30 CEST"}},
		// Fall back, Berlin: 02:00-02:59 happens twice on 10-25.
		{"Europe/Berlin", "schedule", "daily 02:30", "10-24 12:00",
			[]string{"10-25 02:30 CEST", "10-26 02:30 CET"}},
		{"Europe/Berlin", "cron", "30 2 * * *", "10-24 12:00",
			[]string{"10-25 02:30 CEST", "10-26 02:30 CET"}},
		{"Europe/Berlin", "schedule", "daily 01:30", "10-24 12:00",
			[]string{"10-25 01:30 CEST", "10-26 01:30 CET"}},
		// Asked from inside the second 02:xx hour, the first 02:30 has
		// passed: nothing more that day.
		{"Europe/Berlin", "schedule", "daily 02:30,02:45", "10-25 02:10 CET",
			[]string{"10-26 02:30 CET", "10-26 02:45 CET"}},
		// every N keeps absolute spacing through both transitions.
		{"America/New_York", "schedule", "every 30m", "03-08 01:00",
			[]string{"03-08 01:30 EST", "03-08 03:00 EDT", "03-08 03:30 EDT"}},
		{"America/New_York", "schedule", "every 30m", "11-01 01:00 EDT",
			[]string{"11-01 01:30 EDT", "11-01 01:00 EST", "11-01 01:30 EST", "11-01 02:00 EST"}},
		{"Europe/Berlin", "schedule", "every 30m", "03-29 01:00",
			[]string{"03-29 01:30 CET", "03-29 03:00 CEST", "03-29 03:30 CEST"}},
		{"Europe/Berlin", "schedule", "every 30m", "10-25 02:00 CEST",
			[]string{"10-25 02:30 CEST", "10-25 02:00 CET", "10-25 02:30 CET", "10-25 03:00 CET"}},
		{"Europe/Berlin", "cron", "@every 30m", "10-25 02:00 CEST",
			[]string{"10-25 02:30 CEST", "10-25 02:00 CET", "10-25 02:30 CET", "10-25 03:00 CET"}},
		// A cron spec with "*" hours is an interval too.
		{"America/New_York", "cron", "@hourly", "03-08 00:30",
			[]string{"03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"}},
		{"America/New_York", "cron", "0 * * * *", "11-01 00:30",
			[]string{"11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"}},
		{"Europe/Berlin", "cron", "*/20 * * * *", "10-25 02:30 CEST",
			[]string{"10-25 02:40 CEST", "10-25 02:00 CET", "10-25 02:20 CET"}},
		// The between window reads the local clock: both 01:xx hours of
		// the fall-back night are inside it, the missing 02:xx is not.
		{"America/New_York", "schedule", "every 30m between 01:00 and 02:00", "10-31 23:00",
			[]string{"11-01 01:00 EDT", "11-01 01:30 EDT", "11-01 01:00 EST", "11-01 01:30 EST", "11-01 02:00 EST", "11-02 01:00 EST"}},
		{"America/New_York", "schedule", "every 30m between 01:30 and 03:00", "03-07 23:00",
			[]string{"03-08 01:30 EST", "03-08 03:00 EDT", "03-09 01:30 EDT"}},
		{"America/New_York", "schedule", "every 30m between 02:30 and 03:30", "03-07 23:00",
			[]string{"03-08 03:00 EDT", "03-08 03:30 EDT", "03-09 02:30 EDT"}},
		// Week rollover: Friday's fire is followed by Monday's.
		{"America/New_York", "schedule", "mon-fri 07:00", "03-06 06:00",
			[]string{"03-06 07:00 EST", "03-09 07:00 EDT", "03-10 07:00 EDT"}},
		{"Europe/Berlin", "schedule", "mon-fri 07:00", "10-23 08:00",
			[]string{"10-26 07:00 CET", "10-27 07:00 CET"}},
		{"Europe/Berlin", "cron", "0 7 * * mon-fri", "10-23 08:00",
			[]string{"10-26 07:00 CET", "10-27 07:00 CET"}},
		{"America/New_York", "schedule", "mon-fri every 15m between 08:00 and 08:15", "03-06 08:10",
			[]string{"03-06 08:15 EST", "03-09 08:00 EDT", "03-09 08:15 EDT"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.spec+" from "+tt.from, func(t *testing.T) {
			loc := mustLoad(t, tt.zone)
			from := localTime(t, tt.from, loc)
			s := parse(t, tt.kind, tt.spec, loc)
			got := format(schedule.Upcoming(s, from, len(tt.want)), layout)
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// localTime reads "01-02 15:04" in 2026 in loc; a trailing zone
// abbreviation picks one occurrence of a repeated wall time.
func localTime(t testing.TB, s string, loc *time.Location) time.Time {
	t.Helper()
	f := strings.Fields(s)
	tm, err := time.ParseInLocation("2006-01-02 15:04", "2026-"+f[0]+" "+f[1], loc)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) == 3 {
		// Step an hour either way to find the occurrence with that name.
		for _, c := range []time.Time{tm, tm.Add(-time.Hour), tm.Add(time.Hour)} {
			if name, _ := c.Zone(); name == f[2] && c.Format("15:04") == f[1] {
				return c
			}
		}
		t.Fatalf("no %s %s in %s", f[1], f[2], loc)
	}
	return tm
}

// TestOncePerDate scans all of 2026 and checks that each wall-clock spec
// fires exactly once on every date, at its wall time or, inside the
// spring-forward gap, at the first instant after it.
func TestOncePerDate(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"} {
		loc := mustLoad(t, zone)
		for _, c := range []struct{ kind, spec, clock string }{
			{"schedule", "daily 01:30", "01:30"},
			{"schedule", "daily 02:30", "02:30"},
			{"schedule", "daily 02:00", "02:00"},
			{"cron", "30 1 * * *", "01:30"},
			{"cron", "30 2 * * *", "02:30"},
			{"cron", "15 2 * * *", "02:15"},
		} {
			s := parse(t, c.kind, c.spec, loc)
			perDate := map[string]int{}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
			end := time.Date(2027, 1, 1, 0, 0, 0, 0, loc)
			for {
				next := s.Next(at)
				if !next.After(at) {
					t.Fatalf("%s %s: Next(%v) = %v, not after", zone, c.spec, at, next)
				}
				if !next.Before(end) {
					break
				}
				at = next
				perDate[at.Format("2006-01-02")]++
				if got := at.Format("15:04"); got != c.clock {
					// Only allowed inside a gap: the wall time did not
					// exist, and the fire is the instant the clock jumped.
					start, _ := at.ZoneBounds()
					if !at.Equal(start) {
						t.Errorf("%s %s fired at %v, not at %s nor at a transition", zone, c.spec, at, c.clock)
					}
				}
			}
			if len(perDate) != 365 {
				t.Errorf("%s %s fired on %d dates in 2026, want 365", zone, c.spec, len(perDate))
			}
			for d, n := range perDate {
				if n != 1 {
					t.Errorf("%s %s fired %d times on %s", zone, c.spec, n, d)
				}
			}
		}
	}
}

// TestNextConsistent checks properties every spec keeps at random times
// over several years: Next is strictly later, and asking from just before
// a fire time gives that fire time again (no occurrence skipped).
func TestNextConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specs := []struct{ kind, spec string }{
		{"schedule", "daily 02:30"}, {"schedule", "mon-fri 01:30,02:30,03:00"},
		{"schedule", "every 7m"}, {"schedule", "every 45m between 01:00 and 03:00"},
		{"schedule", "sat every 1h between 22:00 and 02:30"},
		{"cron", "*/7 * * * *"}, {"cron", "30 2 * * *"}, {"cron", "0 0 29 2 *"},
		{"cron", "*/10 1-3 * * *"}, {"cron", "15 */3 1,15 * mon"},
	}
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia"} {
		loc := mustLoad(t, zone)
		for _, c := range specs {
			s := parse(t, c.kind, c.spec, loc)
			for range 300 {
				at := time.Unix(1735689600+rng.Int64N(5*365*86400), rng.Int64N(1e9))
				next := s.Next(at)
				if next.IsZero() {
					t.Fatalf("%s %s: Next(%v) is zero", zone, c.spec, at)
				}
				if !next.After(at) {
					t.Fatalf("%s %s: Next(%v) = %v, not after", zone, c.spec, at, next)
				}
				if again := s.Next(next.Add(-time.Nanosecond)); !again.Equal(next) {
					t.Fatalf("%s %s: Next(%v) = %v but Next(%v) = %v", zone, c.spec, at, next, next.Add(-time.Nanosecond), again)
				}
				if between := s.Next(at.Add(next.Sub(at) / 2)); !between.Equal(next) {
					t.Fatalf("%s %s: Next(%v) = %v skipped past by Next of an earlier time", zone, c.spec, at, next)
				}
			}
		}
	}
}

// TestCronMatchesRobfigInUTC compares our cron Next with robfig/cron's
// where robfig is right: in UTC, which has no transitions.
func TestCronMatchesRobfigInUTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parser := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for _, spec := range []string{
		"* * * * *", "0 7 * * 1-5", "*/13 */5 * * *", "30 0 7 * * *", "*/20 10 * * * *",
		"0 0 1,15 * mon", "0 12 * jan,jul *", "0 0 31 * *", "0 0 29 2 *", "5 4 * * sun",
		"0 22 1-7 * 5", "@daily", "@weekly", "@monthly", "@yearly", "@hourly", "0 9 ? * 1",
	} {
		ours, err := schedule.ParseCron(spec, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		sched, err := parser.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		sched.(*cron.SpecSchedule).Location = time.UTC
		for range 200 {
			at := time.Unix(1735689600+rng.Int64N(5*365*86400), rng.Int64N(1e9)).UTC()
			if got, want := ours.Next(at), sched.Next(at); !got.Equal(want) {
				t.Fatalf("%s: Next(%v) = %v, robfig says %v", spec, at, got, want)
			}
		}
	}
}

func TestEveryAlignedToEpoch(t *testing.T) {
	loc := mustLoad(t, "Asia/Kolkata") // +05:30: local :00 is not a UTC :00
	for _, c := range []struct {
		spec string
		step time.Duration
	}{{"every 10m", 10 * time.Minute}, {"every 90s", 90 * time.Second}, {"every 7m", 7 * time.Minute}, {"every 2d", 48 * time.Hour}} {
		s := parse(t, "schedule", c.spec, loc)
		at := time.Date(2026, 3, 8, 1, 2, 3, 4, loc)
		for range 50 {
			next := s.Next(at)
			if next.Unix()%int64(c.step/time.Second) != 0 {
				t.Fatalf("%s: %v is not a multiple of %v since the epoch", c.spec, next, c.step)
			}
			if next.Sub(at) > c.step || !next.After(at) {
				t.Fatalf("%s: Next(%v) = %v", c.spec, at, next)
			}
			at = next
		}
	}
}

func ExampleParseSchedule() {
	loc, _ := time.LoadLocation("America/New_York")
	s, _ := schedule.ParseSchedule("daily 02:30", loc)
	for _, t := range schedule.Upcoming(s, time.Date(2026, 3, 7, 12, 0, 0, 0, loc), 3) {
		fmt.Println(t)
	}
	// Output:
	// 2026-03-08 03:00:00 -0400 EDT
	// 2026-03-09 02:30:00 -0400 EDT
	// 2026-03-10 02:30:00 -0400 EDT
}

// TestUnusualTransitions covers a midnight that does not exist (Sao Paulo
// 2018-11-04 00:00 -> 01:00) and a whole skipped day (Apia jumped from
// 2011-12-29 24:00 to 2011-12-31 00:00).
func TestUnusualTransitions(t *testing.T) {
	const layout = "2006-01-02 15:04 -07"
	tests := []struct {
		zone, kind, spec string
		from             time.Time
		want             []string
	}{
		{"America/Sao_Paulo", "cron", "@daily", time.Date(2018, 11, 3, 12, 0, 0, 0, time.UTC),
			[]string{"2018-11-04 01:00 -02", "2018-11-05 00:00 -02"}},
		{"America/Sao_Paulo", "schedule", "daily 00:30", time.Date(2018, 11, 3, 12, 0, 0, 0, time.UTC),
			[]string{"2018-11-04 01:00 -02", "2018-11-05 00:30 -02"}},
		{"America/Sao_Paulo", "schedule", "sun every 1h", time.Date(2018, 11, 3, 12, 0, 0, 0, time.UTC),
			[]string{"2018-11-04 01:00 -02", "2018-11-04 02:00 -02"}},
		{"Pacific/Apia", "schedule", "daily 07:00", time.Date(2011, 12, 29, 0, 0, 0, 0, time.UTC),
			[]string{"2011-12-29 07:00 -10", "2011-12-31 00:00 +14", "2011-12-31 07:00 +14"}},
		{"Pacific/Apia", "cron", "0 7 * * *", time.Date(2011, 12, 29, 0, 0, 0, 0, time.UTC),
			[]string{"2011-12-29 07:00 -10", "2011-12-31 00:00 +14", "2011-12-31 07:00 +14"}},
		{"Pacific/Apia", "cron", "0 */6 * * *", time.Date(2011, 12, 29, 12, 0, 0, 0, time.UTC),
			[]string{"2011-12-29 06:00 -10", "2011-12-29 12:00 -10", "2011-12-29 18:00 -10", "2011-12-31 00:00 +14"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.spec, func(t *testing.T) {
			s := parse(t, tt.kind, tt.spec, mustLoad(t, tt.zone))
			got := format(schedule.Upcoming(s, tt.from, len(tt.want)), layout)
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
