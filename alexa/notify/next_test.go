package notify_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the host's zoneinfo

	"github.com/alexarules/alexarules/alexa/notify"
)

// obj builds a notification from fields, the way the API would send it.
func obj(t testing.TB, fields map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, fields map[string]any) notify.Notification {
	t.Helper()
	n, err := notify.Parse(obj(t, fields))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at reads "2006-01-02 15:04:05" in loc.
func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(time.DateTime, s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func alarm(date, clock, pattern string, extra map[string]any) map[string]any {
	m := map[string]any{
		"id": "A1-SERIAL-1", "type": "Alarm", "status": "ON", "version": "1",
		"deviceSerialNumber": "SERIAL", "originalDate": date, "originalTime": clock,
	}
	if pattern != "" {
		m["recurringPattern"] = pattern
	}
	maps.Copy(m, extra)
	return m
}

func rrules(rules ...string) map[string]any {
	return map[string]any{"rRuleData": map[string]any{"recurrenceRules": rules}}
}

func TestNextRing(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	la := zone(t, "America/Los_Angeles")
	fetched := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		n     map[string]any
		loc   *time.Location
		after string // in loc
		want  string // in loc; "" = no ring
	}{
		{"one-shot alarm ahead", alarm("2026-04-02", "07:30:00.000", "", nil), berlin, "2026-04-01 12:00:00", "2026-04-02 07:30:00"},
		{"one-shot alarm in the past", alarm("2026-03-30", "07:30:00.000", "", nil), berlin, "2026-04-01 12:00:00", ""},
		{"strictly after", alarm("2026-04-02", "07:30:00.000", "", nil), berlin, "2026-04-02 07:30:00", ""},
		{"alarm OFF", alarm("2026-04-02", "07:30:00.000", "", map[string]any{"status": "OFF"}), berlin, "2026-04-01 12:00:00", ""},
		{"old alarm with only alarmTime", map[string]any{"id": "x", "type": "Alarm", "status": "ON", "alarmTime": at(t, berlin, "2026-04-03 06:00:00").UnixMilli()}, berlin, "2026-04-01 12:00:00", "2026-04-03 06:00:00"},
		{"MusicAlarm", alarm("2026-04-02", "07:30:00.000", "", map[string]any{"type": "MusicAlarm"}), berlin, "2026-04-01 12:00:00", "2026-04-02 07:30:00"},
		{"daily P1D, later today", alarm("2026-03-01", "18:00:00.000", "P1D", nil), berlin, "2026-04-01 12:00:00", "2026-04-01 18:00:00"},
		{"daily P1D, tomorrow", alarm("2026-03-01", "07:00:00.000", "P1D", nil), berlin, "2026-04-01 12:00:00", "2026-04-02 07:00:00"},
		// 2026-04-03 is a Friday.
		{"weekdays on Friday evening", alarm("2026-03-02", "07:00:00.000", "XXXX-WD", nil), berlin, "2026-04-03 08:00:00", "2026-04-06 07:00:00"},
		{"weekends on Friday", alarm("2026-03-07", "09:15:00.000", "XXXX-WE", nil), berlin, "2026-04-03 08:00:00", "2026-04-04 09:15:00"},
		{"weekly Wednesday", alarm("2026-03-04", "06:00:00.000", "XXXX-WXX-3", nil), berlin, "2026-04-03 08:00:00", "2026-04-08 06:00:00"},
		{"weekly Sunday", alarm("2026-03-01", "10:00:00.000", "XXXX-WXX-7", nil), berlin, "2026-04-03 08:00:00", "2026-04-05 10:00:00"},
		{"RRULE weekly BYDAY, time from originalTime", alarm("2026-03-02", "06:45:00.000", "", rrules("FREQ=WEEKLY;BYDAY=TU,TH")), berlin, "2026-04-03 08:00:00", "2026-04-07 06:45:00"},
		{"RRULE with its own BYHOUR/BYMINUTE", alarm("2026-03-02", "06:45:00.000", "", rrules("FREQ=WEEKLY;BYDAY=SA;BYHOUR=8;BYMINUTE=5;BYSECOND=0")), berlin, "2026-04-03 08:00:00", "2026-04-04 08:05:00"},
		{"RRULE with prefix, trailing ; and lower case", alarm("2026-03-02", "06:45:00.000", "", rrules("rrule:freq=daily;")), berlin, "2026-04-03 08:00:00", "2026-04-04 06:45:00"},
		{"RRULE until ended", alarm("2026-03-02", "06:45:00.000", "", rrules("FREQ=DAILY;UNTIL=20260320T000000Z")), berlin, "2026-04-03 08:00:00", ""},
		{"two rules: the earlier wins", alarm("2026-03-02", "06:45:00.000", "", rrules("FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=SU")), berlin, "2026-04-03 08:00:00", "2026-04-05 06:45:00"},
		{"rRuleData fields without recurrenceRules", alarm("2026-03-02", "06:45:00.000", "", map[string]any{"rRuleData": map[string]any{"byWeekDays": []string{"FR"}, "recurrenceRules": nil}}), berlin, "2026-04-03 08:00:00", "2026-04-10 06:45:00"},
		// The monthly shape of rrule_data_amp1608_EXCERPT.txt (rule closed):
		// every second month on the 28th at 07:00 from 2022-05-28; Amazon's
		// own nextTriggerTimes said 2022-07-28T07:00-07:00.
		{"monthly BYMONTHDAY INTERVAL=2, 2022", amp1608(), la, "2022-05-29 12:00:00", "2022-07-28 07:00:00"},
		{"monthly BYMONTHDAY INTERVAL=2, 2026", amp1608(), la, "2026-04-01 12:00:00", "2026-05-28 07:00:00"},
		{"monthly BYMONTHDAY INTERVAL=2, skips the off month", amp1608(), la, "2026-05-28 07:00:00", "2026-07-28 07:00:00"},
		// Stored in 2019 and never rolled over: recomputed from the rule.
		{"stale 2019 weekly Monday alarm", alarm("2019-03-04", "06:45:00.000", "XXXX-WXX-1", nil), berlin, "2026-11-17 09:00:00", "2026-11-23 06:45:00"},
		{"stale 2019 RRULE alarm", alarm("2019-03-04", "06:45:00.000", "", rrules("FREQ=WEEKLY;BYDAY=MO")), berlin, "2026-11-17 09:00:00", "2026-11-23 06:45:00"},
		{"P2W keeps its phase from the start date", alarm("2026-03-02", "07:00:00.000", "P2W", nil), berlin, "2026-04-01 12:00:00", "2026-04-13 07:00:00"},
		{"unknown pattern, stored date ahead", alarm("2026-04-02", "07:00:00.000", "SOMETIMES", nil), berlin, "2026-04-01 12:00:00", "2026-04-02 07:00:00"},
		{"timer with triggerTime", map[string]any{"id": "t", "type": "Timer", "status": "ON", "triggerTime": fetched.Add(90 * time.Second).UnixMilli(), "remainingTime": 5000}, time.UTC, "2026-04-01 10:00:00", "2026-04-01 10:01:30"},
		{"timer with remainingTime only", map[string]any{"id": "t", "type": "Timer", "status": "ON", "remainingTime": 120000}, time.UTC, "2026-04-01 10:00:00", "2026-04-01 10:02:00"},
		{"paused timer", map[string]any{"id": "t", "type": "Timer", "status": "PAUSED", "remainingTime": 120000}, time.UTC, "2026-04-01 10:00:00", ""},
		{"ended timer", map[string]any{"id": "t", "type": "Timer", "status": "ON", "remainingTime": 0, "triggerTime": 0}, time.UTC, "2026-04-01 10:00:00", ""},
		{"reminder at alarmTime", map[string]any{"id": "r", "type": "Reminder", "status": "ON", "alarmTime": at(t, berlin, "2026-04-05 17:00:00").UnixMilli(), "originalDate": "2026-04-05", "originalTime": "15:00:00.000"}, berlin, "2026-04-01 12:00:00", "2026-04-05 17:00:00"},
		{"reminder in the past", map[string]any{"id": "r", "type": "Reminder", "status": "ON", "alarmTime": at(t, berlin, "2026-03-05 17:00:00").UnixMilli()}, berlin, "2026-04-01 12:00:00", ""},
		{"daily reminder", map[string]any{"id": "r", "type": "Reminder", "status": "ON", "alarmTime": at(t, berlin, "2026-03-05 17:00:00").UnixMilli(), "originalDate": "2026-03-05", "originalTime": "17:00:00.000", "recurringPattern": "P1D"}, berlin, "2026-04-01 18:00:00", "2026-04-02 17:00:00"},
		{"reminder with one occurrence cancelled", map[string]any{"id": "r", "type": "Reminder", "status": "INSTANCE_CANCELED", "originalDate": "2026-04-02", "originalTime": "17:00:00.000", "recurringPattern": "P1D"}, berlin, "2026-04-01 18:00:00", "2026-04-03 17:00:00"},
		{"snoozed, snooze ahead", alarm("2026-04-01", "07:00:00.000", "P1D", map[string]any{"status": "SNOOZED", "snoozedToTime": at(t, berlin, "2026-04-01 07:09:00").UnixMilli()}), berlin, "2026-04-01 07:05:00", "2026-04-01 07:09:00"},
		{"snoozed, snooze expired: next regular ring", alarm("2026-04-01", "07:00:00.000", "P1D", map[string]any{"status": "SNOOZED", "snoozedToTime": at(t, berlin, "2026-04-01 07:09:00").UnixMilli()}), berlin, "2026-04-01 07:30:00", "2026-04-02 07:00:00"},
		{"snoozed one-shot, snooze ahead", alarm("2026-04-01", "07:00:00.000", "", map[string]any{"status": "SNOOZED", "snoozedToTime": at(t, berlin, "2026-04-01 07:09:00").UnixMilli()}), berlin, "2026-04-01 07:05:00", "2026-04-01 07:09:00"},
		{"snoozed one-shot, snooze missing", alarm("2026-04-01", "07:00:00.000", "", map[string]any{"status": "SNOOZED", "snoozedToTime": nil}), berlin, "2026-04-01 07:05:00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := parse(t, tt.n)
			got, ok := notify.NextRing(n, tt.loc, at(t, tt.loc, tt.after), fetched)
			if tt.want == "" {
				if ok {
					t.Fatalf("NextRing = %v, want no ring", got)
				}
				return
			}
			if want := at(t, tt.loc, tt.want); !ok || !got.Equal(want) {
				t.Fatalf("NextRing = %v, %v; want %v", got, ok, want)
			}
		})
	}
}

