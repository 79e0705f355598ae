package luadefs

import (
	"strings"

	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/ruletest"
	"github.com/alexarules/alexarules/scripting"
)

// Shapes of plain data the API returns or takes (RULES.md §3, §4).
var shapes = []struct {
	name, doc string
	fields    []scripting.Param
}{
	{"EventDevice", "The device an event is about.", []scripting.Param{{Name: "name", Type: "string"}, {Name: "id", Type: "string"}}},
	{"EventNotification", "The alarm, timer or reminder of an event.", []scripting.Param{{Name: "id", Type: "string"},
		{Name: "label", Type: "string?"}, {Name: "time", Type: "number?", Doc: "epoch seconds"}}},
	{"EventList", "The list of a list event.", []scripting.Param{{Name: "id", Type: "string"}, {Name: "name", Type: "string"}}},
	{"ListItem", "An item of an Alexa list.", []scripting.Param{{Name: "id", Type: "string"}, {Name: "text", Type: "string"}, {Name: "completed", Type: "boolean"}}},
	{"Alarm", "An Echo's alarm.", []scripting.Param{{Name: "id", Type: "string"}, {Name: "label", Type: "string"},
		{Name: "time", Type: "number?", Doc: "its next ring, epoch seconds; nil when it will not ring"}, {Name: "recurring", Type: "boolean"}}},
	{"AlexaError", "A remote failure (tostring(err) renders it).", []scripting.Param{{Name: "type", Type: "string", Doc: "e.g. ENDPOINT_UNREACHABLE, THROTTLED, TIMEOUT"},
		{Name: "status", Type: "integer?", Doc: "the HTTP status"}, {Name: "message", Type: "string"}}},
	{"Color", "A colour: hue 0..360, saturation and brightness 0..1.", []scripting.Param{{Name: "hue", Type: "number"},
		{Name: "saturation", Type: "number"}, {Name: "brightness", Type: "number"}}},
}

// events writes Event (every field any kind has) and one class per kind.
func (g *gen) events() {
	for _, s := range shapes[:4] {
		g.class(s.name, s.doc)
		for _, f := range s.fields {
			g.field(f)
		}
		g.blank()
	}
	kinds := rules.Events()
	g.class("Event", "The event a run handles. Fields beyond id, kind, trigger and time depend on ev.kind; "+
		"annotate ---@param ev ReadingEvent (and so on) for the fields of one kind.")
	for _, f := range rules.EventCommon() {
		g.field(f)
	}
	for _, f := range mergedFields(kinds) {
		g.field(f)
	}
	g.blank()
	for _, k := range kinds {
		g.class(eventClass(k.Kind)+" : Event", "An event of kind "+k.Kind+".")
		g.field(scripting.Param{Name: "kind", Type: `"` + k.Kind + `"`})
		for _, f := range k.Fields {
			g.field(f)
		}
		g.blank()
	}
}

// mergedFields are the fields of every kind, optional, with the kinds
// that have them; a field whose type differs between kinds is any.
func mergedFields(kinds []rules.EventAPI) []scripting.Param {
	var out []scripting.Param
	index := map[string]int{}
	for _, k := range kinds {
		for _, f := range k.Fields {
			i, seen := index[f.Name]
			if !seen {
				index[f.Name] = len(out)
				out = append(out, scripting.Param{Name: f.Name, Type: strings.TrimSuffix(f.Type, "?"), Optional: true, Doc: k.Kind})
				continue
			}
			if out[i].Type != strings.TrimSuffix(f.Type, "?") {
				out[i].Type = "any"
			}
			out[i].Doc += ", " + k.Kind
		}
	}
	return out
}

// eventClass names the class of an event kind: alexa.alarm ->
// AlexaAlarmEvent; custom events (kind "event") are CustomEvent.
func eventClass(kind string) string {
	if kind == "event" {
		return "CustomEvent"
	}
	return camel(kind) + "Event"
}

