package schedule

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// starBit is the bit robfig/cron sets in a field written as "*".
const starBit = 1 << 63

// cronSpec is a parsed cron spec: one bit per allowed value in each field.
type cronSpec struct {
	text                             string
	loc                              *time.Location
	second, minute, hour, dom, month uint64
	dow                              uint64
	domStar, dowStar, interval       bool
}

// ParseCron parses a cron spec: five fields (minute hour day-of-month month
// day-of-week), six with leading seconds, a descriptor (@yearly, @annually,
// @monthly, @weekly, @daily, @midnight, @hourly) or "@every 5m". Times are
// wall-clock times in loc (UTC when loc is nil).
func ParseCron(spec string, loc *time.Location) (Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	s, err := parseCron(strings.TrimSpace(spec), loc)
	if err != nil {
		return nil, &SpecError{Kind: "cron", Spec: spec, Err: err}
	}
	return s, nil
}

var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@every"}

func parseCron(spec string, loc *time.Location) (Spec, error) {
	if spec == "" {
		return nil, errors.New("empty spec")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("time zone prefixes are not allowed here; use the tz option instead (cron(\"0 7 * * *\", { tz = \"Europe/Berlin\" }))")
	}
	if strings.HasPrefix(spec, "@") {
		name, arg, _ := strings.Cut(spec, " ")
		name = strings.ToLower(name)
		switch name {
		case "@every":
			d, err := parseInterval(strings.TrimSpace(arg))
			if err != nil {
				return nil, fmt.Errorf("@every: %w", err)
			}
			return &everySpec{text: spec, loc: loc, period: d, days: allDays}, nil
		case "@reboot":
			return nil, errors.New("@reboot is not supported; use the startup trigger")
		}
		if !slices.Contains(cronDescriptors, name) {
			return nil, fmt.Errorf("unknown descriptor %q%s", name, didYouMean(name, cronDescriptors...))
		}
		if strings.TrimSpace(arg) != "" {
			return nil, fmt.Errorf("unexpected %q after %s", strings.TrimSpace(arg), name)
		}
		spec = name
	} else if err := checkCronFields(strings.Fields(spec)); err != nil {
		return nil, err
	}
	sched, err := robfigParse(spec)
	if err != nil {
		return nil, err
	}
	ss, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unexpected schedule type %T", sched)
	}
	c := &cronSpec{
		text:     spec,
		loc:      loc,
		second:   ss.Second &^ starBit,
		minute:   ss.Minute &^ starBit,
		hour:     ss.Hour &^ starBit,
		dom:      ss.Dom &^ starBit,
		month:    ss.Month &^ starBit,
		dow:      ss.Dow &^ starBit,
		domStar:  ss.Dom&starBit != 0,
		dowStar:  ss.Dow&starBit != 0,
		interval: ss.Hour&starBit != 0,
	}
	// A spec like "0 0 30 2 *" parses but never fires; say so at load.
	if _, ok := c.nextWall(0); !ok {
		return nil, errors.New("never fires (no date matches the day and month fields)")
	}
	return c, nil
}

// robfigParse runs robfig/cron's parser and turns its panics into errors.
func robfigParse(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid spec: %v", r)
		}
	}()
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	return p.Parse(spec)
}

// cronField describes one field for error messages.
type cronField struct {
	name     string
	min, max int
	names    []string // index = value - nameBase
	nameBase int
	hint     string
}

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	dowNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

func cronFields(withSeconds bool) []cronField {
	f := []cronField{
		{name: "minute", max: 59},
		{name: "hour", max: 23},
		{name: "day of month", min: 1, max: 31},
		{name: "month", min: 1, max: 12, names: monthNames, nameBase: 1},
		{name: "day of week", max: 6, names: dowNames, hint: ` (use 0 or "sun" for Sunday)`},
	}
	if withSeconds {
		f = append([]cronField{{name: "second", max: 59}}, f...)
	}
	return f
}

