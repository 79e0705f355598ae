package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// actInstance acts on the devices (or lists) of acts in every run, as a
// rule's bound calls would record them, and records the run's origin.
type actInstance struct{ acts []engine.Action }

func (a actInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	o, _ := engine.OriginOf(ctx)
	out := make([]engine.Action, len(a.acts))
	for i, act := range a.acts {
		if act.Result == nil {
			act.Result = o.Rule + " " + o.Event
		}
		out[i] = act
	}
	return engine.Result{Actions: out}
}
func (actInstance) Close() {}

// breakerRig runs an engine on a virtual clock whose rules act as given;
// each publish waits for the trace it causes.
type breakerRig struct {
	t      *testing.T
	clock  *engine.Virtual
	engine *engine.Engine
	log    *enginetest.LogBuffer
	traces chan engine.Trace
}

type actingRule struct {
	id      string
	trigger engine.Trigger
	acts    []engine.Action
}

func startBreakerRig(t *testing.T, cfg engine.BreakerConfig, rules ...actingRule) *breakerRig {
	t.Helper()
	r := &breakerRig{t: t, clock: engine.NewVirtual(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)),
		log: &enginetest.LogBuffer{}, traces: make(chan engine.Trace, 100)}
	r.engine = engine.New(engine.Config{Clock: r.clock, Store: &memStore{}, Breaker: cfg,
		Log:   r.log.Logger(slog.LevelInfo),
		OnRun: func(tr engine.Trace) { r.traces <- tr }})
	var list []*engine.Rule
	for _, ar := range rules {
		list = append(list, &engine.Rule{ID: ar.id, Enabled: true, Mode: engine.ModeQueued, Max: 10,
			Timeout: time.Second, Triggers: []engine.Trigger{ar.trigger},
			NewInstance: func() (engine.Instance, error) { return actInstance{acts: ar.acts}, nil }})
	}
	if err := r.engine.SetRules(list); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.engine.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// publish publishes ev, a second after the last one, and returns the
// trace of the rule it triggers.
func (r *breakerRig) publish(ev engine.Event) engine.Trace {
	r.t.Helper()
	r.clock.Advance(time.Second)
	r.engine.Publish(ev)
	select {
	case tr := <-r.traces:
		return tr
	case <-time.After(10 * time.Second):
		r.t.Fatalf("no run for %+v", ev)
		return engine.Trace{}
	}
}

func (r *breakerRig) info(rule string) engine.RuleInfo {
	for _, info := range r.engine.Rules() {
		if info.ID == rule {
			return info
		}
	}
	r.t.Fatalf("no rule %s", rule)
	return engine.RuleInfo{}
}

// gauges are the breaker's trips and tripped rules as /metrics shows them.
func (r *breakerRig) gauges() string {
	var vals []string
	for _, g := range r.engine.BreakerGauges() {
		vals = append(vals, fmt.Sprint(g.Value))
	}
	return strings.Join(vals, " ")
}

func volumeEvent() engine.Event {
	return engine.Event{Kind: engine.KindVolume, Device: &engine.Device{Name: "Kitchen Echo", ID: "G6G0XW0412650C3M"},
		Data: map[string]any{"value": 40.0}}
}

func TestTheBreakerTripsARuleTriggeredByTheEchoesOfItsOwnActions(t *testing.T) {
	r := startBreakerRig(t, engine.BreakerConfig{Runs: 5, Window: time.Minute, Cooldown: 10 * time.Minute},
		actingRule{id: "louder", trigger: engine.Trigger{Kind: engine.KindVolume},
			acts: []engine.Action{{Call: "adjust_volume", Device: "kitchen echo", Args: []any{5}}}})
	// The user's change starts it; each push of the rule's own change
	// triggers it again. The fifth echo within the minute trips it.
	first := r.publish(volumeEvent())
	if first.Outcome != engine.OutcomeOK {
		t.Fatalf("first run: %+v", first)
	}
	if a := first.Actions[0]; a.Rule != "louder" || a.EventID == "" || a.EventID != first.EventID ||
		a.Result != "louder "+first.EventID {
		t.Fatalf("the action names its rule and event, and the run's context carries them: %+v (trace event %s)", a, first.EventID)
	}
	for i := range 4 {
		if tr := r.publish(volumeEvent()); tr.Outcome != engine.OutcomeOK {
			t.Fatalf("echo %d: %+v", i+1, tr)
		}
	}
	if r.info("louder").Breaker != "" || r.gauges() != "0 0" {
		t.Fatal("tripped before the limit")
	}
	tripped := r.publish(volumeEvent())
	if tripped.Outcome != engine.OutcomeSkipped || !strings.HasPrefix(tripped.Reason, "runaway breaker: ") ||
		!strings.Contains(tripped.Reason, `"kitchen echo"`) || !strings.Contains(tripped.Reason, "2026-03-02T07:10:06Z") {
		t.Fatalf("the fifth echo trips the breaker: %+v", tripped)
	}
	info := r.info("louder")
	if !strings.HasPrefix(info.Breaker, "tripped until 2026-03-02T07:10:06Z: 5 runs within 1m0s") || info.BreakerTrips != 1 {
		t.Fatalf("GET /api/rules shows the breaker: %+v", info)
	}
	// While tripped, every trigger is skipped, echo or not.
	for range 3 {
		ev := volumeEvent()
		ev.Device = &engine.Device{Name: "Bedroom Echo"}
		if tr := r.publish(ev); tr.Outcome != engine.OutcomeSkipped || !strings.HasPrefix(tr.Reason, "runaway breaker: ") {
			t.Fatalf("a trigger while tripped: %+v", tr)
		}
	}
	if n := strings.Count(r.log.String(), "level=ERROR"); n != 1 || !strings.Contains(r.log.String(), "rule=louder") {
		t.Fatalf("one ERROR line for the trip, got %d:\n%s", n, r.log.String())
	}
	if g := r.gauges(); g != "1 1" {
		t.Fatalf("trips and tripped rules for /metrics: %s", g)
	}
	// After the cool-down the rule runs again.
	r.clock.Advance(10 * time.Minute)
	if tr := r.publish(volumeEvent()); tr.Outcome != engine.OutcomeOK {
		t.Fatalf("after the cool-down: %+v", tr)
	}
	if info := r.info("louder"); info.Breaker != "" || info.BreakerTrips != 1 || r.gauges() != "1 0" {
		t.Fatalf("after the cool-down: %+v, gauges %s", info, r.gauges())
	}
}

