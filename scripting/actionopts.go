package scripting

import (
	"fmt"
	"math"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// ResultSkippedByCheck is the result of an action that check_first found
// done already: it was not sent.
const ResultSkippedByCheck = "skipped_by_check"

// actionOpts are the options table an update method takes after its
// arguments (RULES.md §4): lamp:on{ check_first = true },
// lamp:set_brightness(20, { revert_after = "30m" }).
type actionOpts struct {
	checkFirst  bool
	revertAfter time.Duration
}

// attrTarget says which attribute an update operation changes and, for
// the operations that set a value, which value it sets.
type attrTarget struct {
	attr string
	// value is the value the operation sets, from its payload; nil for
	// relative operations (adjust, warmer, cooler).
	value func(payload []float64) any
}

func fixed(v any) func([]float64) any { return func([]float64) any { return v } }

func first(p []float64) any { return p[0] }

func hsb(p []float64) any {
	return map[string]any{"hue": p[0], "saturation": p[1], "brightness": p[2]}
}

// targets are the update operations that change an attribute, by
// operation; unpair changes none and takes no options.
var targets = map[string]attrTarget{
	"turnOn":                   {"power", fixed("ON")},
	"turnOff":                  {"power", fixed("OFF")},
	"setBrightness":            {"brightness", first},
	"adjustBrightness":         {"brightness", nil},
	"setColor":                 {"color", hsb},
	"setColorTemperature":      {"color_temperature", first},
	"decreaseColorTemperature": {"color_temperature", nil},
	"increaseColorTemperature": {"color_temperature", nil},
	"setVolume":                {"volume", first},
	"adjustVolume":             {"volume", nil},
}

// noArgOperations take no argument before their options table.
var noArgOperations = map[string]bool{"turnOn": true, "turnOff": true, "decreaseColorTemperature": true,
	"increaseColorTemperature": true, "unpair": true}

// readActionOpts takes the options table from the call's arguments, if
// there is one, and removes it so the argument parser does not see it.
// It raises on an unknown or bad option.
func readActionOpts(L *lua.LState, call, operation string) actionOpts {
	n := 1 // the user's argument number of the options
	if !noArgOperations[operation] {
		n = 2
	}
	t, ok := L.Get(n + 1).(*lua.LTable)
	target, changes := targets[operation]
	if !ok || !changes || (n == 2 && L.GetTop() < 3) {
		return actionOpts{} // unpair takes none: its parser refuses the table
	}
	L.Remove(n + 1)
	var o actionOpts
	t.ForEach(func(k, v lua.LValue) {
		switch key := lua.LVAsString(k); key {
		case "check_first":
			b, isBool := v.(lua.LBool)
			if !isBool {
				argError(L, n, call, "check_first: boolean expected, got "+describe(v))
			}
			if b && target.value == nil {
				argError(L, n, call, "check_first: "+call+" sets no value to check (use it with set_* or on/off)")
			}
			o.checkFirst = bool(b)
		case "revert_after":
			d, err := ParseDuration(v)
			if err == nil && d <= 0 {
				err = fmt.Errorf("must be more than zero")
			}
			if err != nil {
				argError(L, n, call, "revert_after: "+err.Error())
			}
			o.revertAfter = d
		default:
			argError(L, n, call, fmt.Sprintf("unknown action option %s (check_first, revert_after)", describe(k)))
		}
	})
	return o
}

// sameValue reports whether a read attribute value already is the one an
// action would set: numbers to within rounding, strings in any case,
// colours field by field.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && strings.EqualFold(g, w)
	case float64:
		g, ok := toFloat(got)
		return ok && math.Abs(g-w) < 0.5
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			tol := 0.005
			if k == "hue" {
				tol = 0.5
			}
			gv, ok1 := toFloat(g[k])
			wf, ok2 := toFloat(wv)
			if !ok1 || !ok2 || math.Abs(gv-wf) > tol {
				return false
			}
		}
		return true
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// updateWithOpts performs an update that has options: check_first reads
// the attribute and skips the update when it already has the value;
// revert_after reads the value before the update and, once it was sent,
// asks the engine for a durable revert. A read that fails fails the call
// (nil, err) and nothing is sent: a revert needs the value to restore.
// In a dry or shadow run the reads still happen; nothing is sent and no
// revert is set.
func (d *deviceLib) updateWithOpts(L *lua.LState, h *handle, a engine.Action, operation string, payload []float64, o actionOpts) int {
	target := targets[operation]
	if err := d.resolve(L, h); err != nil {
		a.Device = h.label()
		return recordFailure(L, d.run, a, err)
	}
	a.Device = h.label()
	withheld := d.run.Withheld()
	var before any
	if o.checkFirst || (o.revertAfter > 0 && withheld == "") {
		v, err := d.eps.Get(d.run.Context(), h.id, target.attr)
		if err != nil {
			a.Note = "reading " + target.attr + " first failed: nothing sent"
			return recordFailure(L, d.run, a, err)
		}
		before = v
	}
	if o.checkFirst && sameValue(before, target.value(payload)) {
		a.Result, a.Note = ResultSkippedByCheck, fmt.Sprintf("check_first: %s is %v already", target.attr, before)
		d.run.Record(a)
		L.Push(lua.LTrue)
		return 1
	}
	if withheld != "" {
		a.Result = withheld
		d.run.Record(a)
		L.Push(lua.LTrue)
		return 1
	}
	var err error
	if a.Sent, err = d.send(h.id, operation, payload); err != nil {
		return recordFailure(L, d.run, a, err)
	}
	ch := engine.Change{DeviceID: h.id, Device: h.label(), Attr: target.attr}
	if o.revertAfter > 0 {
		ch.Before, ch.RevertAfter = before, o.revertAfter
		a.Note = fmt.Sprintf("revert_after %s: %s was %v", o.revertAfter, target.attr, before)
	}
	d.run.Acted(ch)
	return finish(L, d.run, a, nil, lua.LTrue, true)
}
