package engine

import "encoding/json"

// Idle reports whether the engine has nothing in hand: every published
// event has been dispatched, every event offered to a stateful trigger
// has been stepped, and every job handed to a rule has finished with a
// trace (a run, or a skip). Rule tests (alexarules test) advance their
// virtual clock one due time at a time and wait for Idle in between, so
// the runs one instant caused finish before the next instant's.
//
// It is a snapshot: a source outside the engine may publish right after.
func (e *Engine) Idle() bool {
	q := &e.journaled
	q.mu.Lock()
	drained := q.done >= q.started
	q.mu.Unlock()
	return drained && e.work.Load() == 0
}

// RuleState returns the stored state of a rule (nil when it has none):
// what its last successful run committed.
func (e *Engine) RuleState(rule string) (json.RawMessage, error) {
	return e.store.RuleState(rule)
}
