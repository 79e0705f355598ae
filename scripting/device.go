package scripting

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// Endpoints is what device() needs from the Alexa side; alexa.Directory
// implements it. Every method gets the run's context.
type Endpoints interface {
	// Resolve finds an endpoint by friendly name (case-insensitive) or id.
	// An unknown or ambiguous name is reported by an error with a method
	// NotFound() bool returning true: device() raises it as the rule's
	// mistake. Any other error is a remote failure and is retried on the
	// next use of the handle.
	Resolve(ctx context.Context, nameOrID string) (id, name string, err error)
	// Update performs an Endpoint Features update operation named as in
	// the reference (turnOn, setBrightness, setColor, unpair, ...) with its
	// payload fields in order (setColor: hue, saturation, brightness).
	Update(ctx context.Context, endpointID, operation string, args ...float64) error
	// Get reads one attribute with a live request and returns it as plain
	// data (string, float64, map[string]any, []any).
	Get(ctx context.Context, endpointID, attr string) (any, error)
}

// SentReporter is implemented by Endpoints whose backend may send
// something else than the call's arguments (the household smart-home
// API takes a colour or a colour temperature by name): UpdateSent is
// Update that also returns what was sent (plain data; nil when nothing
// was), which the trace records as the action's "sent", also when the
// call failed.
type SentReporter interface {
	UpdateSent(ctx context.Context, endpointID, operation string, args ...float64) (sent any, err error)
}

// Readings gives device:last(attr): the last polled value of an attribute
// and when it was seen, without a request.
type Readings interface {
	Last(endpointID, attr string) (value any, at time.Time, ok bool)
}

// DeviceFailure is implemented by errors of an Endpoints implementation
// that know how a failure looks to a rule: err.type (such as
// ENDPOINT_UNREACHABLE), err.status (the HTTP status; 0 when there was no
// answer) and err.message. Other errors become type TIMEOUT, CANCELED or
// ERROR with the error's text as the message.
type DeviceFailure interface {
	error
	Failure() (typ string, status int, message string)
}

// notInRun is the error of an action attempted while a rule file loads
// (or outside any run).
const notInRun = "device actions can only run inside a rule run"

// Attributes device:get and device:last accept: those of RULES.md §4 plus
// the thermostat's single readings.
var deviceAttributes = []string{"power", "brightness", "color", "color_temperature", "volume",
	"temperature", "thermostat", "thermostat_mode", "target_setpoint", "lower_setpoint",
	"upper_setpoint", "connectivity", "bluetooth"}

const (
	deviceType      = "scripting.device"
	deviceErrorType = "scripting.device_error"
)

// OpenDevice installs the global device(name_or_id) (RULES.md §4) into L.
// run is the state's run context: nil while a rule file loads, when
// device() only records the name and every method raises "device actions can only run inside a rule
// run". A
// run is in progress while run is non-nil and L has a context (the rule
// runner sets it for each invocation); only then does device() resolve
// the name, through eps, so that loading a file never touches the network.
// readings may be nil: device:last then returns nil.
//
// Lua API:
//
//	device(name_or_id) -> handle       (also accepts ev.device or a handle)
//	h.name, h.id                       friendly name and endpoint id
//	h:on(), h:off()                    power turnOn / turnOff
//	h:set_brightness(0..100)           brightness setBrightness
//	h:adjust_brightness(-100..100)     brightness adjustBrightness
//	h:set_color(c)                     color setColor; c = {hue=0..360, saturation=0..1,
//	                                   brightness=0..1}, a colour name or "#rrggbb"
//	h:set_color_temperature(k)         1000..10000 kelvin or a name (see ColorTemperature)
//	h:warmer(), h:cooler()             decrease / increaseColorTemperature
//	h:set_volume(0..100)               speaker setVolume
//	h:adjust_volume(-100..100)         speaker adjustVolume
//	h:unpair_bluetooth()               bluetooth unpair
//	h:get(attr) -> value               live read
//	h:last(attr) -> value, time        last polled value, or nil
//
// Actions return true, or nil and an error table {type=, status=,
// message=} that tostring() renders, when the request fails. Bad arguments
// raise "bad argument #n to <call> (...)" at the caller's file:line before
// any request. Every action and get is recorded through run.Record; in a
// dry run actions are recorded with result "dry_run" and not sent (get
// still reads). Whole-number fields (brightness, volume, kelvin, hue) are
// rounded to the nearest integer after the range check.
func OpenDevice(L *lua.LState, run RunContext, eps Endpoints, readings Readings) {
	d := &deviceLib{run: run, eps: eps, readings: readings}
	L.SetGlobal("device", L.NewFunction(d.device))
}

