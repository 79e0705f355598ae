package sim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

const (
	lamp    = "amzn1.alexa.endpoint.lamp"
	speaker = "amzn1.alexa.endpoint.speaker"
	thermo  = "amzn1.alexa.endpoint.thermo"
	sample  = "2026-03-02T06:59:00.12Z"
)

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("answer\n%s\nwant\n%s", got, want)
	}
}

func TestGetFeatures(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	ops := func(id, feature string, names ...string) string {
		var s strings.Builder
		for i, n := range names {
			if i > 0 {
				s.WriteString(",")
			}
			s.WriteString(fmt.Sprintf(`{"name":%q,"path":"/v2/endpoints/%s/features/%s/%s"}`, n, id, feature, n))
		}
		return "[" + s.String() + "]"
	}
	tests := []struct {
		id, feature, want string
	}{
		{lamp, "power", `{"properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":"OFF"},"timeOfSample":"` + sample + `"}],
			"operations":` + ops(lamp, "power", "turnOn", "turnOff") + `}`},
		{lamp, "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{"value":50},"timeOfSample":"` + sample + `"}],
			"operations":` + ops(lamp, "brightness", "setBrightness", "adjustBrightness") + `}`},
		{lamp, "color", `{"properties":[{"name":"color","type":"RETRIEVABLE","value":{"hue":20,"saturation":0.5,"brightness":0.7},"timeOfSample":"` + sample + `"}],
			"operations":` + ops(lamp, "color", "setColor") + `}`},
		{lamp, "colorTemperature", `{"properties":[{"name":"colorTemperatureInKelvin","type":"RETRIEVABLE","value":{"value":2700},"timeOfSample":"` + sample + `"}],
			"operations":` + ops(lamp, "colorTemperature", "setColorTemperature", "increaseColorTemperature", "decreaseColorTemperature") + `}`},
		{lamp, "connectivity", `{"properties":[{"name":"reachability","type":"RETRIEVABLE","value":{"value":"OK"},"timeOfSample":"` + sample + `"}]}`},
		{speaker, "speaker", `{"properties":[{"name":"volume","type":"RETRIEVABLE","value":{"value":42},"timeOfSample":"` + sample + `"}],
			"operations":` + ops(speaker, "speaker", "setVolume", "adjustVolume") + `}`},
		{speaker, "bluetooth", `{"operations":` + ops(speaker, "bluetooth", "unpair") + `}`},
		{thermo, "temperatureSensor", `{"properties":[{"name":"temperature","type":"RETRIEVABLE","value":{"value":68,"scale":"FAHRENHEIT"},"timeOfSample":"` + sample + `"}]}`},
		{thermo, "thermostat", `{"properties":[
			{"name":"thermostatMode","type":"RETRIEVABLE","value":{"value":"AUTO"},"timeOfSample":"` + sample + `"},
			{"name":"lowerSetpoint","type":"RETRIEVABLE","value":{"value":66,"scale":"FAHRENHEIT"},"timeOfSample":"` + sample + `"},
			{"name":"upperSetpoint","type":"RETRIEVABLE","value":{"value":74,"scale":"FAHRENHEIT"},"timeOfSample":"` + sample + `"}],
			"configuration":{"supportedModes":["HEAT","COOL","AUTO","ECO","OFF"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.feature, func(t *testing.T) {
			r := e.api(http.MethodGet, "/v2/endpoints/"+tt.id+"/features/"+tt.feature, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			jsonEqual(t, r.raw, tt.want)
		})
	}
}

func TestUpdateOperations(t *testing.T) {
	body := func(payload string) string { return `{"payload":` + payload + `}` }
	tests := []struct {
		name       string
		id, path   string
		body       string
		wantStatus int
		check      func(f sim.Features) bool
		changedKey string
	}{
		{"turnOn", lamp, "power/turnOn", "", 200, func(f sim.Features) bool { return *f.Power == "ON" }, "power"},
		{"turnOff", lamp, "power/turnOff", "", 200, func(f sim.Features) bool { return *f.Power == "OFF" }, "power"},
		{"setBrightness", lamp, "brightness/setBrightness", body(`{"brightness":75}`), 200, func(f sim.Features) bool { return *f.Brightness == 75 }, "brightness"},
		{"setBrightness 0", lamp, "brightness/setBrightness", body(`{"brightness":0}`), 200, func(f sim.Features) bool { return *f.Brightness == 0 }, "brightness"},
		{"setBrightness 100.0", lamp, "brightness/setBrightness", body(`{"brightness":100.0}`), 200, func(f sim.Features) bool { return *f.Brightness == 100 }, "brightness"},
		{"adjustBrightness down", lamp, "brightness/adjustBrightness", body(`{"brightnessDelta":-25}`), 200, func(f sim.Features) bool { return *f.Brightness == 75 }, "brightness"},
		{"adjustBrightness up", lamp, "brightness/adjustBrightness", body(`{"brightnessDelta":20}`), 200, func(f sim.Features) bool { return *f.Brightness == 95 }, "brightness"},
		{"adjustBrightness clamps high", lamp, "brightness/adjustBrightness", body(`{"brightnessDelta":100}`), 200, func(f sim.Features) bool { return *f.Brightness == 100 }, "brightness"},
		{"adjustBrightness clamps low", lamp, "brightness/adjustBrightness", body(`{"brightnessDelta":-100}`), 200, func(f sim.Features) bool { return *f.Brightness == 0 }, "brightness"},
		{"setColor", lamp, "color/setColor", body(`{"color":{"hue":350,"saturation":0.75,"brightness":0.34}}`), 200,
			func(f sim.Features) bool { return *f.Color == sim.Color{Hue: 350, Saturation: 0.75, Brightness: 0.34} }, "color"},
		{"setColorTemperature", lamp, "colorTemperature/setColorTemperature", body(`{"colorTemperatureInKelvin":2000}`), 200,
			func(f sim.Features) bool { return *f.ColorTemperature == 2000 }, "color_temperature"},
		{"increase from 2000", lamp, "colorTemperature/increaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 2200 }, "color_temperature"},
		{"increase from 2200", lamp, "colorTemperature/increaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 2700 }, "color_temperature"},
		{"increase from 2700", lamp, "colorTemperature/increaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 4000 }, "color_temperature"},
		{"decrease from 4000", lamp, "colorTemperature/decreaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 2700 }, "color_temperature"},
		{"set 7500", lamp, "colorTemperature/setColorTemperature", body(`{"colorTemperatureInKelvin":7500}`), 200, func(f sim.Features) bool { return *f.ColorTemperature == 7500 }, "color_temperature"},
		{"increase at the top stays", lamp, "colorTemperature/increaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 7500 }, "color_temperature"},
		{"decrease from 7500", lamp, "colorTemperature/decreaseColorTemperature", "", 200, func(f sim.Features) bool { return *f.ColorTemperature == 7000 }, "color_temperature"},
		{"setVolume", speaker, "speaker/setVolume", body(`{"volume":75}`), 200, func(f sim.Features) bool { return *f.Volume == 75 }, "volume"},
		{"adjustVolume", speaker, "speaker/adjustVolume", body(`{"volumeDelta":-25}`), 200, func(f sim.Features) bool { return *f.Volume == 50 }, "volume"},
		{"adjustVolume clamps", speaker, "speaker/adjustVolume", body(`{"volumeDelta":-100}`), 200, func(f sim.Features) bool { return *f.Volume == 0 }, "volume"},
		{"unpair", speaker, "bluetooth/unpair", "", 202, func(f sim.Features) bool { return f.Bluetooth != nil && len(f.Bluetooth.PairedDevices) == 0 }, ""},
	}
	// The cases run in order on one household: each starts where the
	// previous one left the state.
	e := newEnv(t, testHousehold(), sim.Options{})
	for _, tt := range tests {
		e.clock.Advance(time.Second)
		var b any
		if tt.body != "" {
			b = tt.body
		}
		r := e.api(http.MethodPost, "/v2/endpoints/"+tt.id+"/features/"+tt.path, b)
		if r.status != tt.wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", tt.name, r.status, tt.wantStatus, r.raw)
		}
		if len(r.raw) != 0 {
			t.Errorf("%s: the reference's updates have no body, got %s", tt.name, r.raw)
		}
		if f := e.features(tt.id); !tt.check(f) {
			got, _ := json.Marshal(f)
			t.Errorf("%s: state after the call: %s", tt.name, got)
		}
	}

	// A change moves the time of sample of what it changed only.
	r := e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/brightness", nil)
	props := r.json(t)["properties"].([]any)
	if got := props[0].(map[string]any)["timeOfSample"]; got == sample {
		t.Errorf("brightness timeOfSample not moved by setBrightness: %v", got)
	}
	r = e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/connectivity", nil)
	props = r.json(t)["properties"].([]any)
	if got := props[0].(map[string]any)["timeOfSample"]; got != sample {
		t.Errorf("connectivity timeOfSample %v moved though nothing changed it", got)
	}
}

func TestUpdateValidation(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		body     string
		wantType string
	}{
		{"no body", "brightness/setBrightness", "", "INVALID_REQUEST"},
		{"not JSON", "brightness/setBrightness", "brightness=5", "INVALID_REQUEST"},
		{"no payload", "brightness/setBrightness", `{"brightness":5}`, "INVALID_REQUEST"},
		{"extra top-level", "brightness/setBrightness", `{"payload":{"brightness":5},"x":1}`, "INVALID_REQUEST"},
		{"payload not object", "brightness/setBrightness", `{"payload":5}`, "INVALID_REQUEST"},
		{"missing brightness", "brightness/setBrightness", `{"payload":{}}`, "INVALID_REQUEST"},
		{"null brightness", "brightness/setBrightness", `{"payload":{"brightness":null}}`, "INVALID_REQUEST"},
		{"string brightness", "brightness/setBrightness", `{"payload":{"brightness":"50"}}`, "INVALID_REQUEST"},
		{"fractional brightness", "brightness/setBrightness", `{"payload":{"brightness":50.5}}`, "INVALID_REQUEST"},
		{"delta sent to set", "brightness/setBrightness", `{"payload":{"brightnessDelta":5}}`, "INVALID_REQUEST"},
		{"both fields", "brightness/setBrightness", `{"payload":{"brightness":5,"brightnessDelta":5}}`, "INVALID_REQUEST"},
		{"brightness 101", "brightness/setBrightness", `{"payload":{"brightness":101}}`, "VALUE_OUT_OF_RANGE"},
		{"brightness -1", "brightness/setBrightness", `{"payload":{"brightness":-1}}`, "VALUE_OUT_OF_RANGE"},
		{"delta 101", "brightness/adjustBrightness", `{"payload":{"brightnessDelta":101}}`, "VALUE_OUT_OF_RANGE"},
		{"delta -101", "brightness/adjustBrightness", `{"payload":{"brightnessDelta":-101}}`, "VALUE_OUT_OF_RANGE"},
		{"missing delta", "brightness/adjustBrightness", `{"payload":{"brightness":5}}`, "INVALID_REQUEST"},
		{"color missing", "color/setColor", `{"payload":{}}`, "INVALID_REQUEST"},
		{"color not object", "color/setColor", `{"payload":{"color":"red"}}`, "INVALID_REQUEST"},
		{"color missing hue", "color/setColor", `{"payload":{"color":{"saturation":0.5,"brightness":0.5}}}`, "INVALID_REQUEST"},
		{"hue 361", "color/setColor", `{"payload":{"color":{"hue":361,"saturation":0.5,"brightness":0.5}}}`, "VALUE_OUT_OF_RANGE"},
		{"hue fractional", "color/setColor", `{"payload":{"color":{"hue":20.5,"saturation":0.5,"brightness":0.5}}}`, "INVALID_REQUEST"},
		{"saturation 1.1", "color/setColor", `{"payload":{"color":{"hue":20,"saturation":1.1,"brightness":0.5}}}`, "VALUE_OUT_OF_RANGE"},
		{"brightness -0.1", "color/setColor", `{"payload":{"color":{"hue":20,"saturation":0.5,"brightness":-0.1}}}`, "VALUE_OUT_OF_RANGE"},
		{"color extra field", "color/setColor", `{"payload":{"color":{"hue":20,"saturation":0.5,"brightness":0.5,"kelvin":1}}}`, "INVALID_REQUEST"},
		{"kelvin 999", "colorTemperature/setColorTemperature", `{"payload":{"colorTemperatureInKelvin":999}}`, "VALUE_OUT_OF_RANGE"},
		{"kelvin 10001", "colorTemperature/setColorTemperature", `{"payload":{"colorTemperatureInKelvin":10001}}`, "VALUE_OUT_OF_RANGE"},
		{"kelvin missing", "colorTemperature/setColorTemperature", `{"payload":{}}`, "INVALID_REQUEST"},
		{"unknown power op", "power/toggle", "", "INVALID_OPERATION"},
		{"unknown brightness op", "brightness/setLevel", `{"payload":{"brightness":5}}`, "INVALID_OPERATION"},
		{"op of another feature", "color/setBrightness", `{"payload":{"brightness":5}}`, "INVALID_OPERATION"},
		{"connectivity has no ops", "connectivity/set", "", "INVALID_OPERATION"},
	}
	e := newEnv(t, testHousehold(), sim.Options{})
	before := e.features(lamp)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b any
			if tt.body != "" {
				b = tt.body
			}
			r := e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/"+tt.path, b)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.raw)
			}
			if got := r.errorType(t); got != tt.wantType {
				t.Errorf("type %q, want %q", got, tt.wantType)
			}
		})
	}
	if after := e.features(lamp); !reflect.DeepEqual(before, after) {
		t.Errorf("rejected calls changed the state")
	}

	speakerTests := []struct{ name, path, body, wantType string }{
		{"volume 101", "speaker/setVolume", `{"payload":{"volume":101}}`, "VALUE_OUT_OF_RANGE"},
		{"volume -1", "speaker/setVolume", `{"payload":{"volume":-1}}`, "VALUE_OUT_OF_RANGE"},
		{"volumeDelta -101", "speaker/adjustVolume", `{"payload":{"volumeDelta":-101}}`, "VALUE_OUT_OF_RANGE"},
		{"volume missing", "speaker/setVolume", `{"payload":{"volumeDelta":5}}`, "INVALID_REQUEST"},
		{"unknown speaker op", "speaker/mute", "", "INVALID_OPERATION"},
		{"unknown bluetooth op", "bluetooth/pair", "", "INVALID_OPERATION"},
	}
	for _, tt := range speakerTests {
		t.Run(tt.name, func(t *testing.T) {
			var b any
			if tt.body != "" {
				b = tt.body
			}
			r := e.api(http.MethodPost, "/v2/endpoints/"+speaker+"/features/"+tt.path, b)
			if r.status != http.StatusBadRequest || r.errorType(t) != tt.wantType {
				t.Errorf("got %d %s, want 400 %s", r.status, r.raw, tt.wantType)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	tests := []struct {
		name, method, path, wantType string
	}{
		{"unknown endpoint GET", "GET", "/v2/endpoints/amzn1.alexa.endpoint.nope/features/power", "NO_SUCH_ENDPOINT"},
		{"unknown endpoint POST", "POST", "/v2/endpoints/amzn1.alexa.endpoint.nope/features/power/turnOn", "NO_SUCH_ENDPOINT"},
		{"unknown endpoint by id", "GET", "/v2/endpoints/amzn1.alexa.endpoint.nope", "NO_SUCH_ENDPOINT"},
		{"feature the endpoint lacks GET", "GET", "/v2/endpoints/" + speaker + "/features/power", "FEATURE_NOT_SUPPORTED"},
		{"feature the endpoint lacks POST", "POST", "/v2/endpoints/" + speaker + "/features/power/turnOn", "FEATURE_NOT_SUPPORTED"},
		{"no connectivity feature", "GET", "/v2/endpoints/" + speaker + "/features/connectivity", "FEATURE_NOT_SUPPORTED"},
		{"unknown feature", "GET", "/v2/endpoints/" + lamp + "/features/toaster", "NOT_FOUND"},
		{"unknown route", "GET", "/v3/whatever", "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.api(tt.method, tt.path, nil)
			if r.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404: %s", r.status, r.raw)
			}
			if got := r.errorType(t); got != tt.wantType {
				t.Errorf("type %q, want %q", got, tt.wantType)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	r := e.do(http.MethodPatch, "/_sim/endpoints/"+lamp, "", `{"connectivity":"UNREACHABLE"}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}

	r = e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/connectivity", nil)
	jsonEqual(t, r.raw, `{"properties":[{"name":"reachability","type":"RETRIEVABLE","value":{"value":"UNREACHABLE"},"timeOfSample":"`+sample+`"}]}`)

	// Reads answer 200 with the property in error, as the reference's
	// properties[].type ERROR and properties[].error describe.
	r = e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/power", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET power: %d %s", r.status, r.raw)
	}
	p := r.json(t)["properties"].([]any)[0].(map[string]any)
	if p["name"] != "powerState" || p["type"] != "ERROR" || p["value"] != nil {
		t.Errorf("property %v, want powerState of type ERROR without value", p)
	}
	if perr, _ := p["error"].(map[string]any); perr["type"] != "ENDPOINT_UNREACHABLE" || perr["message"] == "" {
		t.Errorf("property error %v", p["error"])
	}

	before := e.features(lamp)
	r = e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/power/turnOn", nil)
	if r.status != http.StatusBadRequest || r.errorType(t) != "ENDPOINT_UNREACHABLE" {
		t.Errorf("turnOn: %d %s, want 400 ENDPOINT_UNREACHABLE", r.status, r.raw)
	}
	// An invalid payload is reported as such first.
	r = e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/brightness/setBrightness", `{"payload":{"brightness":500}}`)
	if r.errorType(t) != "VALUE_OUT_OF_RANGE" {
		t.Errorf("setBrightness 500 on unreachable: %s", r.raw)
	}
	r = e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/brightness/setBrightness", `{"payload":{"brightness":5}}`)
	if r.errorType(t) != "ENDPOINT_UNREACHABLE" {
		t.Errorf("setBrightness on unreachable: %s", r.raw)
	}
	if after := e.features(lamp); !reflect.DeepEqual(before, after) {
		t.Errorf("calls to an unreachable endpoint changed its state")
	}

	// NOT_FOUND (offline for 30 days) is unreachable too; OK serves again.
	e.do(http.MethodPatch, "/_sim/endpoints/"+lamp, "", `{"connectivity":"NOT_FOUND"}`)
	if r := e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/power/turnOn", nil); r.errorType(t) != "ENDPOINT_UNREACHABLE" {
		t.Errorf("turnOn on NOT_FOUND: %s", r.raw)
	}
	e.do(http.MethodPatch, "/_sim/endpoints/"+lamp, "", `{"connectivity":"OK"}`)
	if r := e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/power/turnOn", nil); r.status != http.StatusOK {
		t.Errorf("turnOn after reconnect: %d %s", r.status, r.raw)
	}
}

// Concurrent adjustments must all land: the simulator serialises them.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/brightness/setBrightness", `{"payload":{"brightness":10}}`)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/brightness/adjustBrightness", `{"payload":{"brightnessDelta":3}}`)
			e.do(http.MethodGet, "/_sim/household", "", nil)
		})
	}
	wg.Wait()
	if got := *e.features(lamp).Brightness; got != 70 {
		t.Errorf("brightness %d after 20 × +3 from 10, want 70", got)
	}
}
