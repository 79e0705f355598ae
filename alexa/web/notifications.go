package web

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/internal/jsonenc"
)

const (
	notificationsPath  = "/api/notifications"
	createReminderPath = "/api/notifications/createReminder"
	notifStatePath     = "/api/device-notification-state"
)

// Notifications returns the raw objects of /api/notifications (alarms,
// timers, reminders of the whole household). Amazon throttles this route:
// call it only when a push says a notification changed, through a
// Debouncer. Throttling answers are retried within the call; a call that
// still fails returns an *Error with Throttled set.
func (c *Client) Notifications(ctx context.Context) ([]json.RawMessage, error) {
	var resp struct {
		Notifications []json.RawMessage `json:"notifications"`
	}
	if err := c.get(ctx, notificationsPath, url.Values{"cached": {"true"}, "_": {c.cacheBuster()}}, &resp); err != nil {
		return nil, err
	}
	if resp.Notifications == nil {
		return nil, badResponse("GET", notificationsPath, `no "notifications" array`)
	}
	for i, n := range resp.Notifications {
		if t := strings.TrimSpace(string(n)); t == "" || t[0] != '{' {
			return nil, badResponse("GET", notificationsPath, "notification "+strconv.Itoa(i)+" is not a JSON object")
		}
	}
	return resp.Notifications, nil
}

// ReminderRequest is a reminder to create on one Echo.
type ReminderRequest struct {
	Echo Echo   // Serial, Type and Timezone are needed (from Echos)
	Text string // what Alexa says
	At   time.Time
	// Recurrence is "" (once), "daily", "weekdays", "weekends", or a day
	// of the week ("mon".."sun" or "monday".."sunday"); case does not
	// matter. The legacy patterns themselves (P1D, XXXX-WD, XXXX-WE,
	// XXXX-WXX-1..7) are accepted too. A recurring reminder's first
	// occurrence is the first day the pattern allows, at At's wall clock
	// time in the Echo's time zone, at or after At and in the future.
	Recurrence string
}

// recurrences maps Recurrence words to Amazon's legacy recurringPattern.
var recurrences = map[string]string{
	"daily":    "P1D",
	"weekdays": "XXXX-WD",
	"weekends": "XXXX-WE",
	"mon":      "XXXX-WXX-1", "monday": "XXXX-WXX-1",
	"tue": "XXXX-WXX-2", "tuesday": "XXXX-WXX-2",
	"wed": "XXXX-WXX-3", "wednesday": "XXXX-WXX-3",
	"thu": "XXXX-WXX-4", "thursday": "XXXX-WXX-4",
	"fri": "XXXX-WXX-5", "friday": "XXXX-WXX-5",
	"sat": "XXXX-WXX-6", "saturday": "XXXX-WXX-6",
	"sun": "XXXX-WXX-7", "sunday": "XXXX-WXX-7",
}

// recurringPattern returns the legacy pattern for a Recurrence, "" for once.
func recurringPattern(r string) (string, bool) {
	r = strings.TrimSpace(r)
	if r == "" {
		return "", true
	}
	if p, ok := recurrences[strings.ToLower(r)]; ok {
		return p, true
	}
	for _, p := range recurrences {
		if strings.EqualFold(r, p) {
			return p, true
		}
	}
	return "", false
}

// matches reports whether a day falls on a legacy pattern.
func matches(pattern string, d time.Weekday) bool {
	switch pattern {
	case "XXXX-WD":
		return d >= time.Monday && d <= time.Friday
	case "XXXX-WE":
		return d == time.Saturday || d == time.Sunday
	}
	if n, ok := strings.CutPrefix(pattern, "XXXX-WXX-"); ok {
		// ISO weekdays: 1 is Monday, 7 is Sunday.
		return int(n[0]-'0')%7 == int(d)
	}
	return true
}

// firstOccurrence is the first time at at's wall clock, on a day the
// pattern allows, at or after at and after now. AddDate keeps the wall
// clock across DST changes.
func firstOccurrence(at, now time.Time, pattern string) time.Time {
	if !at.After(now) {
		// Jump close to now first: a start years ago needs no day-by-day walk.
		at = at.AddDate(0, 0, int(now.Sub(at).Hours()/24))
		for !at.After(now) {
			at = at.AddDate(0, 0, 1)
		}
	}
	for i := 0; i < 7 && !matches(pattern, at.Weekday()); i++ {
		at = at.AddDate(0, 0, 1)
	}
	return at
}

