package engine

import (
	"encoding/json"
	"slices"
	"time"
)

// RevertHandler is the handler name of the durable timers that
// revert_after sets (RULES.md §4): the rules package restores the value
// in Args (a Revert) when one fires. Handler names of rule files never
// start with '@'.
const RevertHandler = "@revert"

// revertPrefix starts the local timer id of a revert: "revert:" + the
// target (Change.Target).
const revertPrefix = "revert:"

// Change is an action a run sent to a device attribute. It cancels a
// pending revert of the same attribute, set by any rule; with RevertAfter
// it sets one that restores Before.
type Change struct {
	DeviceID string
	Device   string // the friendly name, for traces
	Attr     string // power, brightness, color, color_temperature, volume
	// Before is the value read before the action; RevertAfter > 0 asks
	// for it to be restored after that long.
	Before      any
	RevertAfter time.Duration
}

// Target names the attribute of the device the change is about.
func (c Change) Target() string { return c.Attr + ":" + c.DeviceID }

// Revert is the stored argument of a revert timer: what to restore.
type Revert struct {
	DeviceID string `json:"device_id"`
	Device   string `json:"device"`
	Attr     string `json:"attr"`
	Value    any    `json:"value"`
}

// reverts adds the run's device changes to c: a change cancels every
// pending revert of its attribute (whichever rule set it); a change with
// RevertAfter sets this rule's revert of it. A revert set while another
// was pending for the attribute restores the value that one would have:
// the value before the first of the actions, not an intermediate one.
func (r *runner) reverts(c *Commit, changes []Change, now time.Time) []TimerRecord {
	var put []TimerRecord
	first := map[string]any{} // the value to restore of each target this run set a revert of
	pending := r.e.timers.anyRevert()
	for _, ch := range changes {
		if ch.RevertAfter <= 0 && len(first) == 0 && !pending {
			continue // no revert of the target to cancel, nor one of this run's
		}
		local := revertPrefix + ch.Target()
		key := timerKey(r.rule.ID, local)
		value, again := first[local]
		if !again {
			value = ch.Before
		}
		for _, p := range r.e.timers.revertsOf(local) {
			var prev Revert
			if !again && json.Unmarshal(p.Args, &prev) == nil && ch.RevertAfter > 0 {
				value = prev.Value
			}
			if p.ID != key || ch.RevertAfter <= 0 {
				c.DeleteTimers = append(c.DeleteTimers, p.ID)
			}
		}
		if ch.RevertAfter <= 0 {
			if again { // this run's own revert of the target is cancelled too
				drop := func(t TimerRecord) bool { return t.ID == key }
				c.PutTimers, put = slices.DeleteFunc(c.PutTimers, drop), slices.DeleteFunc(put, drop)
				delete(first, local)
			}
			continue
		}
		first[local] = value
		args, err := json.Marshal(Revert{DeviceID: ch.DeviceID, Device: ch.Device, Attr: ch.Attr, Value: value})
		if err != nil {
			r.e.log.Error("revert_after: value to restore", "rule", r.rule.ID, "device", ch.Device, "err", err)
			continue
		}
		rec := TimerRecord{ID: key, Rule: r.rule.ID, Handler: RevertHandler, Args: args,
			Due: now.Add(ch.RevertAfter), Created: now}
		c.PutTimers = append(c.PutTimers, rec)
		put = append(put, rec)
	}
	return put
}

// revertsOf returns the pending reverts, of any rule, whose local id
// (after "rule/") is local; a handler's timer a rule named so is not one.
func (ts *timerService) revertsOf(local string) []TimerRecord {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]TimerRecord, 0, len(ts.reverts[local]))
	for id := range ts.reverts[local] {
		out = append(out, ts.pending[id])
	}
	return out
}
