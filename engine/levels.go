package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// levels runs the state machines of stateful triggers (Trigger.Level): edge
// detection, holds and re-arming, per rule, trigger and device. Every
// transition is stored no later than the event that caused it completes
// or its run commits (save), so a restart neither fires a trigger again
// nor loses a running hold: a hold resumes with the time it had left.
type levels struct {
	e     *Engine
	inbox chan levelMsg
	// holds has the due time of every running hold, by state key.
	holds *TimerQueue[string]
	// cache holds the states read or written so far; only run's goroutine
	// touches it.
	cache map[string]levelState
	// done is closed when run returns, so late senders do not wait for ever.
	done chan struct{}
	// queued counts the states save queued that are not durable yet;
	// only run's goroutine adds and waits.
	queued sync.WaitGroup
}

const levelBucket = "levels"

type levelMsg struct {
	ev      *Event
	acc     *accepted // the accepted event ev is, nil when not durable
	r       *runner
	trigger int
	due     string        // set when a hold timer fell due: the state key
	synced  chan struct{} // set by Engine.SyncTriggers: closed when reached
	reload  bool          // the rules were reloaded
}

// levelState is the stored state of one trigger for one device.
type levelState struct {
	Matching bool      `json:"matching"`
	Armed    bool      `json:"armed"`
	Entered  time.Time `json:"entered,omitzero"`
	Due      time.Time `json:"due,omitzero"` // a running hold ends then
	Event    *Event    `json:"event,omitempty"`
	// Fired is the id of the event that last fired the trigger without a
	// hold: replayed after a crash before its run finished, that event
	// runs the rule again instead of meeting a state that already fired.
	Fired string `json:"fired,omitempty"`
}

func newLevels(e *Engine) *levels {
	l := &levels{e: e, inbox: make(chan levelMsg, inboxSize*4),
		cache: map[string]levelState{}, done: make(chan struct{})}
	l.holds = NewTimerQueue(e.clock, l.due)
	return l
}

// due hands holds that ran their time to run's goroutine, off the clock's.
func (l *levels) due(keys []string) {
	l.e.work.Add(int64(len(keys))) // in hand from now, not from the send
	go func() {
		for _, key := range keys {
			l.send(levelMsg{due: key})
			l.e.work.Add(-1)
		}
	}()
}

func levelKey(rule string, trigger int, ev *Event) string {
	dev := ""
	if ev.Device != nil {
		dev = ev.Device.ID
		if dev == "" {
			dev = strings.ToLower(ev.Device.Name)
		}
	}
	return rule + "#" + strconv.Itoa(trigger) + "#" + dev
}

// offer queues an event for a stateful trigger, waiting for room rather
// than dropping it.
func (l *levels) offer(r *runner, trigger int, ev *Event, acc *accepted) {
	l.send(levelMsg{ev: ev, acc: acc, r: r, trigger: trigger})
}

// run processes transitions one at a time until ctx ends. It first resumes
// the holds that were running when the engine stopped.
func (l *levels) run(ctx context.Context) {
	defer close(l.done)
	l.resume()
	for {
		select {
		case <-ctx.Done():
			l.stopTimers()
			return
		case m := <-l.inbox:
			l.handle(m)
		}
	}
}

// handle is one message of run's.
func (l *levels) handle(m levelMsg) {
	defer l.e.work.Add(-1) // counted by send
	switch {
	case m.synced != nil:
		l.queued.Wait()
		close(m.synced)
	case m.reload:
		l.queued.Wait() // resume reads the stored states
		l.stopTimers()
		clear(l.cache)
		l.resume()
	case m.due != "":
		l.holdDue(m.due)
	default:
		l.step(m.r, m.trigger, m.ev, m.acc)
	}
}

func (l *levels) stopTimers() { l.holds.Clear() }

// reload re-reads the trigger states after the rules changed: states of
// triggers that are gone are dropped, running holds of those that stay are
// re-armed.
//
// It is queued before Reload returns, so every event published after the
// reload meets the new states (and SyncTriggers waits for it too).
func (l *levels) reload() { l.send(levelMsg{reload: true}) }

// send waits for room in the inbox, unless run has ended.
func (l *levels) send(m levelMsg) {
	l.e.work.Add(1) // until run has handled it
	select {
	case l.inbox <- m:
	case <-l.done:
		l.e.work.Add(-1)
	}
}

func (l *levels) load(key string) levelState {
	if st, ok := l.cache[key]; ok {
		return st
	}
	st := levelState{Armed: true}
	b, err := l.e.store.Get(levelBucket, key)
	if err == nil && b != nil {
		_ = json.Unmarshal(b, &st)
	}
	l.cache[key] = st
	return st
}

// save stores a transition. A store that queues writes (PutQueuer) is not
// waited for: the write is queued before whatever the transition causes
// (the run's commit, the event's completion, a hold event's accept) and so
// shares their transaction, or an earlier one. The event's accept is
// durable already, so a crash before the write replays the event against
// the state before it, which makes the same transition again.
func (l *levels) save(key string, st levelState) {
	l.cache[key] = st
	b, err := json.Marshal(st)
	if err != nil {
		l.e.log.Error("store trigger state", "key", key, "err", err)
		return
	}
	l.queued.Add(1)
	QueuePut(l.e.store, levelBucket, key, b, func(err error) {
		if err != nil {
			l.e.log.Error("store trigger state", "key", key, "err", err)
		}
		l.queued.Done()
	})
}

// step applies one event to one trigger's state. The event's job for this
// rule finishes here unless it starts a run.
func (l *levels) step(r *runner, trigger int, ev *Event, acc *accepted) {
	if !l.stepRuns(r, trigger, ev, acc) {
		l.e.finish(acc)
	}
}