// reminderBody is the createReminder request, fields in the order of the
// reference example.
type reminderBody struct {
	Type               string  `json:"type"`
	Status             string  `json:"status"`
	AlarmTime          int64   `json:"alarmTime"`
	OriginalTime       string  `json:"originalTime"`
	OriginalDate       string  `json:"originalDate"`
	TimeZoneID         *string `json:"timeZoneId"`
	ReminderIndex      *string `json:"reminderIndex"`
	SkillInfo          *string `json:"skillInfo"`
	Sound              *string `json:"sound"`
	DeviceSerialNumber string  `json:"deviceSerialNumber"`
	DeviceType         string  `json:"deviceType"`
	RecurringPattern   *string `json:"recurringPattern"`
	ReminderLabel      string  `json:"reminderLabel"`
	IsSaveInFlight     bool    `json:"isSaveInFlight"`
	ID                 string  `json:"id"`
	IsRecurring        bool    `json:"isRecurring"`
	CreatedDate        int64   `json:"createdDate"`
}

// AppendJSON appends the body as json.Marshal writes it
// (request.JSONAppender): a reminder is created on every alexa.remind, and
// encoding/json's reflection was 2% of the engine's CPU per such event.
func (r reminderBody) AppendJSON(b []byte) []byte {
	b = jsonenc.AppendString(append(b, `{"type":`...), r.Type)
	b = jsonenc.AppendString(append(b, `,"status":`...), r.Status)
	b = strconv.AppendInt(append(b, `,"alarmTime":`...), r.AlarmTime, 10)
	b = jsonenc.AppendString(append(b, `,"originalTime":`...), r.OriginalTime)
	b = jsonenc.AppendString(append(b, `,"originalDate":`...), r.OriginalDate)
	b = appendStringOrNull(append(b, `,"timeZoneId":`...), r.TimeZoneID)
	b = appendStringOrNull(append(b, `,"reminderIndex":`...), r.ReminderIndex)
	b = appendStringOrNull(append(b, `,"skillInfo":`...), r.SkillInfo)
	b = appendStringOrNull(append(b, `,"sound":`...), r.Sound)
	b = jsonenc.AppendString(append(b, `,"deviceSerialNumber":`...), r.DeviceSerialNumber)
	b = jsonenc.AppendString(append(b, `,"deviceType":`...), r.DeviceType)
	b = appendStringOrNull(append(b, `,"recurringPattern":`...), r.RecurringPattern)
	b = jsonenc.AppendString(append(b, `,"reminderLabel":`...), r.ReminderLabel)
	b = strconv.AppendBool(append(b, `,"isSaveInFlight":`...), r.IsSaveInFlight)
	b = jsonenc.AppendString(append(b, `,"id":`...), r.ID)
	b = strconv.AppendBool(append(b, `,"isRecurring":`...), r.IsRecurring)
	b = strconv.AppendInt(append(b, `,"createdDate":`...), r.CreatedDate, 10)
	return append(b, '}')
}

// appendStringOrNull appends *s as JSON, null when s is nil.
func appendStringOrNull(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return jsonenc.AppendString(b, *s)
}

