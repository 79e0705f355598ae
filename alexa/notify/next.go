package notify

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/alexarules/alexarules/engine"
)

// Calendar is how an Echo reads wall-clock times: its time zone and the
// account's country, whose weekend the legacy XXXX-WD / XXXX-WE patterns
// follow (Friday–Saturday in much of the Middle East, Thursday–Friday in
// Iran).
type Calendar struct {
	// Location is the Echo's time zone (/api/device-preferences
	// timeZoneId); nil is UTC.
	Location *time.Location
	// Country is an ISO 3166-1 alpha-2 code ("DE", "SA"); "" means a
	// Saturday–Sunday weekend.
	Country string
}

// NextRing is Calendar{Location: loc}.NextRing.
func NextRing(n Notification, loc *time.Location, after, fetchedAt time.Time) (time.Time, bool) {
	return Calendar{Location: loc}.NextRing(n, after, fetchedAt)
}

// NextRing returns n's first ring strictly after after, in the calendar's
// time zone; ok is false when n will not ring after it (OFF, a PAUSED
// timer, a one-shot in the past, a rule that has ended). fetchedAt is when
// the list holding n was fetched: a timer without triggerTime rings
// remainingTime after it.
//
// Wall-clock times (originalDate/originalTime, recurrences) follow the DST
// policy of RULES.md §2: a time inside the spring-forward gap rings at the
// first instant after the gap, a time inside the repeated fall-back hour
// rings once, at its first occurrence.
//
// Recurring notifications are always recomputed from their rule, never
// taken from the stored date: Amazon keeps a recurring alarm's
// originalDate at a past occurrence until it rolls it over, sometimes for
// years. A SNOOZED notification rings at snoozedToTime when that is still
// ahead, else as if it were ON. INSTANCE_CANCELED (one occurrence of a
// recurring reminder skipped) skips the occurrence its originalDate and
// originalTime name and rings at the others.
func (c Calendar) NextRing(n Notification, after, fetchedAt time.Time) (time.Time, bool) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	switch n.Status {
	case "", StatusOn, StatusSnoozed, StatusInstanceCanceled:
	default:
		return time.Time{}, false
	}
	var best time.Time
	if n.Status == StatusSnoozed && n.SnoozedToTime > 0 {
		if s := time.UnixMilli(n.SnoozedToTime); s.After(after) {
			best = s
		}
	}
	if t, ok := c.scheduled(n, loc, after, fetchedAt); ok && (best.IsZero() || t.Before(best)) {
		best = t
	}
	if best.IsZero() {
		return time.Time{}, false
	}
	return best.In(loc), true
}