// deviceMethods are the methods of a device handle. A state makes a Lua
// function of one only when a rule first uses it, and the handles'
// metatable on the first device() call: every rule's state has this API,
// most use little of it, and each function costs a few hundred bytes.
var deviceMethods = map[string]func(d *deviceLib) lua.LGFunction{
	"on":  func(d *deviceLib) lua.LGFunction { return d.update("on", "turnOn", noArgs) },
	"off": func(d *deviceLib) lua.LGFunction { return d.update("off", "turnOff", noArgs) },
	"set_brightness": func(d *deviceLib) lua.LGFunction {
		return d.update("set_brightness", "setBrightness", wholeArg(0, 100))
	},
	"adjust_brightness": func(d *deviceLib) lua.LGFunction {
		return d.update("adjust_brightness", "adjustBrightness", wholeArg(-100, 100))
	},
	"set_color": func(d *deviceLib) lua.LGFunction { return d.update("set_color", "setColor", colorArg) },
	"set_color_temperature": func(d *deviceLib) lua.LGFunction {
		return d.update("set_color_temperature", "setColorTemperature", kelvinArg)
	},
	"warmer":     func(d *deviceLib) lua.LGFunction { return d.update("warmer", "decreaseColorTemperature", noArgs) },
	"cooler":     func(d *deviceLib) lua.LGFunction { return d.update("cooler", "increaseColorTemperature", noArgs) },
	"set_volume": func(d *deviceLib) lua.LGFunction { return d.update("set_volume", "setVolume", wholeArg(0, 100)) },
	"adjust_volume": func(d *deviceLib) lua.LGFunction {
		return d.update("adjust_volume", "adjustVolume", wholeArg(-100, 100))
	},
	"unpair_bluetooth": func(d *deviceLib) lua.LGFunction { return d.update("unpair_bluetooth", "unpair", noArgs) },
	"get":              func(d *deviceLib) lua.LGFunction { return d.get },
	"last":             func(d *deviceLib) lua.LGFunction { return d.last },
}

// metatable returns the handles' metatable, made on first use.
func (d *deviceLib) metatable(L *lua.LState) *lua.LTable {
	if d.mt != nil {
		return d.mt
	}
	mt := typeMetatable(L, deviceType, 4)
	mt.RawSetString("__index", L.NewFunction(d.index))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("device handles are read-only (cannot set %s)", L.Get(2).String())
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		h := L.CheckUserData(1).Value.(*handle)
		L.Push(lua.LString(fmt.Sprintf("device(%q)", h.label())))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("device"))
	d.mt = mt
	return mt
}

// method returns the Lua function of a method, made on first use.
func (d *deviceLib) method(L *lua.LState, name string) (*lua.LFunction, bool) {
	if fn, ok := d.methods[name]; ok {
		return fn, true
	}
	mk, ok := deviceMethods[name]
	if !ok {
		return nil, false
	}
	if d.methods == nil {
		d.methods = map[string]*lua.LFunction{}
	}
	fn := L.NewFunction(mk(d))
	d.methods[name] = fn
	return fn, true
}

// deviceLib is the device API of one Lua state.
type deviceLib struct {
	run      RunContext
	eps      Endpoints
	readings Readings
	methods  map[string]*lua.LFunction // made on first use
	mt       *lua.LTable
}

// handle is a device() value. It resolves its name once, on the first use
// inside a run, and keeps the id for the life of the state.
type handle struct {
	query    string // as given to device()
	id, name string // once resolved
	resolved bool
}

func (h *handle) label() string {
	if h.resolved {
		return h.name
	}
	return h.query
}

// inRun reports whether a run is in progress: the runner sets L's context
// for each invocation and removes it afterwards.
func (d *deviceLib) inRun(L *lua.LState) bool {
	return d.run != nil && L.Context() != nil
}

