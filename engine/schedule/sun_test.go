package schedule_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/schedule"
)

var (
	berlin  = schedule.Place{Latitude: 52.52, Longitude: 13.405}
	newYork = schedule.Place{Latitude: 40.7128, Longitude: -74.0060}
	quito   = schedule.Place{Latitude: -0.1807, Longitude: -78.4678}
	sydney  = schedule.Place{Latitude: -33.8688, Longitude: 151.2093}
	tromso  = schedule.Place{Latitude: 69.6492, Longitude: 18.9553}
)

func parseSun(t testing.TB, spec, zone string, place schedule.Place) (schedule.Spec, *time.Location) {
	t.Helper()
	loc := mustLoad(t, zone)
	s, err := schedule.ParseScheduleAt(spec, loc, &place)
	if err != nil {
		t.Fatal(err)
	}
	return s, loc
}

// TestSunTimes checks computed sun times against published tables, within
// two minutes. Berlin, New York and Sydney are the times almanacs print
// (timeanddate.com, NOAA's solar calculator); Quito and the twilight
// times agree with the suncalc library, an independent implementation.
func TestSunTimes(t *testing.T) {
	tests := []struct {
		name  string
		place schedule.Place
		zone  string
		date  string // 2026-MM-DD, local
		spec  string
		want  string // local HH:MM on date
	}{
		{"Berlin midsummer", berlin, "Europe/Berlin", "2026-06-21", "sunrise", "04:43"},
		{"Berlin midsummer", berlin, "Europe/Berlin", "2026-06-21", "sunset", "21:33"},
		{"Berlin midsummer", berlin, "Europe/Berlin", "2026-06-21", "dawn", "03:53"},
		{"Berlin midsummer", berlin, "Europe/Berlin", "2026-06-21", "dusk", "22:24"},
		{"New York midwinter", newYork, "America/New_York", "2026-12-21", "sunrise", "07:16"},
		{"New York midwinter", newYork, "America/New_York", "2026-12-21", "sunset", "16:32"},
		{"Sydney midsummer", sydney, "Australia/Sydney", "2026-12-21", "sunrise", "05:41"},
		{"Sydney midsummer", sydney, "Australia/Sydney", "2026-12-21", "sunset", "20:05"},
		{"Quito equinox", quito, "America/Guayaquil", "2026-03-20", "sunrise", "06:18"},
		{"Quito equinox", quito, "America/Guayaquil", "2026-03-20", "sunset", "18:24"},
		{"Quito equinox", quito, "America/Guayaquil", "2026-03-20", "dusk", "18:45"},
		{"Tromsø polar night", tromso, "Europe/Oslo", "2026-12-21", "dawn", "09:31"},
		{"Berlin offset", berlin, "Europe/Berlin", "2026-06-21", "sunset-30m", "21:03"},
		{"Berlin offset", berlin, "Europe/Berlin", "2026-06-21", "sunrise+1h15m", "05:58"},
		{"Berlin offset", berlin, "Europe/Berlin", "2026-06-21", "sunset - 2h", "19:33"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.spec, func(t *testing.T) {
			s, loc := parseSun(t, tt.spec, tt.zone, tt.place)
			want, err := time.ParseInLocation("2006-01-02 15:04", tt.date+" "+tt.want, loc)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(want.Add(-time.Hour))
			if d := got.Sub(want); d < -2*time.Minute || d > 2*time.Minute {
				t.Errorf("%s on %s = %v, want %s ±2m", tt.spec, tt.date, got, tt.want)
			}
			if got.Location() != loc {
				t.Errorf("Next is in %v, want %v", got.Location(), loc)
			}
		})
	}
}

