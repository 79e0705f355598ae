package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/alexarules/alexarules/engine/schedule"
)

func TestParseCronErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "empty spec"},
		{"0 25 * * *", "hour 25 out of range 0-23"},
		{"60 7 * * *", "minute 60 out of range 0-59"},
		{"61 0 7 * * *", "second 61 out of range 0-59"},
		{"0 7 0 * *", "day of month 0 out of range 1-31"},
		{"0 7 * 13 *", "month 13 out of range 1-12"},
		{"0 7 * * 7", `day of week 7 out of range 0-6 (use 0 or "sun" for Sunday)`},
		{"0 7 * * mno", `unknown day "mno" (did you mean "mon"?)`},
		{"0 7 * * monday", `unknown day "monday" (cron takes three-letter names: "mon")`},
		{"0 7 * jnu *", `unknown month "jnu" (did you mean "jun"?)`},
		{"0 7 * * xyz", `unknown day "xyz"`},
		{"0 0 L * *", `day of month "L" is not a number`},
		{"0 seven * * *", `hour "seven" is not a number`},
		{"0 7 * *", "expected 5 fields (minute hour day-of-month month day-of-week), 6 with leading seconds, or a descriptor like @daily; got 4"},
		{"0 0 7 * * * *", "got 7"},
		{"*/0 * * * *", `step "0" in minute field "*/0" must be a positive number`},
		{"0 7 * * fri-mon", `day of week range "fri-mon" runs backwards`},
		{"0 7,,8 * * *", "empty item in hour field"},
		{"0 0 30 2 *", "never fires"},
		{"TZ=Europe/Berlin", "use the tz option"},
		{"CRON_TZ=Europe/Berlin 0 7 * * *", "use the tz option"},
		{"@dayly", `unknown descriptor "@dayly" (did you mean "@daily"?)`},
		{"@reboot", "use the startup trigger"},
		{"@daily 7", `unexpected "7" after @daily`},
		{"@every", `expected a duration like "10m" or "2d", got ""`},
		{"@every 5x", `got "5x"`},
		{"@every 500ms", "shorter than 1s"},
		{"@every 1500ms", "not a whole number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := schedule.ParseCron(tt.spec, time.UTC)
			if err == nil {
				t.Fatalf("ParseCron(%q) = nil error, want %q", tt.spec, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCron(%q) error = %q, want it to contain %q", tt.spec, err, tt.want)
			}
			var se *schedule.SpecError
			if !errors.As(err, &se) || se.Kind != "cron" || se.Spec != tt.spec {
				t.Errorf("error %#v is not a cron SpecError for %q", err, tt.spec)
			}
		})
	}
}

func TestParseCronValid(t *testing.T) {
	for _, spec := range []string{
		"0 7 * * 1-5", "*/5 * * * *", "30 0 7 * * mon-fri", "0 0 1 jan,jul *", "0 12 * * sun",
		"@daily", "@midnight", "@hourly", "@weekly", "@monthly", "@yearly", "@annually",
		"@every 5m", "@every 1h30m", "@every 2d", "0 0 29 2 *", "  0 7 * * *  ",
	} {
		s, err := schedule.ParseCron(spec, time.UTC)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", spec, err)
			continue
		}
		if s.String() != strings.TrimSpace(spec) {
			t.Errorf("ParseCron(%q).String() = %q", spec, s.String())
		}
		if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			t.Errorf("ParseCron(%q) never fires", spec)
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "empty schedule"},
		{"dialy 07:00", `unknown day "dialy" (did you mean "daily"?)`},
		{"mno 07:00", `unknown day "mno" (did you mean "mon"?)`},
		{"mon-fir 07:00", `unknown day "fir" (did you mean "fri"?)`},
		{"wednesdy 07:00", `unknown day "wednesdy" (did you mean "wednesday"?)`},
		{"weekdyas 07:00", `unknown day "weekdyas" (did you mean "weekdays"?)`},
		{"evry 10m", `unknown day "evry" (did you mean "every"?)`},
		{"qqq 07:00", `unknown day "qqq"`},
		{"daily 7", `expected HH:MM, got "7"`},
		{"daily 7am", `expected HH:MM, got "7am"`},
		{"daily 25:00", `hour 25 out of range 0-23 in "25:00"`},
		{"daily 07:60", `minute 60 out of range 0-59 in "07:60"`},
		{"daily 07:00:61", `second 61 out of range 0-59`},
		{"daily 07:00,", ""}, // a trailing comma is harmless; see valid cases
		{"daily", `missing time after "daily" (e.g. "daily 07:00")`},
		{"07:00", `expected days before the time (e.g. "daily 07:00")`},
		{"mon-", "missing day in range"},
		{"mon,,tue 07:00", `empty day in "mon,,tue"`},
		{"every", `missing interval after "every"`},
		{"every 0s", "shorter than 1s"},
		{"every ten", `expected a duration like "10m" or "2d", got "ten"`},
		{"every day", `for a time of day write "daily 07:00"`},
		{"every 10m during 08:00", `unexpected "during" after the interval`},
		{"every 10m betwen 08:00 and 09:00", `(did you mean "between"?)`},
		{"every 1h between 08:00", `expected "between" HH:MM "and" HH:MM, got "between 08:00"`},
		{"every 1h between 08:00 to 22:00", `expected "between" HH:MM "and" HH:MM`},
		{"every 1h between 8 and 22:00", `expected HH:MM, got "8"`},
		{"every 1h between 08:00 and 08:00", "empty window"},
		{"sunset-30m", `sunset needs the location: set "latitude" and "longitude" in the configuration`},
		{"mon-fri sunrise+15m", `sunrise needs the location`},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		t.Run(tt.spec, func(t *testing.T) {
			_, err := schedule.ParseSchedule(tt.spec, time.UTC)
			if err == nil {
				t.Fatalf("ParseSchedule(%q) = nil error, want %q", tt.spec, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSchedule(%q) error = %q, want it to contain %q", tt.spec, err, tt.want)
			}
			var se *schedule.SpecError
			if !errors.As(err, &se) || se.Kind != "schedule" {
				t.Errorf("error %#v is not a schedule SpecError", err)
			}
		})
	}
}