// checkCronFields validates the fields before robfig/cron does, to name
// the field and the value in the error.
func checkCronFields(fields []string) error {
	if len(fields) != 5 && len(fields) != 6 {
		return fmt.Errorf("expected 5 fields (minute hour day-of-month month day-of-week), 6 with leading seconds, or a descriptor like @daily; got %d", len(fields))
	}
	for i, f := range cronFields(len(fields) == 6) {
		for item := range strings.SplitSeq(fields[i], ",") {
			if err := checkCronItem(f, item); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkCronItem(f cronField, item string) error {
	if item == "" {
		return fmt.Errorf("empty item in %s field", f.name)
	}
	rng, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 {
			return fmt.Errorf("step %q in %s field %q must be a positive number", step, f.name, item)
		}
	}
	if rng == "*" || rng == "?" {
		return nil
	}
	lo, hi, isRange := strings.Cut(rng, "-")
	a, err := cronValue(f, lo)
	if err != nil {
		return err
	}
	if !isRange {
		return nil
	}
	b, err := cronValue(f, hi)
	if err != nil {
		return err
	}
	if a > b {
		return fmt.Errorf("%s range %q runs backwards", f.name, rng)
	}
	return nil
}

func cronValue(f cronField, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		low := strings.ToLower(s)
		for i, name := range f.names {
			if low == name {
				return i + f.nameBase, nil
			}
		}
		if f.names == nil {
			return 0, fmt.Errorf("%s %q is not a number", f.name, s)
		}
		kind := f.name
		if kind == "day of week" {
			kind = "day"
		}
		if len(low) > 3 && slices.Contains(f.names, low[:3]) {
			return 0, fmt.Errorf("unknown %s %q (cron takes three-letter names: %q)", kind, s, low[:3])
		}
		return 0, fmt.Errorf("unknown %s %q%s", kind, s, didYouMean(low, f.names...))
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s %d out of range %d-%d%s", f.name, n, f.min, f.max, f.hint)
	}
	return n, nil
}

// Next returns the first fire time strictly after t.
func (c *cronSpec) Next(t time.Time) time.Time {
	if c.interval {
		return nextInstant(c, c.loc, t)
	}
	return nextWallClock(c, c.loc, t)
}

func (c *cronSpec) String() string { return c.text }

// Location returns the time zone the spec's wall times are in.
func (c *cronSpec) Location() *time.Location { return c.loc }

func (c *cronSpec) nextWall(w int64) (int64, bool) {
	days, sec := civil(w)
	for range maxSearchDays {
		date := time.Unix(days*day, 0).UTC()
		if c.month&(1<<uint(date.Month())) == 0 {
			// Jump to the first of the next month.
			days += int64(daysIn(date.Month(), date.Year()) - date.Day() + 1)
			sec = 0
			continue
		}
		if c.dayMatches(date.Day(), weekday(days)) {
			if s, ok := c.nextInDay(sec); ok {
				return days*day + int64(s), true
			}
		}
		days++
		sec = 0
	}
	return 0, false
}

// dayMatches applies cron's rule: when either day field is "*" both must
// match, otherwise either may.
func (c *cronSpec) dayMatches(dom int, wd time.Weekday) bool {
	domOK := c.dom&(1<<uint(dom)) != 0
	dowOK := c.dow&(1<<uint(wd)) != 0
	if c.domStar || c.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// nextInDay returns the first matching second of the day at or after sec.
func (c *cronSpec) nextInDay(sec int) (int, bool) {
	h, m, s := sec/3600, sec/60%60, sec%60
	for {
		nh := nextBit(c.hour, h)
		if nh < 0 {
			return 0, false
		}
		if nh != h {
			h, m, s = nh, 0, 0
		}
		nm := nextBit(c.minute, m)
		if nm < 0 {
			h, m, s = h+1, 0, 0
			continue
		}
		if nm != m {
			m, s = nm, 0
		}
		ns := nextBit(c.second, s)
		if ns < 0 {
			m, s = m+1, 0
			continue
		}
		return h*3600 + m*60 + ns, true
	}
}

// nextBit returns the lowest set bit at or above x, or -1.
func nextBit(set uint64, x int) int {
	if x >= 64 {
		return -1
	}
	rest := set & (^uint64(0) << uint(x))
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
