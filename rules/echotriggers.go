package rules

import (
	"strings"
	"unicode"

	"github.com/alexarules/alexarules/engine"
)

// echoChecks are the conditions of alexa.voice (match, pattern),
// alexa.dnd (to) and alexa.media (state) on an event's data.
func (t *TriggerDef) echoChecks() []func(ev *engine.Event) bool {
	var checks []func(ev *engine.Event) bool
	text := func(ev *engine.Event) string {
		s, _ := ev.Data["text"].(string)
		return NormalizeUtterance(s)
	}
	if m, ok := t.Opts["match"].(string); ok {
		want := NormalizeUtterance(m)
		checks = append(checks, func(ev *engine.Event) bool { return text(ev) == want })
	}
	if t.pattern != "" {
		checks = append(checks, patternCheck(t.pattern, text))
	}
	if to, ok := t.Opts["to"].(bool); ok {
		checks = append(checks, func(ev *engine.Event) bool {
			v, ok := ev.Data["value"].(bool)
			return ok && v == to
		})
	}
	if st := t.opt("state"); st != "" && st != "changed" {
		// The player entered the state: a new track while it plays is
		// no change of state.
		checks = append(checks, func(ev *engine.Event) bool {
			now, _ := ev.Data["state"].(string)
			before, _ := ev.Data["previous"].(string)
			return strings.EqualFold(now, st) && !strings.EqualFold(before, st)
		})
	}
	return checks
}

// NormalizeUtterance is how alexa.voice compares what was said: lower
// case, runs of white space as one space, without white space and
// punctuation at either end ("Good  night!" is "good night").
func NormalizeUtterance(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
}
