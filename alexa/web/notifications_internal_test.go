package web

import (
	"encoding/json"
	"errors"
	"strings"
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

// The created notification's id is read without encoding/json when the
// answer is plain, and by it otherwise, with its result and errors.
func TestCreatedID(t *testing.T) {
	plain := []byte(`{"id":"G090-7","type":"Reminder","status":"ON","version":"1","deviceSerialNumber":"G090",` +
		`"reminderLabel":"{\"seq\":7,\"x\":\"y\"}","sound":{"id":"system_alerts_melodic_01","folder":null}}`)
	for _, tc := range []struct{ body, want string }{
		{string(plain), "G090-7"},
		{"\v" + `{"Id":"escaped\u0041"} `, "escapedA"}, // encoding/json's reading
		{`{"x":1}`, ""},
	} {
		if got, err := createdID([]byte(tc.body)); err != nil || got != tc.want {
			t.Errorf("createdID(%q) = %q, %v; want %q", tc.body, got, err, tc.want)
		}
	}
	_, err := createdID([]byte(`{"id":"a","x":[1,}`))
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "PUT "+createReminderPath+": ") {
		t.Errorf("a malformed answer: err %v, want ErrBadResponse naming the request", err)
	}
	if n := testing.AllocsPerRun(100, func() { createdID(plain) }); n > 1 {
		t.Errorf("createdID allocates %v times for a plain answer, want at most 1 (the id)", n)
	}
}
