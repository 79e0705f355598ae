package features_test

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/internal/apitest"
)

// Bodies from the reference's response examples, plus a thermostat (the
// reference omits its examples) built from its field table.
const (
	powerBody = `{"properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":"ON"},"timeOfSample":"2024-07-02T06:44:02.32Z"}],
	 "operations":[{"name":"turnOn","path":"/v2/endpoints/{endpointID}/features/power/turnOn"},{"name":"turnOff","path":"/v2/endpoints/{endpointID}/features/power/turnOff"}]}`
	brightnessBody = `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{"value":50},"timeOfSample":"2024-08-23T12:00:30.02Z"}],
	 "operations":[{"name":"setBrightness","path":"/v2/endpoints/{id}/features/brightness/setBrightness"}]}`
	colorBody = `{"properties":[{"name":"color","type":"RETRIEVABLE","value":{"hue":20,"saturation":0.5,"brightness":0.7},"timeOfSample":"2024-07-02T06:20:50.52Z"}],
	 "operations":[{"name":"setColor","path":"/v2/endpoints/{endpointId}/features/color/setColor"}]}`
	colorTemperatureBody = `{"properties":[{"name":"colorTemperatureInKelvin","type":"RETRIEVABLE","value":{"value":2700},"timeOfSample":"2024-07-02T06:20:50.52Z"}]}`
	connectivityBody     = `{"properties":[{"name":"reachability","type":"RETRIEVABLE","value":{"value":"OK"},"timeOfSample":"2024-07-03T10:20:50.52Z"}]}`
	speakerBody          = `{"properties":[{"name":"volume","type":"RETRIEVABLE","value":{"value":"42"},"timeOfSample":"2024-08-13T10:20:50.52Z"}],
	 "operations":[{"name":"setVolume","path":"/v2/endpoints/<id>/features/speaker/setVolume"}]}`
	temperatureBody = `{"properties":[{"name":"temperature","type":"RETRIEVABLE","value":{"value":68.0,"scale":"FAHRENHEIT"},"timeOfSample":"2024-07-02T06:44:02.32Z"}]}`
	thermostatBody  = `{"properties":[
	   {"name":"thermostatMode","type":"RETRIEVABLE","value":{"value":"HEAT"},"timeOfSample":"2024-07-02T06:44:02.32Z"},
	   {"name":"targetSetpoint","type":"RETRIEVABLE","value":{"value":70.7,"scale":"FAHRENHEIT"},"timeOfSample":"2024-07-02T06:44:02.32Z"}],
	 "configuration":{"supportedModes":["HEAT","COOL","OFF"]}}`
	dualThermostatBody = `{"properties":[
	   {"name":"thermostatMode","type":"RETRIEVABLE","value":{"value":"AUTO"}},
	   {"name":"lowerSetpoint","type":"RETRIEVABLE","value":{"value":18,"scale":"CELSIUS"}},
	   {"name":"upperSetpoint","type":"RETRIEVABLE","value":{"value":24,"scale":"CELSIUS"}}]}`
	bluetoothBody = `{"operations":[{"name":"unpair","path":"/v2/endpoints/{endpointId}/features/bluetooth/unpair"}]}`
)

func serveBody(t *testing.T, body string) *features.Client {
	t.Helper()
	_, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { apitest.WriteJSON(w, 200, body) })
	c, _ := newClient(t, srv.URL, features.ClientOptions{})
	return c
}

