package smarthome_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/smarthome"
)

func control(id, typ, params string) string {
	return `{"controlRequests":[{"entityId":"` + id + `","entityType":"` + typ + `","parameters":` + params + `}]}`
}

func mutation(endpointID string, kelvin string) string {
	return `{"query":"mutation updatePowerFeatureForEndpoints($featureControlRequests: [FeatureControlRequest!]!) ` +
		`{ setEndpointFeatures(setEndpointFeaturesInput: { featureControlRequests: $featureControlRequests }) ` +
		`{ featureControlResponses { endpointId featureOperationName __typename } errors { endpointId code __typename } __typename } }",` +
		`"variables":{"featureControlRequests":[{"endpointId":"` + endpointID + `","featureName":"colorTemperature",` +
		`"featureOperationName":"setColorTemperature","payload":{"colorTemperatureInKelvin":` + kelvin + `}}]}}`
}

// The exact requests each operation sends; relative ones read first.
func TestUpdateRequestBodies(t *testing.T) {
	const grp = "1b2ab5c4-34e7-4b45-bdd3-fb6d3a0e4e8d"
	state := "POST /api/phoenix/state"
	for _, tt := range []struct {
		name      string
		opts      smarthome.Options
		id, op    string
		args      []float64
		wantReads int    // state reads before the control
		route     string // of the control request
		want      string
		note      string // Sent.Note
	}{
		{"on", smarthome.Options{}, deskLamp, "turnOn", nil, 0, "PUT", control(deskLamp, "ENTITY", `{"action":"turnOn"}`), ""},
		{"off plug", smarthome.Options{}, kitchenPlug, "turnOff", nil, 0, "PUT", control(kitchenPlug, "ENTITY", `{"action":"turnOff"}`), ""},
		{"brightness int", smarthome.Options{}, deskLamp, "setBrightness", []float64{50}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":"50"}`), ""},
		{"brightness number", smarthome.Options{BrightnessForm: smarthome.BrightnessNumber}, deskLamp, "setBrightness", []float64{50}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":50}`), ""},
		{"brightness fraction", smarthome.Options{BrightnessForm: smarthome.BrightnessFraction}, deskLamp, "setBrightness", []float64{5}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":"0.05"}`), ""},
		{"brightness fraction full", smarthome.Options{BrightnessForm: smarthome.BrightnessFraction}, deskLamp, "setBrightness", []float64{100}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":"1.0"}`), ""},
		{"adjust brightness", smarthome.Options{}, deskLamp, "adjustBrightness", []float64{-30}, 1, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":"50"}`), "brightness 50 (80-30, within 0..100)"},
		{"adjust brightness clamps", smarthome.Options{}, deskLamp, "adjustBrightness", []float64{40}, 1, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setBrightness","brightness":"100"}`), "brightness 100 (80+40, within 0..100)"},
		{"colour by name", smarthome.Options{}, deskLamp, "setColor", []float64{0, 1, 1}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColor","colorName":"red"}`),
			"colorName red, the nearest Alexa colour to hue 0 saturation 1 (setColor takes no brightness)"},
		{"colour nearest", smarthome.Options{}, deskLamp, "setColor", []float64{6, 0.55, 0.4}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColor","colorName":"salmon"}`),
			"colorName salmon, the nearest Alexa colour to hue 6 saturation 0.55 (setColor takes no brightness)"},
		{"white by name", smarthome.Options{}, deskLamp, "setColorTemperature", []float64{2700}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColorTemperature","colorTemperatureName":"soft_white"}`), ""},
		{"exact kelvin", smarthome.Options{}, deskLamp, "setColorTemperature", []float64{3000}, 0, "POST",
			mutation("amzn1.alexa.endpoint."+deskLamp, "3000"), ""},
		{"kelvin always exact", smarthome.Options{Kelvin: smarthome.KelvinExact}, deskLamp, "setColorTemperature", []float64{2700}, 0, "POST",
			mutation("amzn1.alexa.endpoint."+deskLamp, "2700"), ""},
		{"kelvin always by name", smarthome.Options{Kelvin: smarthome.KelvinName}, deskLamp, "setColorTemperature", []float64{3000}, 0, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColorTemperature","colorTemperatureName":"soft_white"}`),
			"colorTemperatureName soft_white (2700 K), the nearest Alexa white to 3000 K"},
		{"cooler", smarthome.Options{}, deskLamp, "increaseColorTemperature", nil, 1, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColorTemperature","colorTemperatureName":"white"}`),
			"colorTemperatureName white (4000 K), the next white from 2700 K"},
		{"warmer", smarthome.Options{}, deskLamp, "decreaseColorTemperature", nil, 1, "PUT",
			control(deskLamp, "ENTITY", `{"action":"setColorTemperature","colorTemperatureName":"warm_white"}`),
			"colorTemperatureName warm_white (2200 K), the next white from 2700 K"},
		{"group on", smarthome.Options{}, livingRoom, "turnOn", nil, 0, "PUT", control(grp, "GROUP", `{"action":"turnOn"}`), ""},
		{"group brightness", smarthome.Options{}, livingRoom, "setBrightness", []float64{20}, 0, "PUT",
			control(grp, "GROUP", `{"action":"setBrightness","brightness":"20"}`), ""},
		{"group kelvin by name", smarthome.Options{}, livingRoom, "setColorTemperature", []float64{3000}, 0, "PUT",
			control(grp, "GROUP", `{"action":"setColorTemperature","colorTemperatureName":"soft_white"}`),
			"colorTemperatureName soft_white (2700 K), the nearest Alexa white to 3000 K"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sent []smarthome.Sent
			tt.opts.Sent = func(s smarthome.Sent) { sent = append(sent, s) }
			r := newRig(t, tt.opts)
			ctx := context.Background()
			if _, err := r.c.Devices(ctx); err != nil {
				t.Fatal(err)
			}
			n := len(r.f.requests())
			if err := r.c.Update(ctx, tt.id, tt.op, tt.args...); err != nil {
				t.Fatal(err)
			}
			reqs := r.f.since(n)
			if len(reqs) != tt.wantReads+1 {
				t.Fatalf("%d requests, want %d: %+v", len(reqs), tt.wantReads+1, reqs)
			}
			for _, rq := range reqs[:tt.wantReads] {
				if rq.route() != state {
					t.Errorf("read %s", rq.route())
				}
			}
			last := reqs[len(reqs)-1]
			if last.Method != tt.route || compactJSON(t, last.Body) != compactJSON(t, tt.want) {
				t.Errorf("sent %s %s\nwant %s %s", last.Method, last.Body, tt.route, tt.want)
			}
			if len(sent) != 1 || sent[0].ID != tt.id || sent[0].Operation != tt.op || sent[0].Note != tt.note {
				t.Errorf("Sent = %+v, want note %q", sent, tt.note)
			}
		})
	}
}

// What the device or this API cannot do fails with UNSUPPORTED before any
// request, with a message naming the device and what it can do.
func TestUpdateUnsupported(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(r.f.requests())
	for _, tt := range []struct {
		id, op string
		args   []float64
		typ    string
		want   string
	}{
		{kitchenPlug, "setVolume", []float64{30}, "UNSUPPORTED",
			"setVolume: not supported by the Alexa smart-home API, which controls power, brightness, colour and colour temperature of household devices"},
		{deskLamp, "unpair", nil, "UNSUPPORTED", "unpair: not supported"},
		{kitchenPlug, "setBrightness", []float64{30}, "UNSUPPORTED", `device "Kitchen Plug" cannot setBrightness: not supported (it has: power)`},
		{hueLamp, "setColorTemperature", []float64{2700}, "UNSUPPORTED", `device "Reading Lamp" cannot setColorTemperature: not supported (it has: power, brightness, color)`},
		{sensor, "turnOn", nil, "UNSUPPORTED", `device "Living Room Sensor" cannot turnOn: not supported (it has: temperatureSensor)`},
		{kitchenGroup, "setColor", []float64{0, 1, 1}, "UNSUPPORTED", `device "Kitchen" cannot setColor`},
		{deskLamp, "launchRocket", nil, "UNSUPPORTED", `unknown operation "launchRocket"`},
		{deskLamp, "setBrightness", []float64{150}, "INVALID_VALUE", "setBrightness: brightness 150: want 0..100"},
		{deskLamp, "setBrightness", nil, "INVALID_VALUE", "want 1"},
	} {
		err := r.c.Update(ctx, tt.id, tt.op, tt.args...)
		ce := callError(t, err, tt.typ)
		if !strings.Contains(ce.Message, tt.want) {
			t.Errorf("%s on %s: %q, want %q", tt.op, tt.id, ce.Message, tt.want)
		}
		if tt.typ == "UNSUPPORTED" && !errors.Is(err, smarthome.ErrUnsupported) {
			t.Errorf("%s: %v does not wrap ErrUnsupported", tt.op, err)
		}
	}
	if reqs := r.f.since(n); len(reqs) != 0 {
		t.Errorf("requests sent: %+v", reqs)
	}
}

// Success needs SUCCESS for the device and no errors; the verbatim
// unreachable answer is an unreachable error; a not-found device
// rediscovers once.
func TestUpdateFailures(t *testing.T) {
	unreachable := `{"controlResponses":[],"errors":[{"code":"ENDPOINT_UNREACHABLE","data":null,"entity":{"entityId":"` + deskLamp + `","entityType":"APPLIANCE"},"message":null}]}`
	for _, tt := range []struct {
		name, body, typ, msg  string
		unreachable, notFound bool
	}{
		{"unreachable", unreachable, "ENDPOINT_UNREACHABLE", "ENDPOINT_UNREACHABLE", true, false},
		{"not found", `{"controlResponses":[],"errors":[{"code":"TargetApplianceNotFoundException","entity":{"entityId":"x","entityType":"ENTITY"},"message":"No appliance found for target!"}]}`,
			"TargetApplianceNotFoundException", "No appliance found for target!", false, true},
		{"not SUCCESS", `{"controlResponses":[{"entityId":"` + deskLamp + `","code":"FAILURE"}],"errors":[]}`, "FAILURE", "Amazon did not confirm turnOn", false, false},
		{"SUCCESS and errors", `{"controlResponses":[{"entityId":"` + deskLamp + `","code":"SUCCESS"}],"errors":[{"code":"INTERNAL_ERROR"}]}`, "INTERNAL_ERROR", "INTERNAL_ERROR", false, false},
		{"empty", `{"controlResponses":[],"errors":[]}`, "INVALID_RESPONSE", "no controlResponses", false, false},
		{"not JSON", `<html>`, "INVALID_RESPONSE", "control answer", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, smarthome.Options{})
			ctx := context.Background()
			if _, err := r.c.Devices(ctx); err != nil {
				t.Fatal(err)
			}
			r.clock.Advance(smarthome.DefaultMinRediscover)
			r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
				return 200, nil, tt.body, rq.route() == "PUT /api/phoenix/state"
			})
			n := len(r.f.requests())
			err := r.c.Update(ctx, deskLamp, "turnOn")
			ce := callError(t, err, tt.typ)
			if !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("message %q, want %q", ce.Message, tt.msg)
			}
			if u := hasTrue(err, func(e interface{ Unreachable() bool }) bool { return e.Unreachable() }); u != tt.unreachable {
				t.Errorf("Unreachable() = %v", u)
			}
			if nf := hasTrue(err, func(e interface{ NotFound() bool }) bool { return e.NotFound() }); nf != tt.notFound {
				t.Errorf("NotFound() = %v", nf)
			}
			var routes []string
			for _, rq := range r.f.since(n) {
				routes = append(routes, rq.route())
			}
			want := []string{"PUT /api/phoenix/state"}
			if tt.notFound {
				want = append(want, "POST /nexus/v1/graphql", "GET /api/phoenix/group")
			}
			if !reflect.DeepEqual(routes, want) {
				t.Errorf("requests %v, want %v", routes, want)
			}
		})
	}
}

// A mapped value that fails says what was sent.
func TestUpdateFailureSaysWhatWasSent(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	r.f.unreachable[deskLamp] = true
	r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
		return 200, nil, `{"controlResponses":[],"errors":[{"code":"ENDPOINT_UNREACHABLE","entity":{"entityId":"` + deskLamp + `"}}]}`,
			rq.route() == "PUT /api/phoenix/state"
	})
	err := r.c.Update(context.Background(), deskLamp, "setColor", 240, 1, 1)
	ce := callError(t, err, "ENDPOINT_UNREACHABLE")
	if !strings.Contains(ce.Message, "(sent colorName blue, the nearest Alexa colour to hue 240 saturation 1") {
		t.Errorf("message %q", ce.Message)
	}
}