// scheduled is the next ring of n's own schedule, ignoring snooze.
func (c Calendar) scheduled(n Notification, loc *time.Location, after, fetchedAt time.Time) (time.Time, bool) {
	rec := c.recurrence(n, loc, after)
	if len(rec.rules) == 0 && !rec.declared {
		if n.Status == StatusInstanceCanceled {
			return time.Time{}, false
		}
		t, ok := oneShot(n, loc, fetchedAt)
		return t, ok && t.After(after)
	}
	var skip time.Time
	if n.Status == StatusInstanceCanceled {
		skip, _ = oneShot(n, loc, fetchedAt)
	}
	var best time.Time
	for _, r := range rec.rules {
		if t := nextOccurrence(r, loc, after, skip); !t.IsZero() && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if len(rec.rules) == 0 {
		// A recurrence we cannot read: Amazon's own precomputed times are
		// the best remaining guess.
		for _, s := range n.RRuleData.NextTriggerTimes {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err == nil && t.After(after) && !t.Equal(skip) && (best.IsZero() || t.Before(best)) {
				best = t
			}
		}
		if best.IsZero() && n.Status != StatusInstanceCanceled {
			// The stored date may still be the coming occurrence.
			if t, ok := oneShot(n, loc, fetchedAt); ok && t.After(after) {
				best = t
			}
		}
	}
	return best, !best.IsZero()
}

// oneShot is the single ring time a non-recurring notification names.
func oneShot(n Notification, loc *time.Location, fetchedAt time.Time) (time.Time, bool) {
	wall := func() (time.Time, bool) {
		w, ok := wallTime(n.OriginalDate, n.OriginalTime)
		if !ok {
			return time.Time{}, false
		}
		return resolve(w, loc), true
	}
	switch n.Kind() {
	case engine.KindTimer:
		if n.TriggerTime > 0 {
			return time.UnixMilli(n.TriggerTime), true
		}
		// remainingTime 0 is a timer that already ended (or a field the
		// object does not have), not one ending at the fetch.
		if n.RemainingTime > 0 && !fetchedAt.IsZero() {
			return fetchedAt.Add(time.Duration(n.RemainingTime) * time.Millisecond), true
		}
		return time.Time{}, false
	case engine.KindReminder:
		if n.AlarmTime > 0 {
			return time.UnixMilli(n.AlarmTime), true
		}
		return wall()
	}
	if t, ok := wall(); ok {
		return t, true
	}
	// Old-format alarms carry only alarmTime.
	if n.AlarmTime > 0 {
		return time.UnixMilli(n.AlarmTime), true
	}
	if n.TriggerTime > 0 {
		return time.UnixMilli(n.TriggerTime), true
	}
	return time.Time{}, false
}

// recurrence is what a notification says about repeating.
type recurrence struct {
	rules    []rrule.ROption // floating: wall times read in UTC
	declared bool            // it says it repeats, readable or not
	unknown  []string        // patterns and rules that could not be read
}

// recurrence collects n's rules: rRuleData.recurrenceRules (or the rule
// its other rRuleData fields describe) and recurringPattern. Every rule
// gets a DTSTART at 00:00 of the start date and the time of day of
// originalTime when it has no BYHOUR/BYMINUTE/BYSECOND of its own.
func (c Calendar) recurrence(n Notification, loc *time.Location, after time.Time) recurrence {
	var rec recurrence
	texts := n.RRuleData.RecurrenceRules
	if len(texts) == 0 {
		if r := ruleFromData(n.RRuleData); r != "" {
			texts = []string{r}
		}
	}
	texts = slices.Clone(texts)
	if p := strings.TrimSpace(n.RecurringPattern); p != "" {
		for part := range strings.SplitSeq(p, ",") {
			if r, ok := patternRule(part, c.Country); ok {
				texts = append(texts, r)
			} else if strings.TrimSpace(part) != "" {
				rec.unknown = append(rec.unknown, part)
			}
		}
	}
	rec.declared = len(texts) > 0 || len(rec.unknown) > 0
	if !rec.declared {
		return rec
	}

	// Time of day: originalTime, else the rule data's, else alarmTime's.
	h, m, s, haveTime := parseClock(n.OriginalTime)
	if !haveTime && len(n.RRuleData.NotificationTimes) > 0 {
		h, m, s, haveTime = parseClock(n.RRuleData.NotificationTimes[0])
	}
	if !haveTime && n.AlarmTime > 0 {
		t := time.UnixMilli(n.AlarmTime).In(loc)
		h, m, s, haveTime = t.Hour(), t.Minute(), t.Second(), true
	}
	// Start date: it fixes the phase of INTERVAL > 1.
	start, ok := wallTime(n.RRuleData.RecurStartDate, "")
	if !ok {
		start, ok = wallTime(n.OriginalDate, "")
	}
	if !ok && n.AlarmTime > 0 {
		start, ok = wallTime(time.UnixMilli(n.AlarmTime).In(loc).Format(time.DateOnly), "")
	}
	if !ok {
		start = floating(after, loc).Truncate(24*time.Hour).AddDate(0, 0, -1)
	}
	var until time.Time
	if d := n.RRuleData.RecurEndDate; d != "" {
		t := n.RRuleData.RecurEndTime
		if t == "" {
			t = "23:59:59"
		}
		until, _ = wallTime(d, t)
	}

	for _, text := range texts {
		opt, ok := parseRule(text, loc)
		if !ok {
			rec.unknown = append(rec.unknown, text)
			continue
		}
		if opt.Dtstart.IsZero() {
			opt.Dtstart = start
		}
		if haveTime {
			if len(opt.Byhour) == 0 {
				opt.Byhour = []int{h}
			}
			if len(opt.Byminute) == 0 {
				opt.Byminute = []int{m}
			}
			if len(opt.Bysecond) == 0 {
				opt.Bysecond = []int{s}
			}
		}
		if opt.Until.IsZero() && !until.IsZero() {
			opt.Until = until
		}
		rec.rules = append(rec.rules, opt)
	}
	return rec
}

// ruleKey reports whether parseRule keeps an RRULE part; anything else
// (X- names, typos) is dropped rather than failing the whole rule.
func ruleKey(k string) bool {
	switch k {
	case "FREQ", "DTSTART", "INTERVAL", "WKST", "COUNT", "UNTIL", "BYSETPOS",
		"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND":
		return true
	}
	return false
}

// parseRule reads one RRULE value into a floating rule. An UNTIL or
// DTSTART in UTC ("…Z") names an instant and is moved to loc's wall clock.
func parseRule(text string, loc *time.Location) (rrule.ROption, bool) {
	text = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(text)), "RRULE:")
	var kept []string
	var utcFields []string
	for part := range strings.SplitSeq(text, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" || !ruleKey(k) {
			continue
		}
		if (k == "UNTIL" || k == "DTSTART") && strings.HasSuffix(v, "Z") {
			utcFields = append(utcFields, k)
		}
		kept = append(kept, k+"="+v)
	}
	if len(kept) == 0 {
		return rrule.ROption{}, false
	}
	opt, err := rrule.StrToROptionInLocation(strings.Join(kept, ";"), time.UTC)
	if err != nil {
		return rrule.ROption{}, false
	}
	for _, k := range utcFields {
		switch k {
		case "UNTIL":
			opt.Until = floating(opt.Until, loc)
		case "DTSTART":
			opt.Dtstart = floating(opt.Dtstart, loc)
		}
	}
	// Reject what rrule would reject, now rather than at every ring.
	if _, err := rrule.NewRRule(*opt); err != nil {
		return rrule.ROption{}, false
	}
	return *opt, true
}

