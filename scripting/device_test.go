package scripting_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

const (
	lampID  = "amzn1.alexa.endpoint.lamp"
	lampSrc = "rules/lamp.lua"
)

// fakeUpdate is one Update call the fake endpoints received.
type fakeUpdate struct {
	ID, Op string
	Args   []float64
}

// fakeEndpoints knows one endpoint, "Bedroom Lamp", and records calls.
type fakeEndpoints struct {
	resolves []string
	updates  []fakeUpdate
	gets     []string
	values   map[string]any   // Get answers by attribute
	fail     map[string]error // by operation, "get" or "resolve"
}

type notFound struct{ name string }

func (e *notFound) Error() string {
	return fmt.Sprintf("unknown device %q (did you mean \"Bedroom Lamp\"?)", e.name)
}
func (e *notFound) NotFound() bool { return true }

// remoteFailure is an error that describes itself as rules see it.
type remoteFailure struct {
	typ     string
	status  int
	message string
}

func (e *remoteFailure) Error() string { return "remote: " + e.message }
func (e *remoteFailure) Failure() (string, int, string) {
	return e.typ, e.status, e.message
}

func (f *fakeEndpoints) Resolve(_ context.Context, nameOrID string) (string, string, error) {
	f.resolves = append(f.resolves, nameOrID)
	if err := f.fail["resolve"]; err != nil {
		return "", "", err
	}
	if strings.EqualFold(nameOrID, "bedroom lamp") || nameOrID == lampID {
		return lampID, "Bedroom Lamp", nil
	}
	return "", "", &notFound{nameOrID}
}

func (f *fakeEndpoints) Update(_ context.Context, id, op string, args ...float64) error {
	f.updates = append(f.updates, fakeUpdate{ID: id, Op: op, Args: args})
	return f.fail[op]
}

func (f *fakeEndpoints) Get(_ context.Context, id, attr string) (any, error) {
	f.gets = append(f.gets, id+" "+attr)
	if err := f.fail["get"]; err != nil {
		return nil, err
	}
	return f.values[attr], nil
}

// fakeRun is the RunContext of a test run.
type fakeRun struct {
	dry     bool
	actions []engine.Action
	changes []engine.Change
}

func (r *fakeRun) Acted(c engine.Change) { r.changes = append(r.changes, c) }

func (r *fakeRun) Context() context.Context { return context.Background() }
func (r *fakeRun) Record(a engine.Action)   { r.actions = append(r.actions, a) }
func (r *fakeRun) Withheld() string {
	if r.dry {
		return engine.ResultDryRun
	}
	return ""
}
func (r *fakeRun) recorded() []engine.Action { return r.actions }

type fakeReadings map[string]time.Time

func (f fakeReadings) Last(id, attr string) (any, time.Time, bool) {
	at, ok := f[id+" "+attr]
	if !ok {
		return nil, time.Time{}, false
	}
	return 21.5, at, true
}

// devState is a sandboxed state with device() bound to run (nil: loading).
func devState(t *testing.T, run *fakeRun, eps scripting.Endpoints, rd scripting.Readings) *lua.LState {
	t.Helper()
	L := scripting.NewState(scripting.StateOptions{})
	t.Cleanup(L.Close)
	var rc scripting.RunContext
	if run != nil {
		rc = run
	}
	scripting.OpenDevice(L, rc, eps, rd)
	return L
}

// devDo runs src as the chunk lampSrc, inside a run (as the rule runner
// does, with a context on the state) when inRun, and returns its results.
func devDo(t *testing.T, L *lua.LState, inRun bool, src string) ([]lua.LValue, error) {
	t.Helper()
	proto, err := scripting.Compile(lampSrc, []byte(src))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if inRun {
		L.SetContext(context.Background())
		defer L.RemoveContext()
	}
	top := L.GetTop()
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		return nil, scripting.AsScriptError(err)
	}
	var out []lua.LValue
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, L.Get(i))
	}
	L.SetTop(top)
	return out, nil
}