func TestSetEndpointFeaturesFailures(t *testing.T) {
	for _, tt := range []struct{ name, body, typ, msg string }{
		{"feature error", `{"data":{"setEndpointFeatures":{"featureControlResponses":[],"errors":[{"endpointId":"x","code":"ENDPOINT_UNREACHABLE"}]}}}`,
			"ENDPOINT_UNREACHABLE", "ENDPOINT_UNREACHABLE"},
		{"graphql error", `{"errors":[{"message":"Validation error (FieldUndefined@[setEndpointFeatures])"}],"data":null}`,
			"INVALID_RESPONSE", "FieldUndefined"},
		{"no response", `{"data":{"setEndpointFeatures":{"featureControlResponses":[],"errors":[]}}}`, "INVALID_RESPONSE", "no featureControlResponses"},
		{"no data", `{"data":null}`, "INVALID_RESPONSE", "no data.setEndpointFeatures"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, smarthome.Options{})
			r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
				return 200, nil, tt.body, strings.Contains(rq.Body, "setEndpointFeatures")
			})
			err := r.c.Update(context.Background(), deskLamp, "setColorTemperature", 3100)
			ce := callError(t, err, tt.typ)
			if !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("message %q, want %q", ce.Message, tt.msg)
			}
		})
	}
}