func TestGet(t *testing.T) {
	tests := []struct {
		attr, body string
		scale      string
		want       any
	}{
		{"power", powerBody, "", "ON"},
		{"brightness", brightnessBody, "", 50.0},
		{"color", colorBody, "", map[string]any{"hue": 20.0, "saturation": 0.5, "brightness": 0.7}},
		{"color_temperature", colorTemperatureBody, "", 2700.0},
		{"connectivity", connectivityBody, "", "OK"},
		{"volume", speakerBody, "", 42.0},
		{"temperature", temperatureBody, "CELSIUS", 20.0},
		{"temperature", temperatureBody, "FAHRENHEIT", 68.0},
		{"temperature", `{"properties":[{"name":"temperature","type":"RETRIEVABLE","value":{"value":21.5}}]}`, "CELSIUS", 21.5},
		{"thermostat", thermostatBody, "CELSIUS", map[string]any{"mode": "HEAT", "target_setpoint": 21.5,
			"scale": "CELSIUS", "supported_modes": []any{"HEAT", "COOL", "OFF"}}},
		{"thermostat", dualThermostatBody, "CELSIUS", map[string]any{"mode": "AUTO", "lower_setpoint": 18.0,
			"upper_setpoint": 24.0, "scale": "CELSIUS"}},
		{"thermostat_mode", thermostatBody, "", "HEAT"},
		{"target_setpoint", thermostatBody, "FAHRENHEIT", 70.7},
		{"upper_setpoint", dualThermostatBody, "FAHRENHEIT", 75.2},
		{"bluetooth", bluetoothBody, "", map[string]any{"operations": []any{"unpair"}}},
	}
	for _, tt := range tests {
		t.Run(tt.attr+"/"+tt.scale, func(t *testing.T) {
			api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { apitest.WriteJSON(w, 200, tt.body) })
			c, _ := newClient(t, srv.URL, features.ClientOptions{Scale: tt.scale})
			got, err := c.Get(t.Context(), endpointID, tt.attr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			feature, _ := features.AttributeFeature(tt.attr)
			if r := api.requests()[0]; r.Method != "GET" || r.Path != prefix+feature {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
		})
	}
}

func TestTypedGetters(t *testing.T) {
	ctx := t.Context()
	if v, err := serveBody(t, colorBody).Color(ctx, endpointID); err != nil || v != (features.Color{Hue: 20, Saturation: 0.5, Brightness: 0.7}) {
		t.Errorf("Color = %+v, %v", v, err)
	}
	if v, err := serveBody(t, brightnessBody).Brightness(ctx, endpointID); err != nil || v != 50 {
		t.Errorf("Brightness = %v, %v", v, err)
	}
	if v, err := serveBody(t, colorTemperatureBody).ColorTemperature(ctx, endpointID); err != nil || v != 2700 {
		t.Errorf("ColorTemperature = %v, %v", v, err)
	}
	if v, err := serveBody(t, powerBody).Power(ctx, endpointID); err != nil || v != "ON" {
		t.Errorf("Power = %v, %v", v, err)
	}
	if v, err := serveBody(t, connectivityBody).Connectivity(ctx, endpointID); err != nil || v != "OK" {
		t.Errorf("Connectivity = %v, %v", v, err)
	}
	if v, err := serveBody(t, temperatureBody).Temperature(ctx, endpointID); err != nil || v != (features.Temperature{Value: 68, Scale: "FAHRENHEIT"}) {
		t.Errorf("Temperature = %+v, %v", v, err)
	}
	muted := `{"properties":[{"name":"volume","type":"RETRIEVABLE","value":{"value":30}},{"name":"muted","type":"RETRIEVABLE","value":{"value":true}}]}`
	if v, err := serveBody(t, muted).Speaker(ctx, endpointID); err != nil || v.Volume != 30 || v.Muted == nil || !*v.Muted {
		t.Errorf("Speaker = %+v, %v", v, err)
	}
	if v, err := serveBody(t, speakerBody).Speaker(ctx, endpointID); err != nil || v.Volume != 42 || v.Muted != nil {
		t.Errorf("Speaker = %+v, %v", v, err)
	}
	v, err := serveBody(t, dualThermostatBody).Thermostat(ctx, endpointID)
	if err != nil || v.Mode != "AUTO" || v.Target != nil || *v.Lower != (features.Temperature{Value: 18, Scale: "CELSIUS"}) ||
		*v.Upper != (features.Temperature{Value: 24, Scale: "CELSIUS"}) {
		t.Errorf("Thermostat = %+v, %v", v, err)
	}
	if b, err := serveBody(t, bluetoothBody).Bluetooth(ctx, endpointID); err != nil || !reflect.DeepEqual(b.Operations, []string{"unpair"}) {
		t.Errorf("Bluetooth = %+v, %v", b, err)
	}
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name, attr, body string
		noProps          bool   // wants ErrNoProperties
		propType         string // wants a *PropertyError of this type
	}{
		{"not JSON", "brightness", `<html>`, false, ""},
		{"truncated JSON", "brightness", `{"properties":[{"name":`, false, ""},
		{"empty body", "brightness", ``, false, ""},
		{"null", "brightness", `null`, false, ""},
		{"array", "brightness", `[]`, false, ""},
		{"properties not a list", "brightness", `{"properties":{}}`, false, ""},
		{"empty properties", "brightness", `{"properties":[],"operations":[]}`, true, ""},
		{"no properties key", "power", `{"operations":[]}`, true, ""},
		{"empty properties thermostat", "thermostat", `{"properties":[]}`, true, ""},
		{"other property only", "brightness", `{"properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":"ON"}}]}`, false, ""},
		{"no value", "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE"}]}`, false, ""},
		{"null value", "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":null}]}`, false, ""},
		{"no value.value", "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{}}]}`, false, ""},
		{"value not a number", "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{"value":"bright"}}]}`, false, ""},
		{"value is an object", "brightness", `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{"value":{}}}]}`, false, ""},
		{"power not ON/OFF", "power", `{"properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":"MAYBE"}}]}`, false, ""},
		{"power a number", "power", `{"properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":1}}]}`, false, ""},
		{"connectivity empty", "connectivity", `{"properties":[{"name":"reachability","type":"RETRIEVABLE","value":{"value":""}}]}`, false, ""},
		{"color missing hue", "color", `{"properties":[{"name":"color","type":"RETRIEVABLE","value":{"saturation":0.5,"brightness":0.7}}]}`, false, ""},
		{"temperature unknown scale", "temperature", `{"properties":[{"name":"temperature","type":"RETRIEVABLE","value":{"value":1,"scale":"RANKINE"}}]}`, false, ""},
		{"thermostat nothing known", "thermostat", `{"properties":[{"name":"fanSpeed","type":"RETRIEVABLE","value":{"value":1}}]}`, false, ""},
		{"thermostat lacks target", "target_setpoint", dualThermostatBody, false, ""},
		{"type ERROR", "brightness", `{"properties":[{"name":"brightness","type":"ERROR","error":{"type":"ENDPOINT_UNREACHABLE","message":"offline"}}]}`, false, "ERROR"},
		{"type ERROR without name", "brightness", `{"properties":[{"type":"ERROR","error":{"type":"INTERNAL_ERROR"}}]}`, false, "ERROR"},
		{"NOT_RETRIEVABLE", "power", `{"properties":[{"name":"powerState","type":"NOT_RETRIEVABLE"}]}`, false, "NOT_RETRIEVABLE"},
		{"thermostat setpoint ERROR", "thermostat", `{"properties":[{"name":"thermostatMode","type":"RETRIEVABLE","value":{"value":"HEAT"}},{"name":"targetSetpoint","type":"ERROR"}]}`, false, "ERROR"},
		{"bluetooth ERROR", "bluetooth", `{"properties":[{"name":"x","type":"ERROR"}]}`, false, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serveBody(t, tt.body).Get(t.Context(), endpointID, tt.attr)
			if err == nil {
				t.Fatalf("got %#v, want an error", got)
			}
			if got != nil {
				t.Errorf("value %#v alongside error %v", got, err)
			}
			if tt.propType != "" {
				var pe *features.PropertyError
				if !errors.As(err, &pe) || pe.Type != tt.propType || pe.Endpoint != endpointID {
					t.Fatalf("error %v (%T), want *PropertyError %s", err, err, tt.propType)
				}
				if pe.Retryable() != (tt.propType == "ERROR") {
					t.Errorf("Retryable = %v", pe.Retryable())
				}
				return
			}
			var de *features.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want *DecodeError", err, err)
			}
			if errors.Is(err, features.ErrNoProperties) != tt.noProps {
				t.Errorf("errors.Is(ErrNoProperties) = %v: %v", !tt.noProps, err)
			}
		})
	}
}

