package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
)

func reminderFake(t *testing.T) *fake {
	return newFake(t, map[string]http.HandlerFunc{
		"PUT /api/notifications/createReminder": reply(200, `{"id":"new-id","type":"Reminder","status":"ON","version":"1"}`),
	})
}

func TestCreateReminderTimesAndRecurrence(t *testing.T) {
	nyEcho := berlinEcho
	nyEcho.Serial, nyEcho.Timezone = "NY1", "America/New_York"
	tests := []struct {
		name       string
		echo       web.Echo
		at         time.Time
		recurrence string
		// want: first occurrence as an instant, and its wall clock in the Echo's zone
		alarm      string
		date, time string
		pattern    string // "" → null
	}{
		{"once, Berlin winter", berlinEcho, utc("2026-03-21T07:30:00Z"), "", "2026-03-21T07:30:00Z", "2026-03-21", "08:30:00.000", ""},
		{"once, New York after its DST start", nyEcho, utc("2026-03-21T12:00:00Z"), "", "2026-03-21T12:00:00Z", "2026-03-21", "08:00:00.000", ""},
		{"once, Berlin on its DST day", berlinEcho, utc("2026-03-29T06:00:00Z"), "", "2026-03-29T06:00:00Z", "2026-03-29", "08:00:00.000", ""},
		{"once, given in another zone", berlinEcho, time.Date(2026, 3, 20, 23, 30, 0, 0, mustZone(t, "America/New_York")), "",
			"2026-03-21T03:30:00Z", "2026-03-21", "04:30:00.000", ""},
		{"seconds kept, sub-seconds dropped from the wall clock", berlinEcho, utc("2026-03-21T07:30:15.250Z"), "",
			"2026-03-21T07:30:15.250Z", "2026-03-21", "08:30:15.000", ""},
		{"daily", berlinEcho, utc("2026-03-20T17:00:00Z"), "daily", "2026-03-20T17:00:00Z", "2026-03-20", "18:00:00.000", "P1D"},
		{"weekdays from a Saturday rolls to Monday", berlinEcho, utc("2026-03-21T07:00:00Z"), "weekdays",
			"2026-03-23T07:00:00Z", "2026-03-23", "08:00:00.000", "XXXX-WD"},
		{"weekdays on a weekday stays", berlinEcho, utc("2026-03-20T17:00:00Z"), "Weekdays", "2026-03-20T17:00:00Z", "2026-03-20", "18:00:00.000", "XXXX-WD"},
		{"weekends from a Friday rolls to Saturday", berlinEcho, utc("2026-03-20T19:00:00Z"), "weekends",
			"2026-03-21T19:00:00Z", "2026-03-21", "20:00:00.000", "XXXX-WE"},
		{"Sunday across Berlin's spring DST keeps 08:00", berlinEcho, utc("2026-03-27T07:00:00Z"), "sun",
			"2026-03-29T06:00:00Z", "2026-03-29", "08:00:00.000", "XXXX-WXX-7"},
		{"Sunday across New York's autumn DST keeps 08:00", nyEcho, utc("2026-10-30T12:00:00Z"), "sunday",
			"2026-11-01T13:00:00Z", "2026-11-01", "08:00:00.000", "XXXX-WXX-7"},
		{"a legacy pattern is accepted as is", berlinEcho, utc("2026-03-21T07:00:00Z"), "xxxx-wd",
			"2026-03-23T07:00:00Z", "2026-03-23", "08:00:00.000", "XXXX-WD"},
		{"a past daily start moves to the next time after now", berlinEcho, utc("2026-03-01T07:00:00Z"), "daily",
			"2026-03-21T07:00:00Z", "2026-03-21", "08:00:00.000", "P1D"},
		{"a past daily start later today stays today", berlinEcho, utc("2025-01-10T20:00:00Z"), "daily",
			"2026-03-20T20:00:00Z", "2026-03-20", "21:00:00.000", "P1D"},
		{"a past weekly start moves to the next allowed day after now", berlinEcho, utc("2026-03-20T09:00:00Z"), "fri",
			"2026-03-27T09:00:00Z", "2026-03-27", "10:00:00.000", "XXXX-WXX-5"},
	}
	// Each day of the week, starting from Monday 2026-03-23 09:00 Berlin.
	days := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	for i, d := range days {
		date := time.Date(2026, 3, 23+i, 9, 0, 0, 0, mustZone(t, "Europe/Berlin"))
		tests = append(tests, struct {
			name       string
			echo       web.Echo
			at         time.Time
			recurrence string
			alarm      string
			date, time string
			pattern    string
		}{"every " + d, berlinEcho, utc("2026-03-23T08:00:00Z"), strings.ToUpper(d),
			date.UTC().Format(time.RFC3339), date.Format(time.DateOnly), "09:00:00.000", fmt.Sprintf("XXXX-WXX-%d", i+1)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := reminderFake(t)
			c, _ := newClient(t, f, nil)
			id, err := c.CreateReminder(context.Background(), web.ReminderRequest{Echo: tt.echo, Text: " Water the plants ", At: tt.at, Recurrence: tt.recurrence})
			if err != nil {
				t.Fatal(err)
			}
			if id != "new-id" {
				t.Errorf("id %q, want new-id", id)
			}
			pattern := "null"
			if tt.pattern != "" {
				pattern = `"` + tt.pattern + `"`
			}
			want := fmt.Sprintf(`{"type":"Reminder","status":"ON","alarmTime":%d,"originalTime":%q,"originalDate":%q,`+
				`"timeZoneId":null,"reminderIndex":null,"skillInfo":null,"sound":null,"deviceSerialNumber":%q,`+
				`"deviceType":"A3S5BH2HU6VAYF","recurringPattern":%s,"reminderLabel":"Water the plants","isSaveInFlight":true,`+
				`"id":"createReminder","isRecurring":%t,"createdDate":%s}`,
				utc(tt.alarm).UnixMilli(), tt.time, tt.date, tt.echo.Serial, pattern, tt.pattern != "", nowMS)
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if reqs[0].Body != want {
				t.Errorf("body\n got %s\nwant %s", reqs[0].Body, want)
			}
		})
	}
}