// TestSunPolar checks that Tromsø, north of the polar circle, has no
// sunset during the midnight sun (about May 18 to July 26) and no
// sunrise during the polar night (about November 27 to January 15), and
// that the pole itself, where the sun never rises and sets within a day,
// returns no time instead of searching for ever.
func TestSunPolar(t *testing.T) {
	tests := []struct {
		spec, from     string // from: 2026-MM-DD, local midnight
		first, last    string // the next fire's local date lies in [first, last]
		place          schedule.Place
		wantZeroAtPole bool
	}{
		{"sunset", "2026-06-01", "2026-07-25", "2026-07-28", tromso, false},
		{"sunset-1h", "2026-06-01", "2026-07-25", "2026-07-28", tromso, false},
		{"sunrise", "2026-12-01", "2027-01-14", "2027-01-17", tromso, false},
		// Civil twilight goes on through the polar night.
		{"dawn", "2026-12-21", "2026-12-21", "2026-12-21", tromso, false},
		// Before the midnight sun the last sunsets come ever later, until
		// the one of a date falls after midnight on the clock.
		{"sunset", "2026-05-10", "2026-05-10", "2026-05-10", tromso, false},
	}
	for _, tt := range tests {
		t.Run(tt.spec+" from "+tt.from, func(t *testing.T) {
			s, loc := parseSun(t, tt.spec, "Europe/Oslo", tt.place)
			from, _ := time.ParseInLocation("2006-01-02", tt.from, loc)
			got := s.Next(from)
			if got.IsZero() {
				t.Fatalf("Next(%s) = zero", tt.from)
			}
			// The fire's date is the event's: a late sunset shows just
			// after midnight, so read the date an hour and a half earlier
			// (Tromsø's solar time runs 1h16m behind CET's).
			date := got.Add(-90 * time.Minute).Format("2006-01-02")
			if date < tt.first || date > tt.last {
				t.Errorf("Next(%s) = %v, want a date from %s to %s", tt.from, got, tt.first, tt.last)
			}
		})
	}

	for _, spec := range []string{"sunrise", "sunset", "dawn", "mon-fri dusk+1h"} {
		pole := schedule.Place{Latitude: 90, Longitude: 0}
		s, err := schedule.ParseScheduleAt(spec, time.UTC, &pole)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
			t.Errorf("%s at the pole: Next = %v, want the zero time", spec, got)
		}
	}
}

// TestSunPolarDates walks Tromsø's year and checks that sunset and
// sunrise fire at most once per date, never during the midnight sun or
// polar night, and on every date well away from them. Dates are Tromsø's
// own (mean solar time): near the midnight sun a date's sunrise comes
// before midnight on the clock, its sunset after.
func TestSunPolarDates(t *testing.T) {
	for _, c := range []struct {
		spec       string
		none, some [][2]string // date ranges, inclusive
	}{
		{"sunset", [][2]string{{"2026-05-20", "2026-07-24"}}, [][2]string{{"2026-01-20", "2026-05-10"}, {"2026-07-30", "2026-11-20"}}},
		{"sunrise", [][2]string{{"2026-11-29", "2026-12-31"}, {"2026-01-01", "2026-01-13"}}, [][2]string{{"2026-01-20", "2026-05-10"}, {"2026-07-30", "2026-11-20"}}},
	} {
		s, loc := parseSun(t, c.spec, "Europe/Oslo", tromso)
		solarTime := time.FixedZone("LMT", int(tromso.Longitude*240))
		perDate := map[string]int{}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
		for {
			next := s.Next(at)
			if !next.After(at) {
				t.Fatalf("%s: Next(%v) = %v, not after", c.spec, at, next)
			}
			if next.Year() > 2026 {
				break
			}
			at = next
			perDate[at.In(solarTime).Format("2006-01-02")]++
		}
		for date, n := range perDate {
			if n != 1 {
				t.Errorf("%s fired %d times on %s", c.spec, n, date)
			}
			for _, r := range c.none {
				if date >= r[0] && date <= r[1] {
					t.Errorf("%s fired on %s, inside %s to %s", c.spec, date, r[0], r[1])
				}
			}
		}
		for _, r := range c.some {
			for d := mustDate(t, r[0]); !d.After(mustDate(t, r[1])); d = d.AddDate(0, 0, 1) {
				if perDate[d.Format("2006-01-02")] != 1 {
					t.Errorf("%s did not fire on %s", c.spec, d.Format("2006-01-02"))
				}
			}
		}
	}
}

