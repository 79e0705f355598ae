package rules

import (
	"slices"
	"strings"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

// This file describes the rule language for editors (`alexarules types`):
// rule fields, trigger constructors and their options, `ev` by kind,
// and `ctx`. Names come from the tables the loader
// validates against (ruleFields, the trigger catalogue, modes); the tables
// here add types and a line of documentation, and tests keep both equal.

// TriggerAPI is a trigger constructor as editors see it.
type TriggerAPI struct {
	Name string // as written in Lua: "cron", "alexa.alarm"
	Kind string // ev.kind of its events
	Main string // the main argument's name (cron's spec), "" when it takes only options
	Doc  string
	// Options, sorted by name.
	Options []OptionAPI
}

// OptionAPI is one option of a trigger constructor.
type OptionAPI struct {
	Name string
	// Check is how the loader checks it: string, number, duration, enum
	// (one of Values), table, pattern, zone, missed or scalar (a string,
	// number or boolean).
	Check    string
	Values   []string
	Required bool
}

// EventAPI lists the fields of `ev` that events of one kind carry, beside
// id, kind, trigger and time, which all have.
type EventAPI struct {
	Kind   string
	Fields []scripting.Param
}

// RuleFields describes the fields of `rule "id" { ... }` in the order the
// loader lists them.
func RuleFields() []scripting.Param {
	out := make([]scripting.Param, 0, len(ruleFields))
	for _, name := range ruleFields {
		p := ruleFieldSigs[name]
		p.Name = name
		if name == "mode" {
			p.Type = scripting.Literals(modes)
		}
		out = append(out, p)
	}
	return out
}

// Triggers describes every trigger constructor the loader installs.
func Triggers() []TriggerAPI {
	cat := triggerCatalogue()
	out := make([]TriggerAPI, 0, len(cat))
	for _, spec := range cat {
		t := TriggerAPI{Name: spec.name, Kind: spec.kind, Doc: triggerDocs[spec.name]}
		if spec.main {
			t.Main = mainArgs[spec.name]
		}
		for name, o := range spec.opts {
			t.Options = append(t.Options, OptionAPI{Name: name, Check: o.kind.String(),
				Values: slices.Clone(o.values), Required: slices.Contains(spec.required, name)})
		}
		slices.SortFunc(t.Options, func(a, b OptionAPI) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, t)
	}
	return out
}

// Events describes `ev` for each kind a trigger listens to.
func Events() []EventAPI {
	var kinds []string
	for _, spec := range triggerCatalogue() {
		if !slices.Contains(kinds, spec.kind) {
			kinds = append(kinds, spec.kind)
		}
	}
	out := make([]EventAPI, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, EventAPI{Kind: k, Fields: eventFields[k]})
	}
	return out
}

// EventCommon are the fields of `ev` that every event has (RULES.md §3).
func EventCommon() []scripting.Param { return slices.Clone(eventCommon) }

// CtxFields describes the run context `ctx`: its values, then its
// functions (ctx.log's are in CtxLog).
func CtxFields() ([]scripting.Param, []scripting.Func) {
	return slices.Clone(ctxValues), slices.Clone(ctxFuncs)
}

// CtxLog describes ctx.log's functions, one per level.
func CtxLog() []scripting.Func {
	out := make([]scripting.Func, 0, len(logLevels))
	for _, level := range logLevels {
		out = append(out, scripting.Func{Name: level, Doc: "Logs a line at " + level + " level, string.format style; it carries the rule id.",
			Params: []scripting.Param{{Name: "format", Type: "string"}, {Name: "...", Type: "any"}}})
	}
	return out
}

// String is the name of the check, as TriggerAPI shows it.
func (k optKind) String() string {
	switch k {
	case optString:
		return "string"
	case optNumber:
		return "number"
	case optDuration:
		return "duration"
	case optEnum:
		return "enum"
	case optTable:
		return "table"
	case optPattern:
		return "pattern"
	case optZone:
		return "zone"
	case optMissed:
		return "missed"
	case optScalar:
		return "scalar"
	case optBool:
		return "boolean"
	}
	return "unknown"
}

// modes are the values of a rule's mode field.
var modes = []string{string(engine.ModeSingle), string(engine.ModeRestart), string(engine.ModeQueued), string(engine.ModeParallel)}