func TestDeviceMethodsMapToOperations(t *testing.T) {
	tests := []struct {
		call  string
		op    string
		args  []float64
		trace []any
	}{
		{"on()", "turnOn", nil, nil},
		{"off()", "turnOff", nil, nil},
		{"set_brightness(20)", "setBrightness", []float64{20}, []any{20}},
		{"set_brightness(20.4)", "setBrightness", []float64{20}, []any{20}},
		{"set_brightness(0)", "setBrightness", []float64{0}, []any{0}},
		{"adjust_brightness(-30)", "adjustBrightness", []float64{-30}, []any{-30}},
		{"set_color({hue=200, saturation=0.5, brightness=0.25})", "setColor", []float64{200, 0.5, 0.25},
			[]any{map[string]any{"hue": 200, "saturation": 0.5, "brightness": 0.25}}},
		{"set_color('red')", "setColor", []float64{0, 1, 1}, []any{map[string]any{"hue": 0, "saturation": 1.0, "brightness": 1.0}}},
		{"set_color('#00FF00')", "setColor", []float64{120, 1, 1}, []any{map[string]any{"hue": 120, "saturation": 1.0, "brightness": 1.0}}},
		{"set_color('Dark Orange')", "setColor", []float64{33, 1, 1}, []any{map[string]any{"hue": 33, "saturation": 1.0, "brightness": 1.0}}},
		{"set_color_temperature(2700)", "setColorTemperature", []float64{2700}, []any{2700}},
		{"set_color_temperature('warm white')", "setColorTemperature", []float64{2200}, []any{2200}},
		{"set_color_temperature('Soft White')", "setColorTemperature", []float64{2700}, []any{2700}},
		{"set_color_temperature('white')", "setColorTemperature", []float64{4000}, []any{4000}},
		{"set_color_temperature('daylight')", "setColorTemperature", []float64{5500}, []any{5500}},
		{"set_color_temperature('cool white')", "setColorTemperature", []float64{7000}, []any{7000}},
		{"warmer()", "decreaseColorTemperature", nil, nil},
		{"cooler()", "increaseColorTemperature", nil, nil},
		{"set_volume(55)", "setVolume", []float64{55}, []any{55}},
		{"adjust_volume(-10)", "adjustVolume", []float64{-10}, []any{-10}},
		{"unpair_bluetooth()", "unpair", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			eps, run := &fakeEndpoints{}, &fakeRun{}
			L := devState(t, run, eps, nil)
			got, err := devDo(t, L, true, `return device("Bedroom Lamp"):`+tt.call)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != lua.LTrue {
				t.Errorf("returned %v, want true", got)
			}
			want := []fakeUpdate{{ID: lampID, Op: tt.op, Args: tt.args}}
			if !reflect.DeepEqual(eps.updates, want) {
				t.Errorf("updates = %+v, want %+v", eps.updates, want)
			}
			name, _, _ := strings.Cut(tt.call, "(")
			wantAction := []engine.Action{{Call: name, Device: "Bedroom Lamp", Result: true}}
			if tt.trace != nil {
				wantAction[0].Args = tt.trace
			}
			if !reflect.DeepEqual(run.recorded(), wantAction) {
				t.Errorf("recorded %#v, want %#v", run.recorded(), wantAction)
			}
		})
	}
}

