// Package notify tracks an account's Echo alarms, timers and reminders.
//
// Amazon never says "the alarm is ringing": pushes only say that a
// notification changed, and GET /api/notifications returns the current
// list. The Tracker diffs each fresh list with the previous one (created,
// changed, deleted, snoozed, dismissed), computes every notification's
// next ring itself (NextRing: RRULEs, the legacy recurringPattern values,
// the Echo's time zone, snooze, paused timers, stale stored dates) and
// rings it on the engine clock, exactly once per occurrence across
// restarts.
package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alexarules/alexarules/engine"
)

// Notification types as /api/notifications spells them.
const (
	TypeAlarm      = "Alarm"
	TypeMusicAlarm = "MusicAlarm"
	TypeTimer      = "Timer"
	TypeReminder   = "Reminder"
)

// Statuses as /api/notifications spells them.
const (
	StatusOn               = "ON"
	StatusOff              = "OFF"
	StatusSnoozed          = "SNOOZED"
	StatusPaused           = "PAUSED"
	StatusInstanceCanceled = "INSTANCE_CANCELED"
)

// Notification is one object of /api/notifications → notifications[].
// The fields differ across the years; Parse fills what it finds and leaves
// the rest zero. Times in milliseconds are epoch milliseconds (0 = absent)
// except RemainingTime, which is relative to when the list was fetched.
type Notification struct {
	ID                string
	Type              string // Alarm, MusicAlarm, Timer, Reminder, ...
	Status            string // ON, OFF, SNOOZED, PAUSED, INSTANCE_CANCELED, ...
	Label             string // reminderLabel, timerLabel or alarmLabel
	Version           string
	NotificationIndex string
	DeviceSerial      string
	DeviceType        string
	OriginalDate      string // YYYY-MM-DD, device-local
	OriginalTime      string // HH:MM:SS.mmm, device-local
	AlarmTime         int64
	TriggerTime       int64
	RemainingTime     int64
	SnoozedToTime     int64
	CreatedDate       int64
	LastUpdatedDate   int64
	RecurringPattern  string // P1D, XXXX-WD, XXXX-WE, XXXX-WXX-1..7, ...
	RRuleData         RRuleData
	TimeZoneID        string // usually empty; the device preference is used then
	// Raw is the object as received, kept so the tracker can store it.
	Raw json.RawMessage
}

// RRuleData is the newer recurrence description (rRuleData).
type RRuleData struct {
	RecurrenceRules              []string // RFC 5545 RRULE values
	ByWeekDays                   []string // MO..SU
	ByMonthDays                  []int
	Intervals                    []int
	Frequency                    string
	FlexibleRecurringPatternType string // e.g. EVERY_X_MONTHS
	NotificationTimes            []string
	NextTriggerTimes             []string // ISO 8601 with offset; computed by Amazon, may be stale
	RecurStartDate               string
	RecurStartTime               string
	RecurEndDate                 string
	RecurEndTime                 string
}