func mustDate(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSunDST checks that a sunset schedule fires once on each date across
// Berlin's 2026 transitions (03-29 and 10-25), about a day apart in
// absolute time, while the local clock jumps by an hour.
func TestSunDST(t *testing.T) {
	s, loc := parseSun(t, "sunset", "Europe/Berlin", berlin)
	for _, c := range []struct{ from, zones string }{
		{"2026-03-26", "CET CET CET CEST CEST CEST"},
		{"2026-10-22", "CEST CEST CEST CET CET CET"},
	} {
		from, _ := time.ParseInLocation("2006-01-02", c.from, loc)
		fires := schedule.Upcoming(s, from, 6)
		var zones []string
		for i, f := range fires {
			zone, _ := f.Zone()
			zones = append(zones, zone)
			if want := from.AddDate(0, 0, i).Format("01-02"); f.Format("01-02") != want {
				t.Errorf("fire %d = %v, want it on %s", i, f, want)
			}
			if i > 0 {
				if gap := f.Sub(fires[i-1]); gap < 24*time.Hour-5*time.Minute || gap > 24*time.Hour+5*time.Minute {
					t.Errorf("fires %v and %v are %v apart, want about 24h", fires[i-1], f, gap)
				}
			}
		}
		if got := strings.Join(zones, " "); got != c.zones {
			t.Errorf("from %s zones = %s, want %s", c.from, got, c.zones)
		}
	}
}

// TestSunOffsets checks that offsets move each date's event and that an
// offset past midnight keeps the event's date: "sun sunset+5h" fires in
// the early hours of Monday, "mon sunrise-5h" late on Sunday.
func TestSunOffsets(t *testing.T) {
	plain, loc := parseSun(t, "sunset", "Europe/Berlin", berlin)
	// Asked on a morning, the previous date's sunset moved past midnight
	// can still be ahead.
	late, _ := parseSun(t, "sunset+11h59m", "Europe/Berlin", berlin)
	morning := time.Date(2026, 6, 19, 9, 0, 0, 0, loc)
	if got := late.Next(morning); got.Format("01-02 15:04") != "06-19 09:31" {
		t.Errorf("sunset+11h59m after %v = %v, want 06-19 09:31 (06-18's sunset)", morning, got)
	}
	for _, c := range []struct {
		spec   string
		offset time.Duration
		want   []string // local dates of the fires from Friday 2026-06-19
		event  string
	}{
		{"sunset-30m", -30 * time.Minute, []string{"06-19", "06-20", "06-21", "06-22"}, "sunset"},
		{"sun sunset+5h", 5 * time.Hour, []string{"06-22", "06-29", "07-06"}, "sunset"},
		{"mon sunrise-5h", -5 * time.Hour, []string{"06-21", "06-28", "07-05"}, "sunrise"},
		{"sat,sun sunrise", 0, []string{"06-20", "06-21", "06-27", "06-28"}, "sunrise"},
		// Thursday's sunset moved into Friday morning comes first.
		{"mon-fri sunset+11h59m", 11*time.Hour + 59*time.Minute, []string{"06-19", "06-20", "06-23", "06-24", "06-25", "06-26"}, "sunset"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			s, _ := parseSun(t, c.spec, "Europe/Berlin", berlin)
			event := plain
			if c.event == "sunrise" {
				event, _ = parseSun(t, "sunrise", "Europe/Berlin", berlin)
			}
			from := time.Date(2026, 6, 19, 0, 0, 0, 0, loc)
			for i, f := range schedule.Upcoming(s, from, len(c.want)) {
				if got := f.Format("01-02"); got != c.want[i] {
					t.Errorf("fire %d = %v, want it on %s", i, f, c.want[i])
				}
				// The fire is its date's event moved by the offset.
				if e := event.Next(f.Add(-c.offset - time.Second)); !e.Add(c.offset).Equal(f) {
					t.Errorf("fire %v is not %s %v moved by %v", f, c.event, e, c.offset)
				}
				// Strictly after: asking at the fire gives the next one.
				if n := s.Next(f); !n.After(f) {
					t.Errorf("Next(%v) = %v, not after", f, n)
				}
			}
		})
	}
}

// TestSunLists checks that a list fires each event once per date, in time
// order, and that a time zone far from the place keeps each event on the
// place's own date.
func TestSunLists(t *testing.T) {
	s, loc := parseSun(t, "sunrise, sunset, sunset, dusk", "Europe/Berlin", berlin)
	from := time.Date(2026, 6, 21, 0, 0, 0, 0, loc)
	got := format(schedule.Upcoming(s, from, 4), "01-02 15:04")
	want := []string{"06-21 04:43", "06-21 21:33", "06-21 22:23", "06-22 04:43"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("fires %v, want %v", got, want)
	}

	// New York's sunsets shown in UTC fall on the next day's clock from
	// March on; "mon sunset" is still Monday's sunset in New York.
	s, _ = parseSun(t, "mon sunset", "UTC", newYork)
	f := s.Next(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) // Monday
	if got := f.In(mustLoad(t, "America/New_York")).Format("Mon 01-02 15:04"); got != "Mon 06-01 20:21" {
		t.Errorf("mon sunset in UTC = %v (%s in New York), want Monday 06-01 about 20:21", f, got)
	}
}