func TestDeviceBadArgumentsRaiseBeforeAnyRequest(t *testing.T) {
	tests := []struct{ call, want string }{
		{"lamp:set_brightness(150)", "bad argument #1 to set_brightness (0..100 expected, got 150)"},
		{"lamp:set_brightness(-1)", "bad argument #1 to set_brightness (0..100 expected, got -1)"},
		{"lamp:set_brightness(100.5)", "bad argument #1 to set_brightness (0..100 expected, got 100.5)"},
		{"lamp:set_brightness('50')", `bad argument #1 to set_brightness (0..100 expected, got "50")`},
		{"lamp:set_brightness()", "bad argument #1 to set_brightness (0..100 expected, got nil)"},
		{"lamp:set_brightness(0/0)", "bad argument #1 to set_brightness (0..100 expected, got NaN)"},
		{"lamp:set_brightness(20, 30)", "bad argument #2 to set_brightness (no value expected, got 30)"},
		{"lamp:adjust_brightness(101)", "bad argument #1 to adjust_brightness (-100..100 expected, got 101)"},
		{"lamp:set_volume(true)", "bad argument #1 to set_volume (0..100 expected, got boolean)"},
		{"lamp:adjust_volume(-101)", "bad argument #1 to adjust_volume (-100..100 expected, got -101)"},
		{"lamp:set_color_temperature(500)", "bad argument #1 to set_color_temperature (1000..10000 expected, got 500)"},
		{"lamp:set_color_temperature('candle')", `bad argument #1 to set_color_temperature (1000..10000 or warm white, soft white, white, daylight, cool white expected, got "candle")`},
		{"lamp:set_color({hue=400, saturation=1, brightness=1})", "bad argument #1 to set_color (hue 0..360 expected, got 400)"},
		{"lamp:set_color({hue=10, saturation=2, brightness=1})", "bad argument #1 to set_color (saturation 0..1 expected, got 2)"},
		{"lamp:set_color({hue=10, saturation=1})", "bad argument #1 to set_color (brightness 0..1 expected, got nil)"},
		{"lamp:set_color({hue=10, sat=1, saturation=1, brightness=1})", `bad argument #1 to set_color (unknown colour field "sat" (hue, saturation, brightness expected))`},
		{"lamp:set_color('blurple')", `bad argument #1 to set_color (unknown colour "blurple")`},
		{"lamp:set_color('warm white')", `bad argument #1 to set_color ("warm white" is a shade of white: use set_color_temperature)`},
		{"lamp:set_color('#12345')", "bad argument #1 to set_color (colour #12345 is not #rrggbb)"},
		{"lamp:set_color(5)", `bad argument #1 to set_color (colour table, name or "#rrggbb" expected, got 5)`},
		{"lamp:on(true)", "bad argument #1 to on (no value expected, got boolean)"},
		{"lamp:unpair_bluetooth({})", "bad argument #1 to unpair_bluetooth (no value expected, got table)"},
		{"lamp:get('powr')", `bad argument #1 to get (power, brightness, color, color_temperature, volume, temperature, thermostat, thermostat_mode, target_setpoint, lower_setpoint, upper_setpoint, connectivity, bluetooth expected, got "powr")`},
		{"lamp:last(5)", "bad argument #1 to last (power, brightness, color, color_temperature, volume, temperature, thermostat, thermostat_mode, target_setpoint, lower_setpoint, upper_setpoint, connectivity, bluetooth expected, got 5)"},
		{"device()", "bad argument #1 to device (device name or id expected, got nil)"},
		{"device('  ')", `bad argument #1 to device (device name or id expected, got "  ")`},
		{"lamp.on()", "on must be called as a method, device:on(...) (got nil instead of a device)"},
		{"lamp.set_brightness(20)", "set_brightness must be called as a method, device:set_brightness(...) (got 20 instead of a device)"},
		{"lamp:swich_on()", "device has no field swich_on (it has adjust_brightness, adjust_volume, cooler, get, id, last, name, off, on, set_brightness, set_color, set_color_temperature, set_volume, unpair_bluetooth, warmer)"},
		{"lamp.name = 'x'", "device handles are read-only (cannot set name)"},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			eps, run := &fakeEndpoints{}, &fakeRun{}
			L := devState(t, run, eps, nil)
			_, err := devDo(t, L, true, "local lamp = device('Bedroom Lamp')\n"+tt.call+"\n")
			want := lampSrc + ":2: " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v\nwant    %s", err, want)
			}
			if len(eps.updates) != 0 || len(eps.gets) != 0 || len(run.actions) != 0 {
				t.Errorf("made requests %v %v or recorded %v", eps.updates, eps.gets, run.actions)
			}
		})
	}
}

