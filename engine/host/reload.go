package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
)

// load reads and validates every rule file, and turns the valid rules into
// the engine's rules and the scheduler's entries.
func (h *host) load() (*rules.Set, []*engine.Rule, []schedule.Entry, error) {
	o := h.opts
	loc, _ := h.cfg.Location() // validated in Run
	place, _ := h.cfg.Place()
	set, err := rules.Load(rules.Options{Clock: o.Clock, Location: loc, Place: place, Bind: h.rt.bind, Guard: h.guard,
		SpareStates: h.cfg.States.Spare, Print: func(file, msg string) { o.Log.Info(msg, "file", file) }}, h.rulePaths()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rules: %w", err)
	}
	var engineRules []*engine.Rule
	var entries []schedule.Entry
	for _, l := range set.Rules {
		engineRules = append(engineRules, l.Engine(o.Log, h.cfg.DryRun))
		if !l.Def.Enabled {
			continue
		}
		for i, t := range l.Def.Triggers {
			if t.Spec != nil {
				entries = append(entries, schedule.Entry{ID: scheduleID(l.Def.ID, i), Spec: t.Spec, Missed: t.Missed})
			}
		}
	}
	return set, engineRules, entries, nil
}

// rulePaths are what load reads: Options.RulePaths, else the rules
// directory.
func (h *host) rulePaths() []string { return rulePaths(h.opts, h.cfg) }

func rulePaths(o Options, cfg Config) []string {
	if len(o.RulePaths) > 0 {
		return o.RulePaths
	}
	return []string{cfg.Rules}
}

// reload loads the rule files again and swaps them in. When any file has
// an error, nothing changes: the running rules stay, and the errors are
// logged, kept for /healthz and /api/rules, and returned (as `check`
// would print them).
func (h *host) reload() (int, []error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	n, errs := h.swapRules()
	h.loads.reloaded(h.opts.Clock.Now(), errs)
	if len(errs) > 0 {
		h.opts.Log.Error("reload refused: the running rules stay", "errors", len(errs))
		for _, err := range errs {
			h.opts.Log.Error("reload: rule file not loaded", "err", err)
		}
	}
	return n, errs
}

// swapRules loads the rules and, when every file is valid, swaps them in.
func (h *host) swapRules() (int, []error) {
	set, engineRules, entries, err := h.load()
	if err != nil {
		return 0, []error{err}
	}
	if len(set.Errors) > 0 {
		return 0, set.Errors
	}
	if h.rt.rulesLoaded != nil {
		if err := h.rt.rulesLoaded(set.Rules); err != nil {
			return 0, []error{err}
		}
	}
	if err := h.engine.Reload(engineRules); err != nil {
		return 0, []error{fmt.Errorf("engine: %w", err)}
	}
	h.scheduler.Set(entries)
	h.current.Store(set)
	h.opts.Log.Info("rules reloaded", "rules", len(set.Rules), "schedules", len(entries))
	return len(set.Rules), nil
}

// reloadOn reloads on every receive from signals until ctx ends.
func (h *host) reloadOn(ctx context.Context, signals <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			if h.cl != nil {
				h.opts.Log.Warn("cluster mode does not reload rules: restart the engines one by one to change them")
				continue
			}
			h.reload()
		}
	}
}

// scheduleID names a rule's schedule trigger for the scheduler and its
// stored last run.
func scheduleID(rule string, trigger int) string { return rule + "#" + strconv.Itoa(trigger) }

func (h *host) fireSchedule(id string, at time.Time, late bool) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return
	}
	trig, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return
	}
	// The id is the tick's own: a tick fired again after a crash, before
	// the scheduler stored it, is the same event and is accepted once.
	h.publish(engine.Event{ID: "schedule:" + id + "@" + strconv.FormatInt(at.UnixNano(), 36),
		Kind: engine.KindSchedule, Target: id[:i], TriggerIndex: trig,
		Data: map[string]any{"scheduled": float64(at.UnixNano()) / 1e9, "late": late}})
}

// kvLastRuns keeps the scheduler's last run times in the store.
type kvLastRuns struct{ st *store.Store }

const scheduleBucket = "schedule"

func (k kvLastRuns) LastRun(id string) (time.Time, bool) {
	b, err := k.st.Get(scheduleBucket, id)
	if err != nil || b == nil {
		return time.Time{}, false
	}
	var t time.Time
	if json.Unmarshal(b, &t) != nil {
		return time.Time{}, false
	}
	return t, true
}

func (k kvLastRuns) SetLastRun(id string, t time.Time) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return k.st.Put(scheduleBucket, id, b)
}
