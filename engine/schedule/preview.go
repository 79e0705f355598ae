package schedule

import (
	"fmt"
	"time"
)

// Fire is one upcoming fire of a spec, as `alexarules next` shows it.
type Fire struct {
	Time time.Time
	// DST says how a daylight saving transition shapes this fire, in the
	// spec's time zone; empty when none does. A wall-clock time in the
	// spring-forward gap: "02:30 does not exist, fires at 03:00"; one in
	// the repeated fall-back hour: "02:30 occurs twice, fires once, at the
	// first (CEST)"; an interval fire in the repeated hour: "02:30 occurs
	// twice, this is the first (CEST)" or "... the second (CET)".
	DST string
}

// Preview returns the next n fires of s at or after from, fewer if the
// spec runs out, each with its DST note.
func Preview(s Spec, from time.Time, n int) []Fire {
	times := Upcoming(s, from.Add(-time.Nanosecond), n)
	out := make([]Fire, len(times))
	for i, t := range times {
		out[i] = Fire{Time: t, DST: dstNote(s, t)}
	}
	return out
}

// wallClock is a spec whose fires are wall-clock times resolved under the
// DST policy (a readable "daily 07:00", a cron spec with a fixed hour).
type wallClock interface {
	wallSet
	Location() *time.Location
	wallClock() bool
}

func (d *dailySpec) wallClock() bool { return true }
func (c *cronSpec) wallClock() bool  { return !c.interval }

// dstNote explains how a transition shaped the fire at t of s, or "".
func dstNote(s Spec, t time.Time) string {
	l, ok := s.(interface{ Location() *time.Location })
	if !ok {
		return ""
	}
	loc := l.Location()
	t = t.In(loc)
	wc, isWall := s.(wallClock)
	isWall = isWall && wc.wallClock()
	if isWall {
		if w, moved := gapWall(wc, t); moved {
			return fmt.Sprintf("%s does not exist, fires at %s", clockText(w), clockText(wallOf(t, loc)))
		}
	}
	first, repeated := repeatedWall(t)
	switch {
	case !repeated:
		return ""
	case isWall:
		return fmt.Sprintf("%s occurs twice, fires once, at the first (%s)", clockText(wallOf(t, loc)), zoneName(t))
	case first:
		return fmt.Sprintf("%s occurs twice, this is the first (%s)", clockText(wallOf(t, loc)), zoneName(t))
	default:
		return fmt.Sprintf("%s occurs twice, this is the second (%s)", clockText(wallOf(t, loc)), zoneName(t))
	}
}

// gapWall reports whether the fire at t is a wall time of s that falls in
// a spring-forward gap ending at t, and returns the first such wall time.
func gapWall(s wallClock, t time.Time) (int64, bool) {
	start, _ := t.ZoneBounds()
	if start.IsZero() || !start.Equal(t) {
		return 0, false
	}
	_, off := t.Zone()
	_, prevOff := start.Add(-time.Second).Zone()
	if prevOff >= off {
		return 0, false
	}
	gapFrom, gapTo := start.Unix()+int64(prevOff), start.Unix()+int64(off)
	w, ok := s.nextWall(gapFrom)
	return w, ok && w < gapTo
}

// repeatedWall reports whether the wall time t shows occurs twice (a
// fall-back transition), and whether t is its first occurrence.
func repeatedWall(t time.Time) (first, repeated bool) {
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	if !end.IsZero() {
		if _, nextOff := end.Zone(); nextOff < off && t.Unix()+int64(off-nextOff) >= end.Unix() {
			return true, true
		}
	}
	if !start.IsZero() {
		if _, prevOff := start.Add(-time.Second).Zone(); prevOff > off && t.Unix()-int64(prevOff-off) < start.Unix() {
			return false, true
		}
	}
	return false, false
}

// clockText renders wall seconds as HH:MM, or HH:MM:SS when the seconds
// are not zero.
func clockText(w int64) string {
	_, sec := civil(w)
	if sec%60 != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/3600, sec/60%60)
}

// zoneName is t's zone abbreviation, or its UTC offset when the zone has
// no abbreviation.
func zoneName(t time.Time) string {
	name, _ := t.Zone()
	if name == "" {
		return t.Format("-07:00")
	}
	return name
}