// Parse reads one notification object. It is tolerant: unknown fields are
// ignored, numbers may arrive as strings and strings as numbers, nulls are
// zero. It fails only when raw is not a JSON object.
func Parse(raw json.RawMessage) (Notification, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Notification{}, fmt.Errorf("notify: parse notification: %w", err)
	}
	if m == nil {
		return Notification{}, errors.New("notify: parse notification: null")
	}
	n := Notification{
		ID:                str(m["id"]),
		Type:              str(m["type"]),
		Status:            strings.ToUpper(str(m["status"])),
		Version:           str(m["version"]),
		NotificationIndex: str(m["notificationIndex"]),
		DeviceSerial:      str(m["deviceSerialNumber"]),
		DeviceType:        str(m["deviceType"]),
		OriginalDate:      str(m["originalDate"]),
		OriginalTime:      str(m["originalTime"]),
		AlarmTime:         i64(m["alarmTime"]),
		TriggerTime:       i64(m["triggerTime"]),
		RemainingTime:     i64(m["remainingTime"]),
		SnoozedToTime:     i64(m["snoozedToTime"]),
		CreatedDate:       i64(m["createdDate"]),
		LastUpdatedDate:   i64(m["lastUpdatedDate"]),
		RecurringPattern:  str(m["recurringPattern"]),
		TimeZoneID:        str(m["timeZoneId"]),
		Raw:               append(json.RawMessage(nil), raw...),
	}
	n.Label = labelOf(n.Type, m)
	var r map[string]json.RawMessage
	if json.Unmarshal(m["rRuleData"], &r) == nil && r != nil {
		n.RRuleData = RRuleData{
			RecurrenceRules:              strs(r["recurrenceRules"]),
			ByWeekDays:                   strs(r["byWeekDays"]),
			ByMonthDays:                  ints(r["byMonthDays"]),
			Intervals:                    ints(r["intervals"]),
			Frequency:                    str(r["frequency"]),
			FlexibleRecurringPatternType: str(r["flexibleRecurringPatternType"]),
			NotificationTimes:            strs(r["notificationTimes"]),
			NextTriggerTimes:             strs(r["nextTriggerTimes"]),
			RecurStartDate:               str(r["recurStartDate"]),
			RecurStartTime:               str(r["recurStartTime"]),
			RecurEndDate:                 str(r["recurEndDate"]),
			RecurEndTime:                 str(r["recurEndTime"]),
		}
	}
	return n, nil
}

// labelOf picks the label field matching the type, then any other one:
// older objects carry all three with only one set.
func labelOf(typ string, m map[string]json.RawMessage) string {
	keys := []string{"alarmLabel", "reminderLabel", "timerLabel", "label"}
	switch KindOf(typ) {
	case engine.KindTimer:
		keys = []string{"timerLabel", "alarmLabel", "reminderLabel", "label"}
	case engine.KindReminder:
		keys = []string{"reminderLabel", "alarmLabel", "timerLabel", "label"}
	}
	for _, k := range keys {
		if s := str(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// KindOf maps a notification type to its event kind (engine.KindAlarm,
// engine.KindTimer, engine.KindReminder), or "" for a type rules cannot
// trigger on. A MusicAlarm is an alarm.
func KindOf(typ string) string {
	switch strings.ToLower(typ) {
	case "alarm", "musicalarm":
		return engine.KindAlarm
	case "timer":
		return engine.KindTimer
	case "reminder":
		return engine.KindReminder
	}
	return ""
}

// Kind is KindOf(n.Type).
func (n Notification) Kind() string { return KindOf(n.Type) }

// Recurring reports whether n repeats (a recurrence rule, rRuleData that
// describes one, or a recurringPattern).
func (n Notification) Recurring() bool {
	return n.RecurringPattern != "" || len(n.RRuleData.RecurrenceRules) > 0 || ruleFromData(n.RRuleData) != ""
}

// value decodes one JSON value keeping numbers exact; nil for null,
// absent or invalid.
func value(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	return v
}

// str reads a string; numbers and booleans give their text.
func str(raw json.RawMessage) string {
	switch v := value(raw).(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// i64 reads an integer from a number or a numeric string; 0 otherwise.
func i64(raw json.RawMessage) int64 {
	return toInt64(value(raw))
}

func toInt64(v any) int64 {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0
	}
	return int64(f)
}

// strs reads an array of strings (or one string); non-strings give their
// text, nulls are dropped.
func strs(raw json.RawMessage) []string {
	var out []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			if s := strings.TrimSpace(v); s != "" {
				out = append(out, s)
			}
		case json.Number:
			out = append(out, v.String())
		}
	}
	switch v := value(raw).(type) {
	case []any:
		for _, e := range v {
			add(e)
		}
	default:
		add(v)
	}
	return out
}

// ints reads an array of integers (or one); unreadable elements are dropped.
func ints(raw json.RawMessage) []int {
	var out []int
	add := func(v any) {
		if n := toInt64(v); n != 0 && n >= math.MinInt32 && n <= math.MaxInt32 {
			out = append(out, int(n))
		}
	}
	switch v := value(raw).(type) {
	case []any:
		for _, e := range v {
			add(e)
		}
	case nil:
	default:
		add(v)
	}
	return out
}
