package ruletest

import "github.com/alexarules/alexarules/scripting"

// API describes the rule tests' API for editors (`alexarules types`): the
// global test(name, fn) and the functions of its t, in the order a test
// uses them. A test keeps the list equal to the functions t has.
func API() (test scripting.Func, t []scripting.Func) {
	return testSig, append([]scripting.Func(nil), tSigs...)
}

// HouseholdFields describes the fields of t.household's table.
func HouseholdFields() []scripting.Param { return append([]scripting.Param(nil), householdSigs...) }

var (
	householdSigs = []scripting.Param{
		{Name: "endpoints", Type: "table[]", Optional: true, Doc: `Endpoint Features devices: { name=, power=, brightness=, color=, temperature=, connectivity=, ... }`},
		{Name: "smarthome", Type: "table[]", Optional: true, Doc: `household smart-home devices (they then back device()): { name=, type=, aliases=, power=, ... }`},
		{Name: "groups", Type: "table[]", Optional: true, Doc: "smart-home groups: { name=, members = { names or ids } }"},
		{Name: "echos", Type: "table[]", Optional: true, Doc: "{ name=, serial=, timezone=, dnd=, family=, members= } (family \"WHA\", members = { serials }: a speaker group)"},
		{Name: "routines", Type: "table[]", Optional: true, Doc: `Alexa routines: { name=, utterances = { "good night" } }`},
		{Name: "players", Type: "table[]", Optional: true, Doc: `what Echos play: { echo=, state = "PLAYING", title=, artist=, provider=, position=, volume= }`},
		{Name: "lists", Type: "table[]", Optional: true, Doc: `{ name=, items = { "text" or { text=, completed= } } }`},
	}

	testSig = scripting.Func{Name: "test", Params: []scripting.Param{{Name: "name", Type: "string"},
		{Name: "fn", Type: "fun(t: T)"}},
		Doc: "Declares a rule test (in a *_test.lua file beside the rules); `alexarules test DIR` runs it with a fresh engine on a virtual clock."}

	at = scripting.Param{Name: "at", Type: "string|number", Doc: `"HH:MM" (next occurrence), "YYYY-MM-DD HH:MM" or epoch seconds`}

	tSigs = []scripting.Func{
		{Name: "household", Params: []scripting.Param{{Name: "h", Type: "TestHousehold"}},
			Doc: "Sets the simulated household, before the engine starts (before t.advance, t.event and the expectations)."},
		{Name: "clock", Params: []scripting.Param{{Name: "time", Type: "string", Doc: `"YYYY-MM-DD HH:MM" in the rules' time zone`}},
			Doc: "Sets the virtual clock; once the engine runs, moves it forward to that time, running everything due."},
		{Name: "advance", Params: []scripting.Param{{Name: "d", Type: "Duration"}},
			Doc: "Advances the virtual clock, running everything due in order."},
		{Name: "event", Params: []scripting.Param{{Name: "name", Type: "string"}, {Name: "data", Type: "table", Optional: true}},
			Doc: "Publishes a custom event and waits for the runs it causes."},
		{Name: "alarm", Params: []scripting.Param{{Name: "a", Type: "{ device: string, at: string|number, label: string?, id: string? }", Doc: at.Doc}},
			Doc: "Sets an alarm on an Echo, as the Alexa app would; it rings when the clock reaches at."},
		{Name: "list_add", Params: []scripting.Param{{Name: "list", Type: "string"}, {Name: "text", Type: "string"}},
			Doc: "Adds an item to a list as if spoken to an Echo."},
		{Name: "reading", Params: []scripting.Param{{Name: "device", Type: "string"}, {Name: "attr", Type: "string"}, {Name: "value", Type: "any"}},
			Doc: "Changes a reading of a device and hands the change to the engine as the poller would (connectivity: a reachability change)."},
		{Name: "voice", Params: []scripting.Param{{Name: "echo", Type: "string"}, {Name: "text", Type: "string"},
			{Name: "opts", Type: "{ reply: string?, person: string?, delay: Duration? }", Optional: true,
				Doc: "delay: until the voice history shows it (default 1s)"}},
			Doc: "Speaks to an Echo (POST /_sim/voice: the history record and the push burst) and moves the clock on, a few seconds, until the engine has heard it from the voice history."},
		{Name: "push", Params: []scripting.Param{{Name: "body", Type: "table", Doc: `as POST /_sim/push: { command = "PUSH_...", payload = { ... } }`}},
			Doc: "Sends one push from the simulated cloud."},
		{Name: "restart", Doc: "Restarts the engine: state, timers and holds survive."},
		{Name: "expect_call", Params: []scripting.Param{{Name: "device", Type: "string"}, {Name: "operation", Type: "string", Doc: "turnOn, setBrightness, ... or the method: speak, announce, dnd, pause, run (a routine: device is its name), ..."},
			{Name: "args", Type: "any", Optional: true}}, Doc: "Fails unless the device received the operation (with these arguments)."},
		{Name: "expect_no_call", Params: []scripting.Param{{Name: "device", Type: "string"}, {Name: "operation", Type: "string", Optional: true}},
			Doc: "Fails if the device received the operation (any operation, without one)."},
		{Name: "expect_value", Params: []scripting.Param{{Name: "device", Type: "string"}, {Name: "attr", Type: "string"}, {Name: "value", Type: "any"}},
			Doc: "Fails unless the device's attribute has the value in the household."},
		{Name: "expect_state", Params: []scripting.Param{{Name: "rule", Type: "string"}, {Name: "key", Type: "string"}, {Name: "value", Type: "any"}},
			Doc: "Fails unless ctx.state[key] of the rule has the value."},
		{Name: "expect_run", Params: []scripting.Param{{Name: "rule", Type: "string"}, {Name: "outcome", Type: "string", Doc: "ok, failed, timeout, skipped, dry_run, shadow, ..."},
			{Name: "why", Type: "string", Optional: true, Doc: "found in the reason (why it was skipped or ran late) or the error"}},
			Doc: "Fails unless the rule's latest run had the outcome."},
	}
)