// nextOccurrence returns the first instant strictly after after at which
// the floating rule opt rings in loc, other than skip; zero when none.
func nextOccurrence(opt rrule.ROption, loc *time.Location, after, skip time.Time) time.Time {
	// No UTC offset exceeds ±14 h, so an occurrence whose wall time is
	// earlier than this cannot ring after after.
	from := floating(after, loc).Add(-30 * time.Hour)
	fastForward(&opt, from)
	r, err := rrule.NewRRule(opt)
	if err != nil {
		return time.Time{}
	}
	next := r.Iterator()
	// resolve is monotonic, so the first occurrence past after is the
	// answer; the bound only stops a rule so odd that every occurrence it
	// yields lies before from (fastForward keeps normal ones short).
	for range 100_000 {
		w, ok := next()
		if !ok {
			return time.Time{}
		}
		if w.Before(from) {
			continue
		}
		t := resolve(w, loc)
		if t.After(after) && !t.Equal(skip) {
			return t
		}
	}
	return time.Time{}
}

// fastForward moves the DTSTART of a fixed-period rule by whole periods
// (INTERVAL × one week, day, hour, ...) to just before from, so a daily
// alarm created years ago is not iterated day by day from its start. The
// occurrences after from do not change: the phase of INTERVAL and the
// weekday are kept. Rules with COUNT, and months and years (whose lengths
// vary), are left alone; they have few occurrences per year anyway.
func fastForward(opt *rrule.ROption, from time.Time) {
	if opt.Count > 0 || opt.Dtstart.IsZero() || !opt.Dtstart.Before(from) {
		return
	}
	var unit time.Duration
	switch opt.Freq {
	case rrule.WEEKLY:
		unit = 7 * 24 * time.Hour
	case rrule.DAILY:
		unit = 24 * time.Hour
	case rrule.HOURLY:
		unit = time.Hour
	case rrule.MINUTELY:
		unit = time.Minute
	case rrule.SECONDLY:
		unit = time.Second
	default:
		return
	}
	period := unit * time.Duration(max(opt.Interval, 1))
	if k := from.Sub(opt.Dtstart) / period; k > 1 {
		opt.Dtstart = opt.Dtstart.Add((k - 1) * period)
	}
}

// patternRule translates a legacy recurringPattern.
func patternRule(p, country string) (string, bool) {
	p = strings.ToUpper(strings.TrimSpace(p))
	weekend := weekendOf(country)
	switch {
	case p == "XXXX-WD":
		var days []string
		for i := range 7 {
			if d := weekdayCode(i); !slices.Contains(weekend, d) {
				days = append(days, d)
			}
		}
		return "FREQ=WEEKLY;BYDAY=" + strings.Join(days, ","), true
	case p == "XXXX-WE":
		return "FREQ=WEEKLY;BYDAY=" + strings.Join(weekend, ","), true
	case strings.HasPrefix(p, "XXXX-WXX-"):
		n, err := strconv.Atoi(strings.TrimPrefix(p, "XXXX-WXX-"))
		if err != nil || n < 1 || n > 7 {
			return "", false
		}
		return "FREQ=WEEKLY;BYDAY=" + weekdayCode(n-1), true
	case len(p) >= 3 && p[0] == 'P':
		// ISO 8601 periods: P1D daily, P1M monthly, P2W every other week.
		n, err := strconv.Atoi(p[1 : len(p)-1])
		freq := periodFreq(p[len(p)-1])
		if err != nil || n < 1 || freq == "" {
			return "", false
		}
		return "FREQ=" + freq + ";INTERVAL=" + strconv.Itoa(n), true
	}
	return "", false
}

// periodFreq maps an ISO 8601 period unit to an RRULE frequency.
func periodFreq(unit byte) string {
	switch unit {
	case 'D':
		return "DAILY"
	case 'W':
		return "WEEKLY"
	case 'M':
		return "MONTHLY"
	case 'Y':
		return "YEARLY"
	}
	return ""
}