func (g *gen) ctx() {
	values, funcs := rules.CtxFields()
	g.class("CtxLog", "Log functions; lines carry the rule id.")
	g.line("local CtxLog = {}")
	g.blank()
	for _, f := range rules.CtxLog() {
		g.fn("CtxLog", ".", f)
	}
	g.class("Ctx", "The run context, the first argument of run and of handlers.")
	for _, v := range values {
		g.field(v)
	}
	g.line("local Ctx = {}")
	g.blank()
	for _, f := range funcs {
		g.fn("Ctx", ".", f)
	}
}

// bound writes device(), alexa.* and time.*.
func (g *gen) bound() {
	api := scripting.BoundAPI()
	for _, s := range shapes[4:] {
		g.class(s.name, s.doc)
		for _, f := range s.fields {
			g.field(f)
		}
		g.blank()
	}
	g.handle("Device", "An Alexa endpoint (light, plug, thermostat, speaker, ...).",
		[]scripting.Param{{Name: "name", Type: "string", Doc: "friendly name"}, {Name: "id", Type: "string?", Doc: "endpoint id, once resolved in a run"}},
		api.DeviceMethods)
	g.fn("", "", scripting.Func{Name: "device", Params: []scripting.Param{{Name: "name_or_id", Type: "string|EventDevice|Device"}},
		Returns: []scripting.Param{{Type: "Device"}}, Doc: "An endpoint by friendly name (case-insensitive) or id, or ev.device."})
	g.handle("Echo", "An Echo device.", []scripting.Param{{Name: "name", Type: "string"}, {Name: "serial", Type: "string?"}}, api.EchoMethods)
	g.handle("Echoes", "Several Echos (alexa.echoes): each action is one request to all of them.", nil, api.EchoesMethods)
	g.handle("AlexaList", "An Alexa list.", []scripting.Param{{Name: "name", Type: "string"}}, api.ListMethods)
	g.handle("Routine", "An Alexa routine (alexa.routine).", []scripting.Param{{Name: "name", Type: "string"}}, api.RoutineMethods)
	for _, c := range []struct {
		name, doc string
		fields    []scripting.Param
	}{
		{"AnnounceOptions", "Options of echo:announce.", api.AnnounceFields},
		{"Player", "What an Echo plays (echo:player()).", api.PlayerFields},
		{"RoutineInfo", "A routine of alexa.routines().", api.RoutineFields},
		{"LastCalled", "alexa.last_called(): the latest thing said to an Echo.", api.LastCalledFields},
	} {
		g.class(c.name, c.doc)
		for _, f := range c.fields {
			g.field(f)
		}
		g.blank()
	}
	g.class("ActionOptions", "Options of a device action, its last argument: lamp:on{ check_first = true }.")
	for _, f := range api.ActionOptions {
		g.field(f)
	}
	g.blank()
	g.class("RemindOptions", "The table of alexa.remind.")
	for _, f := range api.RemindFields {
		g.field(f)
	}
	g.blank()
	for _, f := range api.Alexa {
		var overloads []string
		for _, t := range rules.Triggers() {
			if t.Name == "alexa."+f.Name {
				overloads = append(overloads, "fun(opts?: "+optionsClass(t.Name)+"): Trigger # the "+t.Name+" trigger: "+t.Doc)
			}
		}
		g.fn("alexa", ".", f, overloads...)
	}
	g.line("time = {}")
	g.blank()
	for _, f := range api.Time {
		g.fn("time", ".", f)
	}
}

// handle writes a handle class with its fields and methods.
func (g *gen) handle(class, doc string, fields []scripting.Param, methods []scripting.Func) {
	g.class(class, doc)
	for _, f := range fields {
		g.field(f)
	}
	g.line("local %s = {}", class)
	g.blank()
	for _, m := range methods {
		g.fn(class, ":", m)
	}
}

func (g *gen) tests() {
	test, methods := ruletest.API()
	g.class("TestHousehold", "The simulated household of a rule test.")
	for _, f := range ruletest.HouseholdFields() {
		g.field(f)
	}
	g.blank()
	g.class("T", "The test handle of test(name, function(t) ... end).")
	g.line("local T = {}")
	g.blank()
	for _, m := range methods {
		g.fn("T", ".", m)
	}
	g.fn("", "", test)
}