func TestTheBreakerTripsTwoRulesThatTriggerEachOtherThroughTheCloud(t *testing.T) {
	listTrigger := func(name string) engine.Trigger {
		return engine.Trigger{Kind: engine.KindList, Match: func(ev *engine.Event) bool {
			l, _ := ev.Data["list"].(map[string]any)
			return l["name"] == name
		}}
	}
	// Two mirror rules: what is added to one list is added to the other.
	r := startBreakerRig(t, engine.BreakerConfig{Runs: 3, Window: time.Minute},
		actingRule{id: "to-todo", trigger: listTrigger("Shopping"), acts: []engine.Action{{Call: "add", Device: "todo"}}},
		actingRule{id: "to-shopping", trigger: listTrigger("To-do"), acts: []engine.Action{{Call: "add", Device: "shopping"}}})
	added := func(list string) engine.Event {
		return engine.Event{Kind: engine.KindList, Data: map[string]any{"op": "added",
			"list": map[string]any{"id": "amzn1.list." + list, "name": list}, "item": map[string]any{"text": "milk"}}}
	}
	var outcomes []string
	for i := range 8 {
		list := []string{"Shopping", "To-do"}[i%2]
		tr := r.publish(added(list))
		outcomes = append(outcomes, tr.Rule+":"+tr.Outcome)
	}
	// The user's add and two echoes of each rule run; the third echo trips each.
	want := "to-todo:ok to-shopping:ok to-todo:ok to-shopping:ok to-todo:ok to-shopping:skipped to-todo:skipped to-shopping:skipped"
	if got := strings.Join(outcomes, " "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, id := range []string{"to-todo", "to-shopping"} {
		if r.info(id).Breaker == "" {
			t.Fatalf("%s is not tripped", id)
		}
	}
}

func TestTheBreakerLeavesRulesAloneThatAreNotTriggeredByTheirActions(t *testing.T) {
	cases := []struct {
		name string
		cfg  engine.BreakerConfig
		acts []engine.Action
	}{
		{"acts on another device", engine.BreakerConfig{}, []engine.Action{{Call: "on", Device: "Kitchen Lamp"}}},
		{"only reads", engine.BreakerConfig{}, []engine.Action{{Call: "get", Device: "Kitchen Echo", Args: []any{"volume"}}}},
		{"dry run", engine.BreakerConfig{}, []engine.Action{{Call: "on", Device: "Kitchen Echo", Result: "dry_run"}}},
		{"breaker off", engine.BreakerConfig{Runs: -1}, []engine.Action{{Call: "adjust_volume", Device: "Kitchen Echo"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := startBreakerRig(t, c.cfg,
				actingRule{id: "r", trigger: engine.Trigger{Kind: engine.KindVolume}, acts: c.acts})
			for i := range engine.DefaultBreakerRuns + 5 {
				if tr := r.publish(volumeEvent()); tr.Outcome != engine.OutcomeOK {
					t.Fatalf("run %d: %+v", i+1, tr)
				}
			}
		})
	}
}

func TestTheBreakerCountsOnlyEchoesWithinTheWindow(t *testing.T) {
	r := startBreakerRig(t, engine.BreakerConfig{Runs: 3, Window: time.Minute},
		actingRule{id: "slow", trigger: engine.Trigger{Kind: engine.KindVolume},
			acts: []engine.Action{{Call: "adjust_volume", Device: "Kitchen Echo"}}})
	// One echo every 45 s: an action is over a minute old two echoes later.
	for i := range 10 {
		if tr := r.publish(volumeEvent()); tr.Outcome != engine.OutcomeOK {
			t.Fatalf("run %d: %+v", i+1, tr)
		}
		r.clock.Advance(44 * time.Second)
	}
}