func TestDeviceRemoteFailureReturnsNilErr(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		fields   string // type, status, message as the rule sees them
		str      string // tostring(err)
		recorded map[string]any
	}{
		{
			name:   "described",
			err:    &remoteFailure{typ: "ENDPOINT_UNREACHABLE", status: 400, message: "The endpoint is offline."},
			fields: "ENDPOINT_UNREACHABLE 400 The endpoint is offline.",
			str:    "ENDPOINT_UNREACHABLE (HTTP 400): The endpoint is offline.",
			recorded: map[string]any{"type": "ENDPOINT_UNREACHABLE", "status": 400,
				"message": "The endpoint is offline."},
		},
		{
			name:     "wrapped",
			err:      fmt.Errorf("retry abandoned: %w", &remoteFailure{typ: "RATE_LIMIT_EXCEEDED", status: 429, message: "slow down"}),
			fields:   "RATE_LIMIT_EXCEEDED 429 slow down",
			str:      "RATE_LIMIT_EXCEEDED (HTTP 429): slow down",
			recorded: map[string]any{"type": "RATE_LIMIT_EXCEEDED", "status": 429, "message": "slow down"},
		},
		{
			name:     "plain",
			err:      errors.New("connection refused"),
			fields:   "ERROR nil connection refused",
			str:      "ERROR: connection refused",
			recorded: map[string]any{"type": "ERROR", "message": "connection refused"},
		},
		{
			name:     "deadline",
			err:      fmt.Errorf("alexa: POST x: %w", context.DeadlineExceeded),
			fields:   "TIMEOUT nil alexa: POST x: context deadline exceeded",
			str:      "TIMEOUT: alexa: POST x: context deadline exceeded",
			recorded: map[string]any{"type": "TIMEOUT", "message": "alexa: POST x: context deadline exceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := &fakeEndpoints{fail: map[string]error{"setBrightness": tt.err}}
			run := &fakeRun{}
			L := devState(t, run, eps, nil)
			got, err := devDo(t, L, true, `
				local ok, err = device("Bedroom Lamp"):set_brightness(20)
				return ok, err.type .. " " .. tostring(err.status) .. " " .. err.message, tostring(err)`)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != lua.LNil || got[1].String() != tt.fields || got[2].String() != tt.str {
				t.Errorf("got %v, want nil, %q, %q", got, tt.fields, tt.str)
			}
			want := []engine.Action{{Call: "set_brightness", Device: "Bedroom Lamp", Args: []any{20}, Result: tt.recorded}}
			if !reflect.DeepEqual(run.actions, want) {
				t.Errorf("recorded %#v, want %#v", run.actions, want)
			}
		})
	}
}

