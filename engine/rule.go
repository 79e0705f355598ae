package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Mode says what happens when a rule is triggered while it runs (RULES.md §6).
type Mode string

// The run modes.
const (
	ModeSingle   Mode = "single"
	ModeRestart  Mode = "restart"
	ModeQueued   Mode = "queued"
	ModeParallel Mode = "parallel"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeSingle, ModeRestart, ModeQueued, ModeParallel:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (single, restart, queued or parallel)", s)
}

// Trigger is what the index needs to route events to a rule. The Lua-facing
// options are turned into these fields and a Match function by the rules
// package; schedule triggers are fired by the scheduler as targeted events
// and are listed here only for display.
type Trigger struct {
	Kind string // the event kind it listens to
	ID   string // the user's trigger id (ev.trigger), may be empty
	// Keys narrow the index: device names (lower case) or ids, or the custom
	// event name. Empty: every event of Kind is a candidate.
	Keys []string
	// Match checks the remaining options; nil matches every candidate.
	Match func(ev *Event) bool
	// Spec describes the trigger for the admin API, e.g. `cron "0 7 * * *"`.
	Spec string
	// Targeted triggers (cron, schedule) are not indexed: their events name
	// the rule and trigger.
	Targeted bool

	// Level makes the trigger stateful (readings, reachability, volume): it
	// reports whether an event's value is in the matching state. The rule
	// fires on the change into it (edge, not level), once the state has held
	// for Hold, and not again until it is re-armed: by Rearm when set
	// (hysteresis), else by leaving the matching state. The state is kept
	// per device and survives restarts.
	Level func(ev *Event) bool
	// Enter, when set, must also hold for the event that enters the state
	// (e.g. the previous value was `from`).
	Enter func(ev *Event) bool
	Hold  time.Duration
	Rearm func(ev *Event) bool
}

// Rule is a loaded, validated rule as the engine runs it.
type Rule struct {
	ID      string
	File    string
	Line    int
	Enabled bool
	Mode    Mode // "" runs as ModeSingle
	Max     int
	Timeout time.Duration
	// Throttle allows at most one run per window; events inside it are
	// skipped.
	Throttle time.Duration
	// Shadow records the rule's actions as would-be actions instead of
	// sending them (RULES.md §1); Engine.SetShadow overrides it per rule.
	Shadow   bool
	Triggers []Trigger
	// Key, when set, applies Mode per key (RULES.md §1 `key`): events of
	// different keys run in their own queues and never wait for, skip or
	// cancel each other; timer handler runs have the key "". It runs on the
	// runner's coordinator, so it must be quick; an error fails the event's
	// run.
	Key func(ev *Event, trigger int) (string, error)
	// Handlers names the rule's timer handlers.
	Handlers []string
	// State is the JSON of the rule's `state` defaults.
	State json.RawMessage
	// NewInstance creates a runnable instance (one Lua state). The engine
	// calls it on the goroutine that will own the instance: at the first
	// run that needs one (again after the state cache released the last,
	// Config.MaxStates), or at start-up for a parallel rule's pool.
	NewInstance func() (Instance, error)
}

// Instance runs one rule's code; it is owned by one goroutine.
type Instance interface {
	Run(ctx context.Context, inv *Invocation) Result
	Close()
}

// Invocation is one run: an event through the rule's run function, or a
// durable timer through one of its handlers.
type Invocation struct {
	Event        *Event
	TriggerIndex int
	Handler      string          // set for timer handler runs
	Args         json.RawMessage // handler arguments
	TimerID      string
	State        json.RawMessage            // the rule's committed state
	Global       map[string]json.RawMessage // snapshot of the global state
	Late         bool                       // a timer or schedule that fell due while down
	// Shadow: record the run's actions with result ResultShadow instead
	// of sending them.
	Shadow bool
	// Cancel ends the run's context early with cause (its Err is then
	// context.Canceled), for a guard that stops the run (the heap guard)
	// without a context of its own.
	Cancel context.CancelCauseFunc
}

// TimerRequest is a timer set or cancelled by a run; it takes effect only
// when the run succeeds.
type TimerRequest struct {
	ID      string
	Handler string
	Args    json.RawMessage
	Due     time.Time
	Cancel  bool
}

// Result is what a run did.
type Result struct {
	Err error
	// Skipped is set when only_if/unless said no; Reason says which.
	Skipped bool
	Reason  string
	// DryRun is set when actions were recorded but not sent.
	DryRun bool
	// Shadow is set when a shadow run withheld actions.
	Shadow       bool
	State        json.RawMessage // nil: unchanged
	GlobalSet    map[string]json.RawMessage
	GlobalDelete []string
	Timers       []TimerRequest
	// Actions become the run's trace: the engine keeps and changes them
	// (it stamps each action with the rule and event), so an Instance
	// makes them anew for each run.
	Actions []Action
	Log     []string
	// Changes are the device attributes the run's actions changed, in
	// order; they cancel and set reverts (revert_after).
	Changes []Change
	// Emitted are the custom events the run emitted (ctx.emit); they are
	// published once the run succeeded and its state is committed.
	Emitted []Emitted
}

// Emitted is a custom event a run emits.
type Emitted struct {
	Name string
	Data map[string]any
}
