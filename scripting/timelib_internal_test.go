package scripting

import (
	"regexp"
	"testing"
)

// durationPattern is what durationPart replaces.
var durationPattern = regexp.MustCompile(`^([0-9]*\.?[0-9]*)(ms|us|µs|ns|d|h|m|s)`)

// durationPart splits as the regular expression does.
func FuzzDurationPart(f *testing.F) {
	for _, s := range []string{"", "1h", "1.5h30m", "300ms", "2d", "1d12h", ".", ".5m", "5.", "5x", "m", "10µs",
		"7us", "3ns", "1..2s", "12", "1h garbage", "µ", "0.5d", "1e3s", "ms", "99999999999999999999h", "5mx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		num, unit := durationPart(s)
		m := durationPattern.FindStringSubmatch(s)
		if m == nil {
			if unit != "" {
				t.Fatalf("durationPart(%q) = %q, %q; the pattern does not match", s, num, unit)
			}
			return
		}
		if num != m[1] || unit != m[2] {
			t.Fatalf("durationPart(%q) = %q, %q; want %q, %q", s, num, unit, m[1], m[2])
		}
	})
}

// A duration with a unit is parsed without allocating (alexa.remind's
// `in` and ctx.after parse one per call).
func TestParseDurationStringAllocations(t *testing.T) {
	for _, s := range []string{"1h", "300ms", "1h30m", "2d"} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := ParseDurationString(s); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("ParseDurationString(%q): %v allocations; want 0", s, n)
		}
	}
}