// TestParseScheduleValid checks what each readable form fires, from
// Thursday 2026-01-01 00:00 UTC.
func TestParseScheduleValid(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"daily 07:00", []string{"01-01 07:00:00", "01-02 07:00:00", "01-03 07:00:00"}},
		{"daily at 07:00", []string{"01-01 07:00:00", "01-02 07:00:00", "01-03 07:00:00"}},
		{"Daily 07:00,19:30", []string{"01-01 07:00:00", "01-01 19:30:00", "01-02 07:00:00"}},
		{"daily 19:30, 07:00", []string{"01-01 07:00:00", "01-01 19:30:00", "01-02 07:00:00"}},
		{"daily 07:00,", []string{"01-01 07:00:00", "01-02 07:00:00", "01-03 07:00:00"}},
		{"daily 07:00:30", []string{"01-01 07:00:30", "01-02 07:00:30", "01-03 07:00:30"}},
		{"mon-fri 07:00", []string{"01-01 07:00:00", "01-02 07:00:00", "01-05 07:00:00"}},
		{"weekdays 07:00", []string{"01-01 07:00:00", "01-02 07:00:00", "01-05 07:00:00"}},
		{"sat,sun 09:30", []string{"01-03 09:30:00", "01-04 09:30:00", "01-10 09:30:00"}},
		{"weekends 10:00", []string{"01-03 10:00:00", "01-04 10:00:00", "01-10 10:00:00"}},
		{"saturday,Sunday 09:30", []string{"01-03 09:30:00", "01-04 09:30:00", "01-10 09:30:00"}},
		{"fri-mon 08:00", []string{"01-02 08:00:00", "01-03 08:00:00", "01-04 08:00:00", "01-05 08:00:00", "01-09 08:00:00"}},
		{"tues,thurs 08:00", []string{"01-01 08:00:00", "01-06 08:00:00", "01-08 08:00:00"}},
		{"mon,weekends 08:00", []string{"01-03 08:00:00", "01-04 08:00:00", "01-05 08:00:00"}},
		{"every 10m", []string{"01-01 00:10:00", "01-01 00:20:00", "01-01 00:30:00"}},
		{"every 90s", []string{"01-01 00:01:30", "01-01 00:03:00", "01-01 00:04:30"}},
		{"every 1h", []string{"01-01 01:00:00", "01-01 02:00:00", "01-01 03:00:00"}},
		{"every 1h between 08:00 and 10:00", []string{"01-01 08:00:00", "01-01 09:00:00", "01-01 10:00:00", "01-02 08:00:00"}},
		{"every 1h from 08:00 to 10:00", []string{"01-01 08:00:00", "01-01 09:00:00", "01-01 10:00:00", "01-02 08:00:00"}},
		{"every 20m between 08:30 and 09:10", []string{"01-01 08:40:00", "01-01 09:00:00", "01-02 08:40:00"}},
		{"every 2h between 22:00 and 02:00", []string{"01-01 02:00:00", "01-01 22:00:00", "01-02 00:00:00", "01-02 02:00:00"}},
		{"fri every 2h between 22:00 and 02:00", []string{"01-02 22:00:00", "01-03 00:00:00", "01-03 02:00:00", "01-09 22:00:00"}},
		{"mon-fri every 15m between 08:00 and 08:30", []string{"01-01 08:00:00", "01-01 08:15:00", "01-01 08:30:00", "01-02 08:00:00", "01-02 08:15:00", "01-02 08:30:00", "01-05 08:00:00"}},
		{"sat every 12h", []string{"01-03 00:00:00", "01-03 12:00:00", "01-10 00:00:00"}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := schedule.ParseSchedule(tt.spec, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			got := format(schedule.Upcoming(s, start, len(tt.want)), "01-02 15:04:05")
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestParseMissed(t *testing.T) {
	at := time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		str    string
		late   time.Duration // how late the check is made
		should bool
	}{
		{"", "skip", time.Minute, false},
		{"skip", "skip", time.Minute, false},
		{"run", "run", 48 * time.Hour, true},
		{" RUN ", "run", time.Minute, true},
		{"30m", "30m0s", 29 * time.Minute, true},
		{"30m", "30m0s", 30 * time.Minute, false},
		{"2d", "48h0m0s", 47 * time.Hour, true},
		{"2d", "48h0m0s", 49 * time.Hour, false},
	}
	for _, tt := range tests {
		m, err := schedule.ParseMissed(tt.in)
		if err != nil {
			t.Errorf("ParseMissed(%q): %v", tt.in, err)
			continue
		}
		if m.String() != tt.str {
			t.Errorf("ParseMissed(%q).String() = %q, want %q", tt.in, m.String(), tt.str)
		}
		if got := m.ShouldRun(at, at.Add(tt.late)); got != tt.should {
			t.Errorf("ParseMissed(%q).ShouldRun(%v late) = %v, want %v", tt.in, tt.late, got, tt.should)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"sometimes", `missed "sometimes": expected "skip", "run" or a duration like "30m"`},
		{"ksip", `(did you mean "skip"?)`},
		{"0s", "expected"},
		{"-5m", "expected"},
	} {
		_, err := schedule.ParseMissed(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMissed(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func format(ts []time.Time, layout string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(layout)
	}
	return out
}