// stepRuns applies the event; it reports whether it handed a run to r.
func (l *levels) stepRuns(r *runner, trigger int, ev *Event, acc *accepted) bool {
	t := &r.rule.Triggers[trigger]
	key := levelKey(r.rule.ID, trigger, ev)
	st := l.load(key)
	if st.Fired != "" && st.Fired == ev.ID {
		l.e.deliver(r, job{ev: ev, trigger: trigger, acc: acc, replayed: true})
		return true
	}
	before := st
	matching := t.Level(ev)
	switch {
	case matching && !st.Matching:
		st.Matching = true
		if !st.Armed || (t.Enter != nil && !t.Enter(ev)) {
			break
		}
		if t.Hold <= 0 {
			st.Armed, st.Fired = false, ev.ID
			l.save(key, st)
			l.e.deliver(r, job{ev: ev, trigger: trigger, acc: acc})
			return true
		}
		st.Entered, st.Due, st.Event = ev.Time, ev.Time.Add(t.Hold), ev
		l.save(key, st)
		l.arm(key, st.Due)
		return false
	case !matching && st.Matching:
		st.Matching = false
		if !st.Due.IsZero() {
			l.disarm(key) // the hold resets when the value leaves the state
			st.Due, st.Entered, st.Event = time.Time{}, time.Time{}, nil
		}
		if t.Rearm == nil {
			st.Armed = true
		}
	}
	if !st.Armed && t.Rearm != nil && t.Rearm(ev) {
		st.Armed = true
	}
	if st != before {
		l.save(key, st)
	}
	return false
}

// holdDue fires the rule whose hold ran its full time.
func (l *levels) holdDue(key string) {
	st := l.load(key)
	if !st.Matching || st.Due.IsZero() || st.Event == nil {
		return
	}
	rule, trigger, ok := parseLevelKey(key)
	r := l.e.rules.Load().byID[rule]
	if !ok || r == nil || trigger >= len(r.rule.Triggers) {
		return
	}
	ev := *st.Event
	now := l.e.clock.Now()
	late := now.Sub(st.Due) > time.Second
	data := make(map[string]any, len(ev.Data)+1)
	maps.Copy(data, ev.Data)
	data["held"] = r.rule.Triggers[trigger].Hold.Seconds()
	// The id is the hold's own, so a crash between the accept and the
	// state's write accepts the same event again, which the store ignores
	// while the first is in its inbox. The state the hold leaves travels
	// with the event (Writes) into its accept's transaction, so that a
	// restart never finds the event accepted and the hold still due; save
	// writes it again for stores that write an event's records apart.
	ev.Data, ev.Time, ev.ID = data, now, holdEventID(key, st.Due)
	ev.Target, ev.TriggerIndex = rule, trigger
	st.Armed, st.Due, st.Event = false, time.Time{}, nil
	if b, err := json.Marshal(st); err == nil {
		ev.Writes = []Write{{Bucket: levelBucket, Key: key, Value: b}}
	}
	a, err := l.e.admit(ev, nil)
	l.save(key, st)
	if err == nil {
		a.late = late
		l.e.dispatch(a)
	}
}

// holdEventID names the event of a hold of key that ends at due.
func holdEventID(key string, due time.Time) string {
	return "hold:" + key + "@" + strconv.FormatInt(due.UnixNano(), 36)
}

func parseLevelKey(key string) (string, int, bool) {
	parts := strings.SplitN(key, "#", 3)
	if len(parts) != 3 {
		return "", 0, false
	}
	n, err := strconv.Atoi(parts[1])
	return parts[0], n, err == nil
}

func (l *levels) arm(key string, due time.Time) { l.holds.Schedule(key, due) }

func (l *levels) disarm(key string) { l.holds.Cancel(key) }

// resume re-arms the holds that were running; states of triggers that no
// longer exist are dropped.
func (l *levels) resume() {
	all, err := l.e.store.List(levelBucket, "")
	if err != nil {
		l.e.log.Error("load trigger states", "err", err)
		return
	}
	rs := l.e.rules.Load()
	for key, b := range all {
		rule, trigger, ok := parseLevelKey(key)
		r := rs.byID[rule]
		if !ok || r == nil || trigger >= len(r.rule.Triggers) || r.rule.Triggers[trigger].Level == nil {
			_ = l.e.store.Delete(levelBucket, key)
			continue
		}
		var st levelState
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		switch {
		case !st.Matching || st.Due.IsZero():
		case st.Due.After(l.e.clock.Now()):
			l.arm(key, st.Due)
		default:
			l.holdDue(key) // it ran its full time while the engine was down
		}
	}
}

// Hold is a running hold of a stateful trigger: the trigger's state has
// matched since Due minus the hold, and the rule fires at Due unless the
// state leaves the match first.
type Hold struct {
	Trigger int       `json:"trigger"`
	Device  string    `json:"device,omitempty"` // device id or lower-case name; empty when the trigger has none
	Due     time.Time `json:"due"`
}

// Holds lists the running holds of rule, earliest first (then by trigger
// and device).
func (e *Engine) Holds(rule string) []Hold {
	prefix := rule + "#"
	out := []Hold{}
	for key, due := range e.levels.holds.Pending() {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		trig, dev, _ := strings.Cut(rest, "#")
		n, err := strconv.Atoi(trig)
		if err != nil {
			continue // another rule whose id starts with rule+"#"
		}
		out = append(out, Hold{Trigger: n, Device: dev, Due: due})
	}
	slices.SortFunc(out, func(a, b Hold) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Trigger, b.Trigger), strings.Compare(a.Device, b.Device))
	})
	return out
}