func (d *deviceLib) device(L *lua.LState) int {
	var query string
	switch v := L.Get(1).(type) {
	case lua.LString:
		query = strings.TrimSpace(string(v))
	case *lua.LTable: // ev.device: prefer the id, which never changes
		for _, key := range []string{"id", "name"} {
			if s, ok := v.RawGetString(key).(lua.LString); ok && strings.TrimSpace(string(s)) != "" {
				query = strings.TrimSpace(string(s))
				break
			}
		}
	case *lua.LUserData:
		if _, ok := v.Value.(*handle); ok {
			L.Push(v)
			return 1
		}
	}
	if query == "" {
		argError(L, 1, "device", "device name or id expected, got "+describe(L.Get(1)))
	}
	h := &handle{query: query}
	if d.inRun(L) && d.eps != nil {
		// A remote failure leaves the handle unresolved: its first action
		// retries and reports the failure as nil, err.
		_ = d.resolve(L, h)
	}
	ud := L.NewUserData()
	ud.Value = h
	L.SetMetatable(ud, d.metatable(L))
	L.Push(ud)
	return 1
}

// resolve resolves h if needed. An unknown name raises a Lua error; a
// remote failure is returned.
func (d *deviceLib) resolve(L *lua.LState, h *handle) error {
	if h.resolved {
		return nil
	}
	if d.eps == nil {
		L.RaiseError("device %q: no Alexa account is configured", h.query)
	}
	id, name, err := d.eps.Resolve(d.run.Context(), h.query)
	if err != nil {
		var nf interface{ NotFound() bool }
		if errors.As(err, &nf) && nf.NotFound() {
			L.RaiseError("%s", err.Error())
		}
		return err
	}
	h.id, h.name, h.resolved = id, name, true
	return nil
}

func (d *deviceLib) index(L *lua.LState) int {
	h := L.CheckUserData(1).Value.(*handle)
	key := L.Get(2)
	switch key.String() {
	case "name", "id":
		if d.inRun(L) && d.eps != nil {
			_ = d.resolve(L, h)
		}
		switch {
		case key.String() == "name":
			L.Push(lua.LString(h.label()))
		case h.resolved:
			L.Push(lua.LString(h.id))
		default:
			L.Push(lua.LNil) // unknown until resolved inside a run
		}
		return 1
	}
	if fn, ok := d.method(L, key.String()); ok {
		L.Push(fn)
		return 1
	}
	names := make([]string, 0, len(deviceMethods)+2)
	for n := range deviceMethods {
		names = append(names, n)
	}
	names = append(names, "name", "id")
	slices.Sort(names)
	L.RaiseError("device has no field %s (it has %s)", key.String(), strings.Join(names, ", "))
	return 0
}

// self checks the method's receiver: a device called with "." instead of
// ":" otherwise fails confusingly.
func self(L *lua.LState, call string) *handle {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if h, ok := ud.Value.(*handle); ok {
			return h
		}
	}
	L.RaiseError("%s must be called as a method, device:%s(...) (got %s instead of a device)", call, call, describe(L.Get(1)))
	return nil
}

// argParser validates a method's arguments (Lua stack index 2 onwards) and
// returns the operation's payload and the arguments for the trace. It
// raises on a bad argument.
type argParser func(L *lua.LState, call string) (payload []float64, trace []any)

func (d *deviceLib) update(call, operation string, parse argParser) lua.LGFunction {
	return func(L *lua.LState) int {
		h := self(L, call)
		if !d.inRun(L) {
			L.RaiseError(notInRun)
		}
		opts := readActionOpts(L, call, operation)
		payload, args := parse(L, call)
		a := engine.Action{Call: call}
		if len(args) > 0 { // a nil []any in Args would still be JSON null
			a.Args = args
		}
		if opts != (actionOpts{}) {
			return d.updateWithOpts(L, h, a, operation, payload, opts)
		}
		if w := d.run.Withheld(); w != "" {
			if d.eps != nil {
				_ = d.resolve(L, h) // catches a misspelt name; a remote failure does not matter
			}
			a.Device, a.Result = h.label(), w
			d.run.Record(a)
			L.Push(lua.LTrue)
			return 1
		}
		err := d.resolve(L, h)
		if err == nil {
			a.Sent, err = d.send(h.id, operation, payload)
		}
		a.Device = h.label()
		if t, ok := targets[operation]; ok && err == nil {
			d.run.Acted(engine.Change{DeviceID: h.id, Device: h.label(), Attr: t.attr}) // cancels a pending revert
		}
		return finish(L, d.run, a, err, lua.LTrue, true)
	}
}

// send performs the update, with what was sent when the Endpoints say.
func (d *deviceLib) send(id, operation string, payload []float64) (sent any, err error) {
	if r, ok := d.eps.(SentReporter); ok {
		return r.UpdateSent(d.run.Context(), id, operation, payload...)
	}
	return nil, d.eps.Update(d.run.Context(), id, operation, payload...)
}

