package web

import (
	"encoding/json"
	"testing"
)

// The hand-written encoding of a createReminder body is json.Marshal's,
// byte for byte, with and without the optional fields and for text that
// encoding/json escapes.
func TestReminderBodyAppendJSONIsEncodingJSONs(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, body := range []reminderBody{
		{},
		{Type: "Reminder", Status: "ON", AlarmTime: 1733400000000, OriginalTime: "15:04:05.000",
			OriginalDate: "2026-12-05", DeviceSerialNumber: "G0911", DeviceType: "A3S5BH2HU6VAYF",
			ReminderLabel: `{"seq":12,"note":"<b>&</b> \u2028 \xff"}`, IsSaveInFlight: true,
			ID: "createReminder", CreatedDate: -1},
		{Type: "Reminder", TimeZoneID: s("Europe/Berlin"), ReminderIndex: s(""), SkillInfo: s("x"),
			Sound: s("ding\n"), RecurringPattern: s("P1D"), IsRecurring: true, AlarmTime: -5},
	} {
		want, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := body.AppendJSON([]byte("x")); string(got) != "x"+string(want) {
			t.Errorf("AppendJSON:\n x%s\nwant\n x%s", got, want)
		}
	}
}