// CreateReminder creates a reminder with PUT /api/notifications/createReminder
// and returns the new notification's id. originalDate and originalTime are
// the first occurrence in the Echo's time zone; alarmTime is that instant.
func (c *Client) CreateReminder(ctx context.Context, r ReminderRequest) (string, error) {
	pattern, ok := recurringPattern(r.Recurrence)
	if !ok {
		return "", invalid("reminder recurrence %q: want daily, weekdays, weekends or mon..sun", r.Recurrence)
	}
	if err := checkEcho(r.Echo); err != nil {
		return "", err
	}
	text := strings.TrimSpace(r.Text)
	if text == "" {
		return "", invalid("reminder text is empty")
	}
	if r.At.IsZero() {
		return "", invalid("reminder time is not set")
	}
	if r.Echo.Timezone == "" {
		return "", invalid("echo %q has no time zone (take Echos from Client.Echos)", r.Echo.Name)
	}
	loc, err := c.zones.Load(r.Echo.Timezone)
	if err != nil {
		return "", invalid("echo %q: time zone: %v", r.Echo.Name, err)
	}
	at, now := r.At.In(loc), c.now()
	if pattern == "" && !at.After(now) {
		return "", invalid("reminder time %s is not in the future", at.Format(time.RFC3339))
	}
	if pattern != "" {
		at = firstOccurrence(at, now, pattern)
	}
	body := reminderBody{
		Type:               "Reminder",
		Status:             "ON",
		AlarmTime:          at.UnixMilli(),
		OriginalTime:       clockMillis(at),
		OriginalDate:       at.Format(time.DateOnly),
		DeviceSerialNumber: r.Echo.Serial,
		DeviceType:         r.Echo.Type,
		ReminderLabel:      text,
		IsSaveInFlight:     true,
		ID:                 "createReminder",
		IsRecurring:        pattern != "",
		CreatedDate:        now.UnixMilli(),
	}
	if pattern != "" {
		body.RecurringPattern = &pattern
	}
	resp, err := c.send(ctx, "PUT", c.web, createReminderPath, nil, body)
	if err != nil {
		return "", err
	}
	id, err := createdID(resp)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", badResponse("PUT", createReminderPath, `no "id" in the created notification`)
	}
	return id, nil
}

// createdID reads the id of the notification createReminder answers with
// (about 700 bytes, on every alexa.remind) by jsonenc.StringField, which
// passes the rest without building it; what that is not sure of is
// decoded as before, with the same result and errors.
func createdID(body []byte) (string, error) {
	if id, ok := jsonenc.StringField(body, "id"); ok {
		return id, nil
	}
	var created struct {
		ID string `json:"id"`
	}
	err := decode("PUT", createReminderPath, body, &created)
	return created.ID, err
}

// clockMillis is at's wall clock with zero milliseconds, "15:04:05.000",
// in one allocation (Format and a concatenation took two).
func clockMillis(at time.Time) string {
	var buf [16]byte
	return string(append(at.AppendFormat(buf[:0], "15:04:05"), ".000"...))
}

func checkEcho(e Echo) error {
	if e.Serial == "" || e.Type == "" {
		return invalid("echo %q has no serial number or device type (take Echos from Client.Echos)", e.Name)
	}
	return nil
}

func notifStatePathFor(e Echo) (string, error) {
	if err := checkEcho(e); err != nil {
		return "", err
	}
	if e.SoftwareVersion == "" {
		return "", invalid("echo %q has no software version (take Echos from Client.Echos)", e.Name)
	}
	return notifStatePath + "/" + segment(e.Type) + "/" + segment(e.SoftwareVersion) + "/" + segment(e.Serial), nil
}

// notifState is the body of /api/device-notification-state/... both ways.
type notifState struct {
	DeviceSerialNumber string `json:"deviceSerialNumber"`
	DeviceType         string `json:"deviceType"`
	SoftwareVersion    string `json:"softwareVersion"`
	VolumeLevel        *int   `json:"volumeLevel"`
}

// NotificationVolume reads the volume (0..100) alarms, timers and
// reminders ring at on echo.
func (c *Client) NotificationVolume(ctx context.Context, echo Echo) (int, error) {
	path, err := notifStatePathFor(echo)
	if err != nil {
		return 0, err
	}
	var st notifState
	if err := c.get(ctx, path, nil, &st); err != nil {
		return 0, err
	}
	if st.VolumeLevel == nil {
		return 0, badResponse("GET", path, `no "volumeLevel"`)
	}
	return *st.VolumeLevel, nil
}

// SetNotificationVolume sets the volume (0..100) alarms, timers and
// reminders ring at on echo.
func (c *Client) SetNotificationVolume(ctx context.Context, echo Echo, volume int) error {
	if volume < 0 || volume > 100 {
		return invalid("notification volume %d: want 0..100", volume)
	}
	path, err := notifStatePathFor(echo)
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "PUT", c.web, path, nil, notifState{
		DeviceSerialNumber: echo.Serial,
		DeviceType:         echo.Type,
		SoftwareVersion:    echo.SoftwareVersion,
		VolumeLevel:        &volume,
	})
	return err
}