func amp1608() map[string]any {
	return map[string]any{
		"id": "m", "type": "Alarm", "status": "ON", "version": "3",
		"originalDate": "2022-05-28", "originalTime": "07:00:00.000",
		"rRuleData": map[string]any{
			"byMonthDays": []int{28}, "byMonths": []int{}, "byWeekDays": []string{},
			"flexibleRecurringPatternType": "EVERY_X_MONTHS", "frequency": nil,
			"intervals": []int{2}, "nextTriggerTimes": []string{"2022-07-28T07:00:00.000-07:00"},
			"notificationTimes": []string{"07:00:00.000"}, "offset": []int{},
			"recurEndDate": nil, "recurEndTime": nil,
			"recurStartDate": "2022-05-28", "recurStartTime": "00:00:00.000",
			"recurrenceRules": []string{"FREQ=MONTHLY;BYMONTHDAY=28;BYHOUR=7;BYMINUTE=0;BYSECOND=0;INTERVAL=2"},
		},
	}
}

// TestWeekendByCountry: XXXX-WE follows the account country's weekend.
func TestWeekendByCountry(t *testing.T) {
	riyadh := zone(t, "Asia/Riyadh")
	we := parse(t, alarm("2026-03-02", "08:00:00.000", "XXXX-WE", nil))
	wd := parse(t, alarm("2026-03-02", "08:00:00.000", "XXXX-WD", nil))
	thursday := at(t, riyadh, "2026-04-02 09:00:00")
	tests := []struct {
		country string
		n       notify.Notification
		want    string
	}{
		{"", we, "2026-04-04 08:00:00"},   // Saturday
		{"SA", we, "2026-04-03 08:00:00"}, // Friday
		{"IR", we, "2026-04-03 08:00:00"}, // Friday (Thursday has passed)
		{"SA", wd, "2026-04-05 08:00:00"}, // Sunday is a working day
		{"DE", wd, "2026-04-03 08:00:00"},
	}
	for _, tt := range tests {
		got, ok := notify.Calendar{Location: riyadh, Country: tt.country}.NextRing(tt.n, thursday, thursday)
		if want := at(t, riyadh, tt.want); !ok || !got.Equal(want) {
			t.Errorf("country %q %s: NextRing = %v, want %v", tt.country, tt.n.RecurringPattern, got, want)
		}
	}
}