func TestDeviceDryRunRecordsWithoutSending(t *testing.T) {
	eps := &fakeEndpoints{values: map[string]any{"power": "OFF"}}
	run := &fakeRun{dry: true}
	L := devState(t, run, eps, nil)
	got, err := devDo(t, L, true, `
		local lamp = device("bedroom lamp")
		return lamp:on(), lamp:set_color("#ff0000"), lamp:get("power")`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != lua.LTrue || got[1] != lua.LTrue || got[2].String() != "OFF" {
		t.Errorf("returned %v, want true, true, OFF", got)
	}
	if len(eps.updates) != 0 {
		t.Errorf("dry run sent %v", eps.updates)
	}
	if want := []string{lampID + " power"}; !reflect.DeepEqual(eps.gets, want) {
		t.Errorf("gets = %v, want %v (a dry run still reads)", eps.gets, want)
	}
	want := []engine.Action{
		{Call: "on", Device: "Bedroom Lamp", Result: "dry_run"},
		{Call: "set_color", Device: "Bedroom Lamp", Args: []any{map[string]any{"hue": 0, "saturation": 1.0, "brightness": 1.0}}, Result: "dry_run"},
		{Call: "get", Device: "Bedroom Lamp", Args: []any{"power"}, Result: "OFF"},
	}
	if !reflect.DeepEqual(run.actions, want) {
		t.Errorf("recorded %#v\nwant %#v", run.actions, want)
	}
}

func TestDeviceGet(t *testing.T) {
	eps := &fakeEndpoints{values: map[string]any{
		"power": "ON",
		"color": map[string]any{"hue": 20.0, "saturation": 0.5, "brightness": 0.7},
	}}
	run := &fakeRun{}
	L := devState(t, run, eps, nil)
	got, err := devDo(t, L, true, `
		local lamp = device("Bedroom Lamp")
		local c = lamp:get("color")
		return lamp:get("power"), c.hue, c.saturation, c.brightness`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[ON 20 0.5 0.7]" {
		t.Errorf("got %v", got)
	}
	if len(run.actions) != 2 || run.actions[1].Call != "get" || run.actions[1].Result != "ON" {
		t.Errorf("recorded %#v", run.actions)
	}

	eps.fail = map[string]error{"get": &remoteFailure{typ: "ENDPOINT_UNREACHABLE", message: "offline"}}
	got, err = devDo(t, L, true, `return device("Bedroom Lamp"):get("power")`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != lua.LNil || lua.LVAsString(got[1].(*lua.LTable).RawGetString("type")) != "ENDPOINT_UNREACHABLE" {
		t.Errorf("failed get returned %v, want nil, err", got)
	}
}

func TestDeviceLast(t *testing.T) {
	at := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	eps := &fakeEndpoints{}
	run := &fakeRun{}
	L := devState(t, run, eps, fakeReadings{lampID + " temperature": at})
	got, err := devDo(t, L, true, `
		local lamp = device("Bedroom Lamp")
		local v, t = lamp:last("temperature")
		return v, t, lamp:last("power")`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != lua.LNumber(21.5) || got[1] != scripting.TimeToLua(at) || got[2] != lua.LNil {
		t.Errorf("got %v, want 21.5, %v, nil", got, scripting.TimeToLua(at))
	}
	if len(eps.gets) != 0 || len(run.actions) != 0 {
		t.Errorf("last made requests %v or recorded %v", eps.gets, run.actions)
	}

	L = devState(t, run, eps, nil) // no poller yet
	got, err = devDo(t, L, true, `return device("Bedroom Lamp"):last("temperature")`)
	if err != nil || len(got) != 1 || got[0] != lua.LNil {
		t.Errorf("without readings: %v, %v; want nil", got, err)
	}
}

func TestDeviceAtLoadTimeDoesNotResolve(t *testing.T) {
	eps := &fakeEndpoints{}
	L := devState(t, nil, eps, nil)
	got, err := devDo(t, L, false, `
		local lamp = device("Bedroom Lamp")
		return lamp.name, lamp.id, tostring(lamp)`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != `[Bedroom Lamp nil device("Bedroom Lamp")]` {
		t.Errorf("got %v", got)
	}
	for _, call := range []string{"on()", "set_brightness(20)", "get('power')", "last('power')"} {
		_, err := devDo(t, L, false, "local lamp = device('Bedroom Lamp')\nlamp:"+call)
		want := lampSrc + ":2: device actions can only run inside a rule run"
		if err == nil || err.Error() != want {
			t.Errorf("%s at load: %v, want %s", call, err, want)
		}
	}
	if len(eps.resolves) != 0 || len(eps.updates) != 0 || len(eps.gets) != 0 {
		t.Errorf("loading touched the endpoints: %v %v %v", eps.resolves, eps.updates, eps.gets)
	}
}

// A rule instance runs its file's top level with a run context but outside
// any run; the handle made there resolves on its first use in a run.
func TestDeviceFromTopLevelResolvesOnFirstUse(t *testing.T) {
	eps, run := &fakeEndpoints{}, &fakeRun{}
	L := devState(t, run, eps, nil)
	if _, err := devDo(t, L, false, `lamp = device("BEDROOM LAMP")`); err != nil {
		t.Fatal(err)
	}
	if len(eps.resolves) != 0 {
		t.Fatalf("top level resolved %v", eps.resolves)
	}
	got, err := devDo(t, L, true, `lamp:on(); lamp:off(); return lamp.name, lamp.id`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[Bedroom Lamp "+lampID+"]" {
		t.Errorf("got %v", got)
	}
	if !reflect.DeepEqual(eps.resolves, []string{"BEDROOM LAMP"}) {
		t.Errorf("resolves = %v, want one", eps.resolves)
	}
}

func TestDeviceResolvesInRun(t *testing.T) {
	eps, run := &fakeEndpoints{}, &fakeRun{}
	L := devState(t, run, eps, nil)
	got, err := devDo(t, L, true, `
		local by_name, by_id = device("bedroom lamp"), device("`+lampID+`")
		local from_event = device({ name = "x", id = "`+lampID+`" })
		return by_name.id, by_id.name, from_event.name, device(by_name) == by_name`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "["+lampID+" Bedroom Lamp Bedroom Lamp true]" {
		t.Errorf("got %v", got)
	}
	if want := []string{"bedroom lamp", lampID, lampID}; !reflect.DeepEqual(eps.resolves, want) {
		t.Errorf("resolves = %v, want %v (once per device() call)", eps.resolves, want)
	}

	_, err = devDo(t, L, true, "local x = 1\nlocal lamp = device('Bedrom Lamp')")
	want := lampSrc + `:2: unknown device "Bedrom Lamp" (did you mean "Bedroom Lamp"?)`
	if err == nil || err.Error() != want {
		t.Errorf("unknown name: %v, want %s", err, want)
	}
}

func TestDeviceResolveFailureIsRetriedAndReported(t *testing.T) {
	eps := &fakeEndpoints{fail: map[string]error{"resolve": &remoteFailure{typ: "SERVICE_UNAVAILABLE", status: 503, message: "down"}}}
	run := &fakeRun{}
	L := devState(t, run, eps, nil)
	got, err := devDo(t, L, true, `
		lamp = device("Bedroom Lamp")
		local ok, err = lamp:on()
		return ok, tostring(err)`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[nil SERVICE_UNAVAILABLE (HTTP 503): down]" {
		t.Errorf("got %v", got)
	}
	if len(eps.updates) != 0 || len(eps.resolves) != 2 {
		t.Errorf("updates %v, resolves %v; want none and two", eps.updates, eps.resolves)
	}
	if len(run.actions) != 1 || run.actions[0].Device != "Bedroom Lamp" || run.actions[0].Call != "on" {
		t.Errorf("recorded %#v", run.actions)
	}

	delete(eps.fail, "resolve")
	if _, err := devDo(t, L, true, `assert(lamp:on())`); err != nil {
		t.Fatal(err)
	}
	if len(eps.updates) != 1 || eps.updates[0].ID != lampID {
		t.Errorf("after recovery: updates %v", eps.updates)
	}
}

// sentEndpoints are fake endpoints that say what they sent, as the
// household smart-home backend does for a colour it maps to a name.
type sentEndpoints struct {
	fakeEndpoints
	sent map[string]any // by operation
}

func (s *sentEndpoints) UpdateSent(ctx context.Context, id, op string, args ...float64) (any, error) {
	return s.sent[op], s.Update(ctx, id, op, args...)
}

// What the backend sent lands in the action's trace, on success and on
// failure; a backend that does not say records no "sent".
func TestDeviceTraceShowsWhatWasSent(t *testing.T) {
	red := map[string]any{"colorName": "red", "mapped": "hue 0 saturation 1 → red"}
	white := map[string]any{"colorTemperatureName": "warm_white"}
	eps := &sentEndpoints{sent: map[string]any{"setColor": red, "setColorTemperature": white}}
	eps.fail = map[string]error{"setColorTemperature": &remoteFailure{typ: "ENDPOINT_UNREACHABLE", message: "gone"}}
	run := &fakeRun{}
	L := devState(t, run, eps, nil)
	if _, err := devDo(t, L, true, `
		local lamp = device("Bedroom Lamp")
		lamp:set_color("#ff0000"); lamp:set_color_temperature(2200); lamp:on()`); err != nil {
		t.Fatal(err)
	}
	if len(run.actions) != 3 {
		t.Fatalf("recorded %#v", run.actions)
	}
	if got := run.actions[0]; !reflect.DeepEqual(got.Sent, red) || got.Result != true {
		t.Errorf("set_color recorded %#v, want sent %v", got, red)
	}
	if got := run.actions[1]; !reflect.DeepEqual(got.Sent, white) || got.Result == true {
		t.Errorf("failed set_color_temperature recorded %#v, want sent %v and the failure", got, white)
	}
	if got := run.actions[2]; got.Sent != nil {
		t.Errorf("on recorded sent %#v, want none", got.Sent)
	}
	plain := &fakeRun{}
	L = devState(t, plain, &fakeEndpoints{}, nil)
	if _, err := devDo(t, L, true, `device("Bedroom Lamp"):set_color("#ff0000")`); err != nil {
		t.Fatal(err)
	}
	if len(plain.actions) != 1 || plain.actions[0].Sent != nil {
		t.Errorf("endpoints that do not report: %#v", plain.actions)
	}
}