// finish records a and pushes the call's results: ok (with result as the
// recorded value) or nil, err. device() and alexa.* share it.
func finish(L *lua.LState, run RunContext, a engine.Action, err error, ok lua.LValue, result any) int {
	if err != nil {
		return recordFailure(L, run, a, err)
	}
	a.Result = result
	run.Record(a)
	L.Push(ok)
	return 1
}

// recordFailure records a failed action with its failure and returns nil,
// err to the rule; device() and alexa.* share it.
func recordFailure(L *lua.LState, run RunContext, a engine.Action, err error) int {
	a.Result = pushFailure(L, err)
	run.Record(a)
	return 2
}

// pushFailure pushes nil, err (the two results of a failed call) and
// returns the failure as the trace records it.
func pushFailure(L *lua.LState, err error) map[string]any {
	t, m := failureTable(L, err)
	L.Push(lua.LNil)
	L.Push(t)
	return m
}

func (d *deviceLib) get(L *lua.LState) int {
	const call = "get"
	h := self(L, call)
	if !d.inRun(L) {
		L.RaiseError(notInRun)
	}
	attr := attrArg(L, call)
	// A dry run reads too: a read changes nothing.
	var v any
	err := d.resolve(L, h)
	if err == nil {
		v, err = d.eps.Get(d.run.Context(), h.id, attr)
	}
	a := engine.Action{Call: call, Device: h.label(), Args: []any{attr}}
	return finish(L, d.run, a, err, ToLua(L, v), v)
}

func (d *deviceLib) last(L *lua.LState) int {
	const call = "last"
	h := self(L, call)
	if !d.inRun(L) {
		L.RaiseError(notInRun)
	}
	attr := attrArg(L, call)
	if d.readings == nil || d.eps == nil || d.resolve(L, h) != nil {
		L.Push(lua.LNil)
		return 1
	}
	v, at, ok := d.readings.Last(h.id, attr)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(ToLua(L, v))
	L.Push(TimeToLua(at))
	return 2
}

// failureTable turns a remote failure into the rule's {type=, status=,
// message=} (with tostring) and the same fields as plain data for the
// trace. device() and the alexa.* API share it.
func failureTable(L *lua.LState, err error) (*lua.LTable, map[string]any) {
	typ, status, msg := "ERROR", 0, err.Error()
	var f DeviceFailure
	switch {
	case errors.As(err, &f):
		typ, status, msg = f.Failure()
	case errors.Is(err, context.DeadlineExceeded):
		typ = "TIMEOUT"
	case errors.Is(err, context.Canceled):
		typ = "CANCELED"
	}
	t := L.CreateTable(0, 3)
	m := map[string]any{"type": typ, "message": msg}
	t.RawSetString("type", lua.LString(typ))
	t.RawSetString("message", lua.LString(msg))
	if status != 0 {
		t.RawSetString("status", lua.LNumber(status))
		m["status"] = status
	}
	mt := typeMetatable(L, deviceErrorType, 1) // the registered one, once made
	if mt.RawGetString("__tostring") == lua.LNil {
		mt.RawSetString("__tostring", L.NewFunction(errorString))
	}
	L.SetMetatable(t, mt)
	return t, m
}

// errorString is the error table's __tostring:
// "ENDPOINT_UNREACHABLE (HTTP 400): The endpoint is offline.".
func errorString(L *lua.LState) int {
	t := L.CheckTable(1)
	s := t.RawGetString("type").String()
	if st, ok := t.RawGetString("status").(lua.LNumber); ok {
		s += " (HTTP " + st.String() + ")"
	}
	if m, ok := t.RawGetString("message").(lua.LString); ok && m != "" {
		s += ": " + string(m)
	}
	L.Push(lua.LString(s))
	return 1
}

// argError raises "bad argument #n to call (msg)" at the caller's
// file:line. n counts the user's arguments, after the receiver of a
// method: gopher-lua's ArgError would count the receiver too.
func argError(L *lua.LState, n int, call, msg string) {
	L.RaiseError("bad argument #%d to %s (%s)", n, call, msg)
}

// describe is how a bad argument appears in messages: numbers and strings
// by value, anything else by type.
func describe(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LNumber:
		return x.String()
	case lua.LString:
		return strconv.Quote(string(x))
	}
	return v.Type().String()
}

// noMore raises on a non-nil argument of a method after the first `used`
// ones (the receiver not counted): a mistyped options table must not be
// ignored silently.
func noMore(L *lua.LState, call string, used int) { extraArgs(L, call, used, 1) }