// TestDST: wall-clock alarms follow RULES.md §2 across transitions: a time
// in the spring-forward gap rings at the first instant after it, a time in
// the repeated fall-back hour rings once, at its first occurrence, and
// every other day rings at its wall time.
func TestDST(t *testing.T) {
	tests := []struct {
		zone  string
		clock string
		from  string   // local, the day before
		want  []string // the next rings, RFC 3339 with the offset
	}{
		{"America/New_York", "02:30:00.000", "2026-03-07 12:00:00", []string{
			"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"America/New_York", "01:30:00.000", "2026-10-31 12:00:00", []string{
			"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"America/New_York", "07:00:00.000", "2026-03-07 12:00:00", []string{
			"2026-03-08T07:00:00-04:00", "2026-03-09T07:00:00-04:00"}},
		{"Europe/Berlin", "02:30:00.000", "2026-03-28 12:00:00", []string{
			"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"Europe/Berlin", "02:30:00.000", "2026-10-24 12:00:00", []string{
			"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
		{"Europe/Berlin", "06:00:00.000", "2026-10-24 12:00:00", []string{
			"2026-10-25T06:00:00+01:00", "2026-10-26T06:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.from+" "+tt.clock, func(t *testing.T) {
			loc := zone(t, tt.zone)
			for _, n := range []notify.Notification{
				parse(t, alarm("2026-01-05", tt.clock, "P1D", nil)),
				parse(t, alarm("2026-01-05", tt.clock, "", rrules("FREQ=DAILY"))),
			} {
				after := at(t, loc, tt.from)
				for _, w := range tt.want {
					want, err := time.Parse(time.RFC3339, w)
					if err != nil {
						t.Fatal(err)
					}
					got, ok := notify.NextRing(n, loc, after, after)
					if !ok || !got.Equal(want) {
						t.Fatalf("after %v: NextRing = %v, want %v", after, got, want)
					}
					after = got
				}
			}
			// A one-shot alarm on the transition day resolves the same way.
			one := parse(t, alarm(tt.want[0][:10], tt.clock, "", nil))
			want, _ := time.Parse(time.RFC3339, tt.want[0])
			if got, ok := notify.NextRing(one, loc, at(t, loc, tt.from), time.Time{}); !ok || !got.Equal(want) {
				t.Fatalf("one-shot: NextRing = %v, want %v", got, want)
			}
		})
	}
}

// TestStaleRecurringIsCheap: a daily alarm stored years ago is computed
// from its rule for any date, the same as one stored yesterday.
func TestStaleRecurringIsCheap(t *testing.T) {
	old := parse(t, alarm("2016-02-29", "05:55:00.000", "", rrules("FREQ=DAILY;INTERVAL=3")))
	loc := zone(t, "Asia/Tokyo")
	after := at(t, loc, "2026-06-01 00:00:00")
	got, ok := notify.NextRing(old, loc, after, after)
	if !ok {
		t.Fatal("no ring")
	}
	// Every third day from 2016-02-29 (a multiple of 3 days away from the
	// ring), at 05:55, within three days of after.
	start := at(t, loc, "2016-02-29 05:55:00")
	if days := got.Sub(start).Hours() / 24; days != float64(int(days)) || int(days)%3 != 0 {
		t.Errorf("ring %v is not a multiple of 3 days after %v", got, start)
	}
	if got.Sub(after) > 3*24*time.Hour || got.Format("15:04") != "05:55" {
		t.Errorf("ring %v, want 05:55 within 3 days after %v", got, after)
	}
}
