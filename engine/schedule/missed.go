package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Missed is the policy for occurrences that passed while the engine was
// down. The zero value skips them.
type Missed struct {
	run    bool
	within time.Duration // with run: only if missed by less than this; 0 = always
}

// ParseMissed parses the missed option: "skip" (also ""), "run", or a
// duration ("30m", "2d"): run if missed by less than that.
func ParseMissed(s string) (Missed, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "", "skip":
		return Missed{}, nil
	case "run":
		return Missed{run: true}, nil
	default:
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return Missed{}, fmt.Errorf("missed %q: expected \"skip\", \"run\" or a duration like \"30m\"%s", s, didYouMean(v, "skip", "run"))
		}
		return Missed{run: true, within: d}, nil
	}
}

// ShouldRun reports whether an occurrence due at missed, noticed at now,
// runs late.
func (m Missed) ShouldRun(missed, now time.Time) bool {
	if !m.run {
		return false
	}
	return m.within == 0 || now.Sub(missed) < m.within
}

// String returns the policy as ParseMissed reads it.
func (m Missed) String() string {
	switch {
	case !m.run:
		return "skip"
	case m.within == 0:
		return "run"
	}
	return m.within.String()
}
