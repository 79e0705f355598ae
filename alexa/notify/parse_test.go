package notify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/notify"
	"github.com/alexarules/alexarules/engine"
)

// The testdata files are copies of ../../shared/fixtures/alexa.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtureAlarmOff(t *testing.T) {
	n, err := notify.Parse(readFixture(t, "notifications_alexa-remote-comment_alarm_off.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := notify.Notification{
		ID:                "A3S5BH2HU6VAYF-G090LF09643202VS-17ef9b04-cb1d-31ed-ab2c-245705d904be",
		Type:              "Alarm",
		Status:            "OFF",
		Version:           "4",
		NotificationIndex: "17ef9b04-cb1d-31ed-ab2c-245705d904be",
		DeviceSerial:      "G090LF09643202VS",
		DeviceType:        "A3S5BH2HU6VAYF",
		OriginalDate:      "2018-04-01",
		OriginalTime:      "20:00:00.000",
		CreatedDate:       1522585752734,
	}
	n.Raw = nil
	if !equalNotification(n, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", n, want)
	}
	if n.Kind() != engine.KindAlarm || n.Recurring() {
		t.Errorf("Kind = %q, Recurring = %v", n.Kind(), n.Recurring())
	}
	if got, ok := notify.NextRing(n, time.UTC, time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC), time.Time{}); ok {
		t.Errorf("an OFF alarm rings at %v", got)
	}
}

func equalNotification(a, b notify.Notification) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

func TestParseFixtureCreateReminder(t *testing.T) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(readFixture(t, "notifications_createReminder_doc_example.json"), &doc); err != nil {
		t.Fatal(err)
	}
	req, err := notify.Parse(doc["PUT /api/notifications/createReminder request"])
	if err != nil {
		t.Fatal(err)
	}
	// The documented request has "15: 13: 00.000"; it still reads.
	if req.Label != "test" || req.AlarmTime != 1545520380000 || req.OriginalTime != "15: 13: 00.000" || req.Kind() != engine.KindReminder {
		t.Errorf("request = %+v", req)
	}
	resp, err := notify.Parse(doc["PUT /api/notifications/createReminder response"])
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "a-very-long-id" || resp.Label != "Test" || resp.Version != "2" || resp.Status != "ON" ||
		resp.AlarmTime != 1545686160000 || resp.SnoozedToTime != 0 || resp.Recurring() {
		t.Errorf("response = %+v", resp)
	}
	before := time.UnixMilli(1545686160000).Add(-time.Hour)
	if got, ok := notify.NextRing(resp, time.UTC, before, before); !ok || got.UnixMilli() != 1545686160000 {
		t.Errorf("NextRing = %v, %v; want alarmTime", got, ok)
	}
	// A one-shot from originalDate/originalTime when alarmTime is absent,
	// spaces and all.
	req.AlarmTime = 0
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2018, 12, 22, 15, 13, 0, 0, la)
	if got, ok := notify.NextRing(req, la, want.Add(-time.Hour), time.Time{}); !ok || !got.Equal(want) {
		t.Errorf("NextRing = %v, %v; want %v", got, ok, want)
	}
}

// TestParseFixtureRRuleExcerpt reads the truncated AMP #1608 rRuleData,
// closed where the stored excerpt ends, and checks the rule against
// Amazon's own nextTriggerTimes.
func TestParseFixtureRRuleExcerpt(t *testing.T) {
	excerpt := strings.TrimSpace(string(readFixture(t, "rrule_data_amp1608_EXCERPT.txt")))
	raw := `{"id":"amp1608","type":"Alarm","status":"ON","originalDate":"2022-05-28","originalTime":"07:00:00.000",` + excerpt + `"]}}`
	n, err := notify.Parse(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := n.RRuleData
	if !slices.Equal(d.ByMonthDays, []int{28}) || !slices.Equal(d.Intervals, []int{2}) ||
		d.FlexibleRecurringPatternType != "EVERY_X_MONTHS" || d.RecurStartDate != "2022-05-28" ||
		len(d.RecurrenceRules) != 1 || !strings.HasPrefix(d.RecurrenceRules[0], "FREQ=MONTHLY;BYMONTHDAY=28;") ||
		len(d.NextTriggerTimes) != 1 || !n.Recurring() {
		t.Fatalf("rRuleData = %+v", d)
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	amazon, err := time.Parse(time.RFC3339, d.NextTriggerTimes[0])
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2022, 5, 29, 0, 0, 0, 0, la)
	if got, ok := notify.NextRing(n, la, after, after); !ok || !got.Equal(amazon) {
		t.Errorf("NextRing = %v, %v; Amazon said %v", got, ok, amazon)
	}
	// The same rule described only by the structured fields.
	n.RRuleData.RecurrenceRules = nil
	if got, ok := notify.NextRing(n, la, after, after); !ok || !got.Equal(amazon) {
		t.Errorf("from byMonthDays/intervals: NextRing = %v, %v; Amazon said %v", got, ok, amazon)
	}
}

func TestParseTolerant(t *testing.T) {
	n, err := notify.Parse(json.RawMessage(`{
		"id": 12, "type": "Timer", "status": "paused", "version": 7,
		"triggerTime": "1700000000000", "remainingTime": 61000.0, "snoozedToTime": null,
		"timerLabel": "pasta", "alarmLabel": null, "reminderLabel": "",
		"rRuleData": "not an object", "recurringPattern": null, "newField": {"a": [1, 2]}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != "12" || n.Status != "PAUSED" || n.Version != "7" || n.TriggerTime != 1700000000000 ||
		n.RemainingTime != 61000 || n.Label != "pasta" || n.Recurring() || n.Kind() != engine.KindTimer {
		t.Errorf("Parse = %+v", n)
	}
	for _, bad := range []string{``, `null`, `[]`, `"x"`, `{`} {
		if _, err := notify.Parse(json.RawMessage(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

// FuzzParse: no input makes Parse or NextRing panic or loop.
func FuzzParse(f *testing.F) {
	f.Add(`{"id":"a","type":"Alarm","status":"ON","originalDate":"2026-02-30","originalTime":"25:61"}`)
	f.Add(`{"id":"a","type":"Alarm","status":"ON","originalDate":"2026-01-01","originalTime":"07:00","rRuleData":{"recurrenceRules":["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"]}}`)
	f.Add(`{"id":"a","type":"Alarm","status":"ON","originalDate":"2026-01-01","originalTime":"07:00","rRuleData":{"recurrenceRules":["FREQ=SECONDLY;BYHOUR=99"]}}`)
	f.Add(`{"id":"a","type":"Alarm","status":"ON","originalDate":"2026-01-01","recurringPattern":"P0D,XXXX-WXX-9,P"}`)
	f.Add(`{"id":"a","type":"Reminder","status":"INSTANCE_CANCELED","alarmTime":-5,"rRuleData":{"byWeekDays":["XX"],"intervals":[-3]}}`)
	f.Add(`{"type":"Timer","status":"ON","remainingTime":9223372036854775807}`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := notify.Parse(json.RawMessage(s))
		if err != nil {
			return
		}
		now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
		notify.NextRing(n, time.UTC, now, now)
	})
}