// logLevels are ctx.log's functions and the values of a rule's log field.
var logLevels = []string{"debug", "info", "warn", "error"}

var (
	ruleFieldSigs = map[string]scripting.Param{
		"description": {Type: "string", Optional: true, Doc: "What the rule does, for people."},
		"enabled":     {Type: "boolean", Optional: true, Doc: "Default true."},
		"when":        {Type: "Trigger|Trigger[]", Doc: "One trigger, or a list of them (any fires the rule)."},
		"only_if":     {Type: "Condition|(fun(ctx: Ctx, ev: Event): boolean)|(Condition|fun(ctx: Ctx, ev: Event): boolean)[]", Optional: true, Doc: "All must hold for a run."},
		"unless":      {Type: "Condition|(fun(ctx: Ctx, ev: Event): boolean)|(Condition|fun(ctx: Ctx, ev: Event): boolean)[]", Optional: true, Doc: "No run when any holds."},
		"mode":        {Optional: true, Doc: "What a trigger does while the rule runs; default \"single\"."},
		"max":         {Type: "integer", Optional: true, Doc: "Queue or parallel limit; default 10."},
		"timeout":     {Type: "Duration", Optional: true, Doc: `Deadline of each run; default "5s".`},
		"state":       {Type: "table", Optional: true, Doc: "Defaults of the persisted ctx.state (plain data)."},
		"run":         {Type: "fun(ctx: Ctx, ev: Event)", Doc: "The rule's work."},
		"handlers":    {Type: "table<string, fun(ctx: Ctx, args: any)>", Optional: true, Doc: "Named functions that ctx.after/ctx.at timers call."},
		"throttle":    {Type: "Duration", Optional: true, Doc: "At most one run per window."},
		"log":         {Type: scripting.Literals(logLevels), Optional: true, Doc: "The rule's log level."},
		"shadow":      {Type: "boolean", Optional: true, Doc: "Run for real but record the actions instead of sending them (outcome \"shadow\")."},
		"key":         {Type: "fun(ev: Event): any", Optional: true, Doc: "Applies mode, max and throttle to each key's events on their own (e.g. per device)."},
	}

	triggerDocs = map[string]string{
		"cron":           `Fires when a cron spec matches: 5 fields, 6 with seconds, "@daily", "@every 5m".`,
		"schedule":       `Fires on a readable schedule: "daily 07:00", "mon-fri 07:00", "every 10m between 08:00 and 22:00", "sunset-30m".`,
		"event":          "Fires on a custom event: ctx.emit(name, data) or POST /api/events.",
		"startup":        "Fires once the engine has started (after state is loaded).",
		"alexa.alarm":    `Fires when an alarm on an Echo rings (state "ringing", the default) or changes.`,
		"alexa.timer":    "Fires when a timer ends (or is created, paused, cancelled).",
		"alexa.reminder": "Fires when a reminder is due (or created, changed, deleted).",
		"alexa.list":     "Fires when an item is added, updated, checked or removed on a list.",
		"alexa.volume":   "Fires when an Echo's volume changes (into above/below).",
		"reading":        "Fires when a polled reading of an endpoint changes into the matching state.",
		"alexa.voice":    "Fires when something is said to an Echo (from the voice history: best effort, seconds late, may miss one).",
		"alexa.dnd":      "Fires when an Echo's Do Not Disturb is turned on or off.",
		"alexa.media":    "Fires when an Echo's player starts, pauses or stops (state), or changes at all (\"changed\", the default).",
		"reachable":      "Fires when an endpoint (or an Echo) comes online.",
		"unreachable":    "Fires when an endpoint (or an Echo) goes offline.",
	}

	mainArgs = map[string]string{"cron": "spec", "schedule": "spec", "event": "name"}

	eventCommon = []scripting.Param{
		{Name: "id", Type: "string", Doc: "The event's id."},
		{Name: "kind", Type: "string", Doc: "alexa.alarm, alexa.timer, alexa.reminder, alexa.list, alexa.volume, alexa.voice, alexa.dnd, alexa.media, reading, reachability, schedule, event or startup."},
		{Name: "trigger", Type: "string?", Doc: "The id option of the trigger that fired, or nil."},
		{Name: "time", Type: "number", Doc: "Epoch seconds."},
	}

	deviceField = scripting.Param{Name: "device", Type: "EventDevice", Doc: "The device the event is about."}
	notifFields = []scripting.Param{deviceField,
		{Name: "state", Type: "string", Doc: "ringing, snoozed, dismissed, created, changed, deleted (timers: paused)."},
		{Name: "notification", Type: "EventNotification"}}

	eventFields = map[string][]scripting.Param{
		engine.KindAlarm:    notifFields,
		engine.KindTimer:    notifFields,
		engine.KindReminder: notifFields,
		engine.KindList: {{Name: "op", Type: `"added"|"updated"|"checked"|"removed"`},
			{Name: "list", Type: "EventList"}, {Name: "item", Type: "ListItem"}},
		engine.KindVolume: {deviceField, {Name: "value", Type: "number"}, {Name: "previous", Type: "number?"}},
		engine.KindVoice: {deviceField, {Name: "text", Type: "string", Doc: "What was said, without the wake word."},
			{Name: "reply", Type: "string?", Doc: "What Alexa answered."}, {Name: "person", Type: "string?", Doc: "Who spoke, when Alexa knows."},
			{Name: "record", Type: "string", Doc: "The voice history record's key."},
			{Name: "delay", Type: "number", Doc: "Seconds between the speech and the event."}},
		engine.KindDND: {deviceField, {Name: "value", Type: "boolean"}, {Name: "previous", Type: "boolean?"}},
		engine.KindMedia: {deviceField, {Name: "state", Type: `"PLAYING"|"PAUSED"|"IDLE"`}, {Name: "previous", Type: "string?"},
			{Name: "title", Type: "string?"}, {Name: "artist", Type: "string?"}, {Name: "provider", Type: "string?"}},
		engine.KindReading: {deviceField, {Name: "attr", Type: "DeviceAttr"}, {Name: "value", Type: "any"},
			{Name: "previous", Type: "any"}, {Name: "since", Type: "number", Doc: "When the value began, epoch seconds."}},
		engine.KindReachability: {deviceField, {Name: "reachable", Type: "boolean"},
			{Name: "connectivity", Type: "string", Doc: "OK, UNREACHABLE, NOT_FOUND (Echos: ONLINE, OFFLINE)."},
			{Name: "previous", Type: "any"}, {Name: "since", Type: "number?"}},
		engine.KindSchedule: {{Name: "scheduled", Type: "number", Doc: "When the schedule was due, epoch seconds."},
			{Name: "late", Type: "boolean", Doc: "True when it ran at start-up for a time missed while down."}},
		engine.KindCustom: {{Name: "name", Type: "string"}, {Name: "data", Type: "table"}},
	}

	ctxValues = []scripting.Param{
		{Name: "rule", Type: "string", Doc: "The rule's id."},
		{Name: "now", Type: "number", Doc: "Epoch seconds on the engine's clock (virtual in tests)."},
		{Name: "state", Type: "table", Doc: "The rule's persisted table; committed when the run ends without error."},
		{Name: "global", Type: "table", Doc: "A table shared by all rules, persisted the same way."},
		{Name: "log", Type: "CtxLog", Doc: "ctx.log.info(fmt, ...) and the other levels."},
	}

	timerParams = []scripting.Param{{Name: "handler", Type: "string", Doc: "a key of the rule's handlers"},
		{Name: "args", Type: "any", Optional: true, Doc: "plain data passed to the handler"},
		{Name: "opts", Type: "{ id: string? }", Optional: true, Doc: "id names the timer; reusing an id reschedules it"}}

	ctxFuncs = []scripting.Func{
		{Name: "after", Params: append([]scripting.Param{{Name: "delay", Type: "Duration"}}, timerParams...),
			Returns: []scripting.Param{{Name: "id", Type: "string"}}, Doc: "A durable timer: calls handler after delay, also across restarts."},
		{Name: "at", Params: append([]scripting.Param{{Name: "when", Type: "number|string", Doc: `epoch seconds or "HH:MM"`}}, timerParams...),
			Returns: []scripting.Param{{Name: "id", Type: "string"}}, Doc: "A durable timer at a time."},
		{Name: "cancel", Params: []scripting.Param{{Name: "id", Type: "string"}}, Doc: "Removes a timer."},
		{Name: "emit", Params: []scripting.Param{{Name: "name", Type: "string"}, {Name: "data", Type: "table", Optional: true}},
			Doc: "Publishes a custom event (event \"name\" triggers)."},
	}
)
