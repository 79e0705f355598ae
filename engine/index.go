package engine

import (
	"slices"
	"strings"
)

// index routes an event to the rules whose triggers may match it without
// scanning every rule: by kind, then by device name, device id or custom
// event name. Built once per rule set and read without locks.
type index struct {
	byKind map[string]map[string][]indexEntry
}

type indexEntry struct {
	runner  *runner
	trigger int
}

func newIndex(runners []*runner) *index {
	ix := &index{byKind: map[string]map[string][]indexEntry{}}
	for _, r := range runners {
		if !r.rule.Enabled {
			continue
		}
		for i, t := range r.rule.Triggers {
			if t.Targeted {
				continue
			}
			keys := ix.byKind[t.Kind]
			if keys == nil {
				keys = map[string][]indexEntry{}
				ix.byKind[t.Kind] = keys
			}
			if len(t.Keys) == 0 {
				keys[""] = append(keys[""], indexEntry{r, i})
			}
			for _, k := range t.Keys {
				k = strings.ToLower(k)
				keys[k] = append(keys[k], indexEntry{r, i})
			}
		}
	}
	return ix
}

// match calls fn once for each rule with a trigger matching ev, with the
// index of the first matching trigger.
func (ix *index) match(ev *Event, fn func(r *runner, trigger int)) {
	keys := ix.byKind[ev.Kind]
	if keys == nil {
		return
	}
	var lookup [3]string
	n := 0
	if ev.Name != "" {
		lookup[n] = strings.ToLower(ev.Name)
		n++
	}
	if ev.Device != nil {
		if ev.Device.Name != "" {
			lookup[n] = strings.ToLower(ev.Device.Name)
			n++
		}
		if ev.Device.ID != "" {
			lookup[n] = strings.ToLower(ev.Device.ID)
			n++
		}
	}
	// A rule may be reached through several keys or triggers; it runs once.
	// seen lives on the stack for the usual handful of matches.
	var seenBuf [8]*runner
	seen := seenBuf[:0]
	seen = ix.visit(keys[""], ev, seen, fn)
	for _, k := range lookup[:n] {
		seen = ix.visit(keys[k], ev, seen, fn)
	}
}

func (ix *index) visit(entries []indexEntry, ev *Event, seen []*runner, fn func(r *runner, trigger int)) []*runner {
	for _, en := range entries {
		if slices.Contains(seen, en.runner) {
			continue
		}
		t := &en.runner.rule.Triggers[en.trigger]
		if t.Match != nil && !t.Match(ev) {
			continue
		}
		seen = append(seen, en.runner)
		fn(en.runner, en.trigger)
	}
	return seen
}