// weekdayCode returns RFC 5545's code of ISO weekday i+1 (0 = Monday).
func weekdayCode(i int) string { return "MOTUWETHFRSASU"[2*i : 2*i+2] }

// isWeekdayCode reports whether s is one of MO..SU.
func isWeekdayCode(s string) bool {
	return len(s) == 2 && strings.Index("MOTUWETHFRSASU", s)%2 == 0
}

// weekendOf returns the weekend days of a country, as aioamazondevices
// groups them.
func weekendOf(country string) []string {
	switch strings.ToUpper(country) {
	case "IR":
		return []string{"TH", "FR"}
	case "AF", "BD", "BH", "DZ", "EG", "IL", "IQ", "JO", "KW", "LY", "MV", "MY", "OM", "PS", "QA", "SA", "SD", "SY", "YE":
		return []string{"FR", "SA"}
	}
	return []string{"SA", "SU"}
}

// ruleFromData builds an RRULE from the structured rRuleData fields, for
// objects that have them without recurrenceRules.
func ruleFromData(d RRuleData) string {
	var r string
	switch {
	case len(d.ByMonthDays) > 0:
		days := make([]string, len(d.ByMonthDays))
		for i, n := range d.ByMonthDays {
			days[i] = strconv.Itoa(n)
		}
		r = "FREQ=MONTHLY;BYMONTHDAY=" + strings.Join(days, ",")
	case len(d.ByWeekDays) > 0:
		var days []string
		for _, w := range d.ByWeekDays {
			if w = strings.ToUpper(strings.TrimSpace(w)); len(w) >= 2 && isWeekdayCode(w[:2]) {
				days = append(days, w[:2])
			}
		}
		if len(days) == 0 {
			return ""
		}
		r = "FREQ=WEEKLY;BYDAY=" + strings.Join(days, ",")
	default:
		switch f := strings.ToUpper(d.Frequency); f {
		case "DAILY", "WEEKLY", "MONTHLY", "YEARLY":
			r = "FREQ=" + f
		default:
			return ""
		}
	}
	if len(d.Intervals) > 0 && d.Intervals[0] > 1 {
		r += ";INTERVAL=" + strconv.Itoa(d.Intervals[0])
	}
	return r
}

// floating returns t's wall clock in loc as a UTC time: the form rules
// are evaluated in, free of DST.
func floating(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve maps the floating wall time w to one instant in loc under the
// DST policy: the instant itself when the wall time occurs once, its
// first occurrence when it occurs twice (fall-back), and the end of the
// gap when it does not occur (spring-forward).
func resolve(w time.Time, loc *time.Location) time.Time {
	ws := w.Unix()
	// Every UTC offset lies within ±18 h, so ws-18h is at or before each
	// instant that shows w. Walk the zone periods from there, in order:
	// the first one that contains its candidate holds the first
	// occurrence.
	u := ws - 18*3600
	for range 16 {
		t := time.Unix(u, 0).In(loc)
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		c := ws - int64(off)
		if !start.IsZero() && c < start.Unix() {
			// The previous period's candidate fell after its end and this
			// one's before its start: w is in the gap between them.
			return start.In(loc)
		}
		if end.IsZero() || c < end.Unix() {
			return time.Unix(c, int64(w.Nanosecond())).In(loc)
		}
		u = end.Unix()
	}
	// Unreachable with real zone data (transitions are months apart).
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
}

// wallTime reads "YYYY-MM-DD" and "HH:MM[:SS[.mmm]]" (time optional) as a
// floating wall time.
func wallTime(date, clock string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(date))
	if err != nil {
		return time.Time{}, false
	}
	if clock == "" {
		return d, true
	}
	h, m, s, ok := parseClock(clock)
	if !ok {
		return time.Time{}, false
	}
	ms := clockMillis(clock)
	return d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond), true
}

// parseClock reads "HH:MM", "HH:MM:SS" or "HH:MM:SS.mmm", tolerating the
// spaces some documented examples have ("15: 13: 00.000").
func parseClock(s string) (h, m, sec int, ok bool) {
	parts := strings.Split(strings.ReplaceAll(s, " ", ""), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, 0, false
	}
	if len(parts) == 3 {
		parts[2], _, _ = strings.Cut(parts[2], ".")
	} else {
		parts = append(parts, "0")
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, 0, 0, false
		}
		v[i] = n
	}
	if v[0] > 23 || v[1] > 59 || v[2] > 59 {
		return 0, 0, 0, false
	}
	return v[0], v[1], v[2], true
}

// clockMillis is the fraction of a second in "HH:MM:SS.mmm", in ms.
func clockMillis(s string) int {
	_, frac, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), ".")
	if !ok {
		return 0
	}
	frac = (frac + "000")[:3]
	n, err := strconv.Atoi(frac)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