// noMoreArgs is noMore for a function (no receiver).
func noMoreArgs(L *lua.LState, call string, used int) { extraArgs(L, call, used, 0) }

// extraArgs raises on a non-nil argument after the first used ones, which
// follow self receiver slots; messages number the arguments without them.
func extraArgs(L *lua.LState, call string, used, self int) {
	for n := used + 1; n+self <= L.GetTop(); n++ {
		if v := L.Get(n + self); v != lua.LNil {
			argError(L, n, call, "no value expected, got "+describe(v))
		}
	}
}

func noArgs(L *lua.LState, call string) ([]float64, []any) {
	noMore(L, call, 0)
	return nil, nil
}

// wholeArg reads one number in lo..hi and rounds it: the API types these
// fields Integer.
func wholeArg(lo, hi float64) argParser {
	return func(L *lua.LState, call string) ([]float64, []any) {
		n := checkRange(L, 1, call, L.Get(2), lo, hi, "", true)
		noMore(L, call, 1)
		return []float64{n}, []any{int(n)}
	}
}

// checkRange reads v, the user's argument n (or its field, when field is
// not ""), as a number in lo..hi, rounded to a whole number if round.
func checkRange(L *lua.LState, n int, call string, v lua.LValue, lo, hi float64, field string, round bool) float64 {
	num, ok := v.(lua.LNumber)
	if !ok || !(float64(num) >= lo && float64(num) <= hi) { // also rejects NaN
		label := ""
		if field != "" {
			label = field + " "
		}
		argError(L, n, call, fmt.Sprintf("%s%g..%g expected, got %s", label, lo, hi, describe(v)))
	}
	f := float64(num)
	if round {
		f = math.Round(f)
	}
	return f
}

// colorArg reads a colour table, name or "#rrggbb" and sends hue as a
// whole number, as the API requires.
func colorArg(L *lua.LState, call string) ([]float64, []any) {
	var c HSB
	switch v := L.Get(2).(type) {
	case *lua.LTable:
		var unknown []string
		v.ForEach(func(k, _ lua.LValue) {
			if s, ok := k.(lua.LString); !ok || (s != "hue" && s != "saturation" && s != "brightness") {
				unknown = append(unknown, describe(k))
			}
		})
		if len(unknown) > 0 {
			slices.Sort(unknown)
			argError(L, 1, call, "unknown colour field "+strings.Join(unknown, ", ")+
				" (hue, saturation, brightness expected)")
		}
		c.Hue = checkRange(L, 1, call, v.RawGetString("hue"), 0, 360, "hue", true)
		c.Saturation = checkRange(L, 1, call, v.RawGetString("saturation"), 0, 1, "saturation", false)
		c.Brightness = checkRange(L, 1, call, v.RawGetString("brightness"), 0, 1, "brightness", false)
	case lua.LString:
		var err error
		if c, err = ParseColor(string(v)); err != nil {
			argError(L, 1, call, err.Error())
		}
		// 359.6 rounds to 360, which the API allows; keep the usual 0.
		c.Hue = math.Mod(math.Round(c.Hue), 360)
	default:
		argError(L, 1, call, "colour table, name or \"#rrggbb\" expected, got "+describe(v))
	}
	noMore(L, call, 1)
	trace := map[string]any{"hue": int(c.Hue), "saturation": c.Saturation, "brightness": c.Brightness}
	return []float64{c.Hue, c.Saturation, c.Brightness}, []any{trace}
}

// kelvinArg reads 1000..10000 kelvin or a named shade of white.
func kelvinArg(L *lua.LState, call string) ([]float64, []any) {
	var k float64
	if s, ok := L.Get(2).(lua.LString); ok {
		kelvin, ok := ColorTemperature(string(s))
		if !ok {
			argError(L, 1, call, "1000..10000 or warm white, soft white, white, daylight, cool white expected, got "+describe(s))
		}
		k = float64(kelvin)
	} else {
		k = checkRange(L, 1, call, L.Get(2), 1000, 10000, "", true)
	}
	noMore(L, call, 1)
	return []float64{k}, []any{int(k)}
}

// attrArg reads the attribute name of get and last.
func attrArg(L *lua.LState, call string) string {
	v := L.Get(2)
	s, ok := v.(lua.LString)
	if !ok || !slices.Contains(deviceAttributes, string(s)) {
		argError(L, 1, call, strings.Join(deviceAttributes, ", ")+" expected, got "+describe(v))
	}
	noMore(L, call, 1)
	return string(s)
}
