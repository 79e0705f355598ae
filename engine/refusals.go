package engine

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// RefusalLogInterval is how often the events Accept refused are logged:
// one line per rule per interval with their count, never one per event,
// since an overloaded engine refuses thousands each second.
const RefusalLogInterval = 10 * time.Second

// refusals counts, per rule, the events refused since the last log line;
// the first refusal of an interval arms the clock to log them at its end.
type refusals struct {
	mu     sync.Mutex
	counts map[string]int
	reason map[string]string // the last reason of each rule
	armed  bool
}

// refused counts an event a refused with why, for each rule it matched.
func (e *Engine) refused(a *admission, why string) {
	e.metrics.refused.Inc()
	r := &e.refusals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts, r.reason = map[string]int{}, map[string]string{}
	}
	for _, d := range a.dests {
		r.counts[d.r.rule.ID]++
		r.reason[d.r.rule.ID] = why
	}
	if !r.armed {
		r.armed = true
		e.clock.AfterFunc(RefusalLogInterval, e.logRefusals)
	}
}

// logRefusals writes one line per rule that had events refused.
func (e *Engine) logRefusals() {
	r := &e.refusals
	r.mu.Lock()
	counts, reason := r.counts, r.reason
	r.counts, r.reason, r.armed = nil, nil, false
	r.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		e.log.Warn("events refused: engine at capacity (POST /api/events answered 429)", "rule", id,
			"refused", counts[id], "interval", RefusalLogInterval, "reason", reason[id])
	}
}