func TestParseSunValid(t *testing.T) {
	for _, spec := range []string{
		"sunset", "SUNSET-30M", "sunrise+15m", "sunrise+1h15m", "sunset-2h", "dawn", "dusk+10m",
		"mon-fri sunset-30m", "sat,sun sunrise", "weekdays at dawn", "at sunset", "daily at sunset",
		"sunset - 30m", "sunset -30m", "sunrise,sunset", "sunrise, sunset+1h", "fri sunset+11h59m59s",
		"sunset+0s", "sunset-90s", "  sunset  ",
	} {
		s, err := schedule.ParseScheduleAt(spec, time.UTC, &berlin)
		if err != nil {
			t.Errorf("ParseScheduleAt(%q): %v", spec, err)
			continue
		}
		if s.String() != strings.TrimSpace(spec) {
			t.Errorf("ParseScheduleAt(%q).String() = %q", spec, s.String())
		}
		if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			t.Errorf("ParseScheduleAt(%q) never fires", spec)
		}
	}
	// "sun" is Sunday, not the sun.
	s, err := schedule.ParseScheduleAt("sun 07:00", time.UTC, &berlin)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Format("Mon 01-02 15:04"); got != "Sun 01-04 07:00" {
		t.Errorf(`"sun 07:00" fires %s, want Sun 01-04 07:00`, got)
	}
}

func TestParseSunErrors(t *testing.T) {
	bad := schedule.Place{Latitude: 95, Longitude: 13}
	tests := []struct {
		spec  string
		place *schedule.Place
		want  string
	}{
		{"sunset", nil, `schedule "sunset": sunset needs the location: set "latitude" and "longitude" in the configuration`},
		{"mon-fri dawn+5m", nil, `dawn needs the location: set "latitude" and "longitude"`},
		{"sunset", &bad, `sunset needs a valid location: "latitude" 95 out of range -90 to 90`},
		{"sunset", &schedule.Place{Latitude: 52, Longitude: -181}, `"longitude" -181 out of range -180 to 180`},
		{"sunset", &schedule.Place{Latitude: math.NaN()}, `"latitude" NaN out of range`},
		// Grammar errors come first, whether or not a place is set.
		{"sunset-", nil, `missing offset after "sunset-" (e.g. "sunset-30m")`},
		{"sunset+", &berlin, `missing offset after "sunset+" (e.g. "sunset+30m")`},
		{"sunset30m", &berlin, `expected "sunset+" or "sunset-" after "sunset", got "sunset30m"`},
		{"sunset 30m", &berlin, `expected "sunset+" or "sunset-" after "sunset", got "sunset30m"`},
		{"sunset mon-fri", &berlin, `unexpected "mon-fri" after "sunset" (days go first, e.g. "mon-fri sunset")`},
		{"sunset - 30m please", &berlin, `unexpected "please" after "sunset-30m"`},
		{"sunset--30m", &berlin, `expected an offset like "30m" or "1h15m" after "sunset-", got "-30m"`},
		{"sunrise+half", &berlin, `expected an offset like "30m" or "1h15m" after "sunrise+", got "half"`},
		{"sunrise+30", &berlin, `got "30"`},
		{"sunset-12h", &berlin, `offset "12h" out of range: a sun time moves by less than 12h`},
		{"sunset+1d", &berlin, `expected an offset like "30m" or "1h15m" after "sunset+", got "1d"`},
		{"sunset+1500ms", &berlin, `offset "1500ms" is not a whole number of seconds`},
		{"sunest-30m", &berlin, `unknown sun time "sunest" (did you mean "sunset"?)`},
		{"sunrse", &berlin, `unknown sun time "sunrse" (did you mean "sunrise"?)`},
		{"mon-fri sunest", &berlin, `unknown sun time "sunest" (did you mean "sunset"?)`},
		{"sunrise,noon", &berlin, `unknown sun time "noon" (expected sunrise, sunset, dawn or dusk)`},
		{"sunrise,dsk", &berlin, `unknown sun time "dsk" (did you mean "dusk"?)`},
		{"sunset,07:00", &berlin, `cannot mix sun times and clock times ("07:00") in one schedule; use two triggers`},
		{"sunset 07:00", &berlin, `cannot mix sun times and clock times ("07:00")`},
		{"daily 07:00,sunset", &berlin, `cannot mix clock times and sun times ("sunset") in one schedule; use two triggers`},
		{"every 1h between sunrise and sunset", &berlin, `a window takes clock times (HH:MM), not sun times ("sunrise")`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := schedule.ParseScheduleAt(tt.spec, time.UTC, tt.place)
			if err == nil {
				t.Fatalf("ParseScheduleAt(%q) = nil error, want %q", tt.spec, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseScheduleAt(%q) error = %q, want it to contain %q", tt.spec, err, tt.want)
			}
			var se *schedule.SpecError
			if !errors.As(err, &se) || se.Kind != "schedule" || se.Spec != tt.spec {
				t.Errorf("error %#v is not a schedule SpecError for %q", err, tt.spec)
			}
			if got := errors.Is(err, schedule.ErrNoPlace); got != (tt.place == nil && strings.Contains(tt.want, "needs the location")) {
				t.Errorf("errors.Is(%v, ErrNoPlace) = %v", err, got)
			}
		})
	}
}

