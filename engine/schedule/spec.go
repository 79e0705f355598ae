// Package schedule turns the cron and schedule triggers of RULES.md §2
// into fire times and fires them on the engine's Clock.
//
// Daylight saving time follows one policy for every wall-clock schedule
// (a readable "daily 07:00", a cron spec with a fixed hour): each matching
// wall time fires exactly once on each matching date; a time inside the
// spring-forward gap fires at the first instant after the gap; a time
// inside the repeated fall-back hour fires at its first occurrence only.
//
// Interval schedules run on absolute time instead: "every 10m" and
// "@every 10m" fire at multiples of the interval since the Unix epoch, and
// a cron spec whose hour field is "*" (such as "*/5 * * * *" or "@hourly")
// fires at every instant whose local clock matches, so it keeps its
// spacing through a transition (nothing to fire in the gap, both halves of
// the repeated hour fire).
//
// Sun times ("sunset-30m", see ParseScheduleAt) are instants computed for
// a Place, so they need no DST rule either: each fires once per date.
package schedule

import (
	"fmt"
	"time"
)

// Spec computes fire times.
type Spec interface {
	// Next returns the first fire time strictly after t, or the zero time
	// if there is none.
	Next(t time.Time) time.Time
	String() string
}

// SpecError reports a spec that does not parse. Err says what is wrong in
// words a rule author understands; the caller adds file:line and field.
type SpecError struct {
	Kind string // "cron" or "schedule"
	Spec string
	Err  error
}

func (e *SpecError) Error() string { return fmt.Sprintf("%s %q: %v", e.Kind, e.Spec, e.Err) }

// Unwrap returns the reason.
func (e *SpecError) Unwrap() error { return e.Err }

// Upcoming returns the next n fire times of s strictly after t, fewer if
// the spec runs out.
func Upcoming(s Spec, t time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

const day = 24 * 60 * 60 // seconds

// maxSearchDays bounds the search for a matching date; a spec that does
// not match within five years (like February 30) never fires.
const maxSearchDays = 5*366 + 1

// wallSet is a set of wall-clock times, expressed as "wall seconds": the
// seconds since 1970-01-01 00:00:00 of a civil date and time, with no
// time zone attached.
type wallSet interface {
	// nextWall returns the first member at or after w, false if there is
	// none within maxSearchDays.
	nextWall(w int64) (int64, bool)
}

// wallOf returns the wall seconds t shows in loc, truncated to the second.
func wallOf(t time.Time, loc *time.Location) int64 {
	t = t.In(loc)
	_, off := t.Zone()
	return t.Unix() + int64(off)
}

// civil splits wall seconds into the day number and the second of the day.
func civil(w int64) (days int64, sec int) {
	days = w / day
	if w%day < 0 {
		days--
	}
	return days, int(w - days*day)
}

// weekday of a day number; day 0 (1970-01-01) was a Thursday.
func weekday(days int64) time.Weekday {
	return time.Weekday(((days+4)%7 + 7) % 7)
}

// resolve maps wall seconds w in loc to one instant under the DST policy:
// the instant itself when the wall time occurs once, its first occurrence
// when it occurs twice, and the end of the gap when it does not occur.
func resolve(w int64, loc *time.Location) time.Time {
	// Every UTC offset lies within ±16h, so w-16h is at or before each
	// instant that shows w. Walk the zone periods from there, in order:
	// the first that contains its candidate holds the first occurrence.
	u := w - 16*3600
	for range 16 {
		t := time.Unix(u, 0).In(loc)
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		c := w - int64(off)
		if !start.IsZero() && c < start.Unix() {
			// The previous period's candidate fell after its end and this
			// one's before its start: w is in the gap between them.
			return start
		}
		if end.IsZero() || c < end.Unix() {
			return time.Unix(c, 0).In(loc)
		}
		u = end.Unix()
	}
	// Unreachable with real zone data (transitions are months apart).
	days, sec := civil(w)
	y, m, d := time.Unix(days*day, 0).UTC().Date()
	return time.Date(y, m, d, sec/3600, sec/60%60, sec%60, 0, loc)
}

// nextWallClock returns the first instant strictly after t at which the
// wall-clock set s fires in loc under the DST policy.
func nextWallClock(s wallSet, loc *time.Location, t time.Time) time.Time {
	// Every wall time up to t's own wall time resolves at or before t
	// (resolve is monotonic and t is one occurrence of its wall time), so
	// the search starts one second later.
	from := wallOf(t, loc) + 1
	for range 4 {
		w, ok := s.nextWall(from)
		if !ok {
			return time.Time{}
		}
		if r := resolve(w, loc); r.After(t) {
			return r
		}
		// w repeats and t is in the second occurrence: its first
		// occurrence has passed. Skip to the end of the repeated range,
		// the wall time t's zone period started at in the old offset.
		from = w + 1
		if start, _ := t.In(loc).ZoneBounds(); !start.IsZero() {
			_, prevOff := start.Add(-time.Second).Zone()
			from = max(from, start.Unix()+int64(prevOff))
		}
	}
	return time.Time{}
}

// nextInstant returns the first instant strictly after t whose local wall
// time in loc belongs to s: wall times in a gap never show, repeated ones
// show twice.
func nextInstant(s wallSet, loc *time.Location, t time.Time) time.Time {
	u := t.Unix() + 1
	for range 64 {
		lt := time.Unix(u, 0).In(loc)
		_, off := lt.Zone()
		_, end := lt.ZoneBounds()
		w, ok := s.nextWall(u + int64(off))
		if !ok {
			return time.Time{}
		}
		if c := w - int64(off); end.IsZero() || c < end.Unix() {
			return time.Unix(c, 0).In(loc)
		}
		u = end.Unix()
	}
	return time.Time{}
}