func TestPropertyErrorDetails(t *testing.T) {
	body := `{"properties":[{"name":"brightness","type":"ERROR","error":{"type":"ENDPOINT_UNREACHABLE","message":"The endpoint is offline or unreachable."}}]}`
	_, err := serveBody(t, body).Brightness(t.Context(), endpointID)
	var pe *features.PropertyError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v", err)
	}
	want := features.PropertyError{Endpoint: endpointID, Property: "brightness", Type: "ERROR",
		ErrorType: "ENDPOINT_UNREACHABLE", Message: "The endpoint is offline or unreachable."}
	if *pe != want {
		t.Errorf("got %+v", *pe)
	}
}

func TestExtraFieldsTolerated(t *testing.T) {
	body := `{"properties":[{"name":"brightness","type":"RETRIEVABLE","value":{"value":50,"unit":"%"},"timeOfSample":"x","new":1}],
	 "operations":[],"configuration":[{"a":1}],"somethingNew":{"x":[1,2]}}`
	if v, err := serveBody(t, body).Brightness(t.Context(), endpointID); err != nil || v != 50 {
		t.Errorf("Brightness = %v, %v", v, err)
	}
}

func TestTemperatureIn(t *testing.T) {
	tests := []struct {
		in    features.Temperature
		scale string
		want  float64
	}{
		{features.Temperature{Value: 68, Scale: "FAHRENHEIT"}, "CELSIUS", 20},
		{features.Temperature{Value: 20, Scale: "CELSIUS"}, "FAHRENHEIT", 68},
		{features.Temperature{Value: 293.15, Scale: "KELVIN"}, "CELSIUS", 20},
		{features.Temperature{Value: 21.5, Scale: "celsius"}, "CELSIUS", 21.5},
	}
	for _, tt := range tests {
		got, err := tt.in.In(tt.scale)
		if err != nil || got.Value != tt.want || got.Scale != tt.scale {
			t.Errorf("%+v.In(%s) = %+v, %v; want %v", tt.in, tt.scale, got, err, tt.want)
		}
	}
	if _, err := (features.Temperature{Value: 1, Scale: "RANKINE"}).In("CELSIUS"); err == nil {
		t.Error("unknown scale: want an error")
	}
}