func TestPlaceValidate(t *testing.T) {
	for _, p := range []schedule.Place{{}, {Latitude: 90, Longitude: 180}, {Latitude: -90, Longitude: -180}, berlin} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v", p, err)
		}
	}
	for _, p := range []schedule.Place{{Latitude: 90.1}, {Longitude: -180.5}, {Latitude: math.Inf(1)}, {Longitude: math.NaN()}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", p)
		}
	}
}

// TestSchedulerSunset fires "sunset-30m" in Berlin on three days running
// on a virtual clock.
func TestSchedulerSunset(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	spec, err := schedule.ParseScheduleAt("sunset-30m", loc, &berlin)
	if err != nil {
		t.Fatal(err)
	}
	v := engine.NewVirtual(time.Date(2026, 6, 21, 12, 0, 0, 0, loc))
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{{ID: "dusk-lights", Spec: spec}})
	start(t, s, v, 1)

	v.Advance(3 * 24 * time.Hour)
	got := rec.take()
	if len(got) != 3 {
		t.Fatalf("fired %v in three days, want 3 fires", got)
	}
	// Sunset in Berlin is 21:33-21:34 CEST those days: 19:03-19:04 UTC
	// after the offset.
	for i, f := range got {
		at, err := time.Parse("01-02T15:04:05", strings.TrimPrefix(f, "dusk-lights@"))
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(0, 6, 21+i, 19, 3, 30, 0, time.UTC)
		if d := at.Sub(want); d < -2*time.Minute || d > 2*time.Minute {
			t.Errorf("fire %d = %s, want %s ±2m", i, f, want.Format("01-02T15:04:05"))
		}
	}
}

// TestSchedulerSunPlaceChange checks that a reload with the same text but
// a new place reschedules the entry rather than keeping the old time.
func TestSchedulerSunPlaceChange(t *testing.T) {
	v := engine.NewVirtual(time.Date(2026, 6, 21, 12, 0, 0, 0, time.UTC))
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	set := func(p schedule.Place) {
		spec, err := schedule.ParseScheduleAt("sunset", time.UTC, &p)
		if err != nil {
			t.Fatal(err)
		}
		s.Set([]schedule.Entry{{ID: "sunset", Spec: spec}})
	}
	set(berlin)
	start(t, s, v, 1)
	before := s.NextRuns("sunset", 1)
	set(newYork)
	after := s.NextRuns("sunset", 1)
	if len(before) != 1 || len(after) != 1 || after[0].Sub(before[0]) < 4*time.Hour {
		t.Errorf("next sunset %v in Berlin, %v after moving to New York: want it about 5h later", before, after)
	}
}

func BenchmarkNextSun(b *testing.B) {
	for _, c := range []struct {
		name, spec string
		place      schedule.Place
	}{
		{"sunset", "sunset-30m", berlin},
		{"weekends", "sat,sun sunrise", berlin},
		{"list", "sunrise,sunset", berlin},
		{"polar", "sunset", tromso},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, loc := parseSun(b, c.spec, "Europe/Berlin", c.place)
			at := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
			for b.Loop() {
				at = s.Next(at)
				if at.Year() > 2027 {
					at = time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
				}
			}
		})
	}
}