// TestCreateReminderMatchesReference checks the body against the
// reference example's request: same keys in the same order, same constants.
func TestCreateReminderMatchesReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/notifications_createReminder_doc_example.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ref := doc["PUT /api/notifications/createReminder request"]
	f := reminderFake(t)
	c, _ := newClient(t, f, nil)
	if _, err := c.CreateReminder(context.Background(), web.ReminderRequest{Echo: berlinEcho, Text: "test", At: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sent := []byte(f.requests()[0].Body)
	assertEqual(t, keys(t, sent), keys(t, ref))
	var got, want map[string]any
	json.Unmarshal(sent, &got)
	json.Unmarshal(ref, &want)
	for _, k := range []string{"type", "status", "timeZoneId", "reminderIndex", "skillInfo", "sound", "recurringPattern", "reminderLabel", "isSaveInFlight", "id", "isRecurring"} {
		if !jsonSame(got[k], want[k]) {
			t.Errorf("%s = %v, reference %v", k, got[k], want[k])
		}
	}
}

func keys(t *testing.T, obj []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(obj)))
	var out []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func jsonSame(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestCreateReminderRejects(t *testing.T) {
	noZone := berlinEcho
	noZone.Timezone = ""
	badZone := berlinEcho
	badZone.Timezone = "Mars/Olympus_Mons"
	noSerial := berlinEcho
	noSerial.Serial = ""
	ok := web.ReminderRequest{Echo: berlinEcho, Text: "x", At: now.Add(time.Hour)}
	tests := []struct {
		name string
		edit func(*web.ReminderRequest)
		want string
	}{
		{"unknown recurrence", func(r *web.ReminderRequest) { r.Recurrence = "fortnightly" }, `recurrence "fortnightly"`},
		{"empty text", func(r *web.ReminderRequest) { r.Text = "  " }, "text is empty"},
		{"no time", func(r *web.ReminderRequest) { r.At = time.Time{} }, "time is not set"},
		{"in the past", func(r *web.ReminderRequest) { r.At = now.Add(-time.Minute) }, "is not in the future"},
		{"now", func(r *web.ReminderRequest) { r.At = now }, "is not in the future"},
		{"echo without time zone", func(r *web.ReminderRequest) { r.Echo = noZone }, `echo "Kitchen" has no time zone`},
		{"unknown time zone", func(r *web.ReminderRequest) { r.Echo = badZone }, `echo "Kitchen": time zone`},
		{"echo without serial", func(r *web.ReminderRequest) { r.Echo = noSerial }, "no serial number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := reminderFake(t)
			c, _ := newClient(t, f, nil)
			r := ok
			tt.edit(&r)
			_, err := c.CreateReminder(context.Background(), r)
			if !errors.Is(err, web.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Fatalf("%d requests sent for an invalid reminder", n)
			}
		})
	}
}

func TestNotificationVolume(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"PUT /api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS": reply(200, `{}`),
	})
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	for _, v := range []int{0, 100} {
		if err := c.SetNotificationVolume(ctx, berlinEcho, v); err != nil {
			t.Fatalf("volume %d: %v", v, err)
		}
	}
	bodies := []string{}
	for _, r := range f.requests() {
		bodies = append(bodies, r.Body)
	}
	if !slices.Equal(bodies, []string{
		`{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","softwareVersion":"649649820","volumeLevel":0}`,
		`{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","softwareVersion":"649649820","volumeLevel":100}`,
	}) {
		t.Errorf("bodies %q", bodies)
	}

	noVersion := berlinEcho
	noVersion.SoftwareVersion = ""
	for _, tt := range []struct {
		name   string
		echo   web.Echo
		volume int
		want   string
	}{
		{"below range", berlinEcho, -1, "notification volume -1: want 0..100"},
		{"above range", berlinEcho, 101, "notification volume 101: want 0..100"},
		{"no software version", noVersion, 50, "no software version"},
		{"no device", web.Echo{Name: "ghost"}, 50, `echo "ghost" has no serial number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.requests())
			err := c.SetNotificationVolume(ctx, tt.echo, tt.volume)
			if !errors.Is(err, web.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if len(f.requests()) != before {
				t.Fatal("a request was sent")
			}
		})
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
