package features

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
)

// Field is one payload field of an update operation, with the range the
// reference allows.
type Field struct {
	Name     string
	Min, Max float64
	Integer  bool // the reference types it Integer: fractions are rejected
}

// Operation is one Endpoint Features operation of the reference.
type Operation struct {
	Feature string  // path segment, e.g. "colorTemperature"
	Name    string  // update operation, e.g. "setColorTemperature"; "" for the feature's GET
	Method  string  // GET or POST
	Fields  []Field // payload fields, in argument order; none: no request body
	Nest    string  // the fields sit under payload.<Nest> ("color" for setColor)
}

// Path is the request path of o for an endpoint.
func (o Operation) Path(endpointID string) string {
	p := "/v2/endpoints/" + url.PathEscape(endpointID) + "/features/" + o.Feature
	if o.Name != "" {
		p += "/" + o.Name
	}
	return p
}

// label names o in errors: the update operation, or "get <feature>".
func (o Operation) label() string {
	if o.Name != "" {
		return o.Name
	}
	return "get " + o.Feature
}

// Body validates args against o's fields and builds the JSON request body,
// or nil when o has none. It makes no request.
func (o Operation) Body(args ...float64) ([]byte, error) {
	if len(args) != len(o.Fields) {
		return nil, &ValidationError{Operation: o.label(), Field: "arguments", Value: len(args),
			Reason: fmt.Sprintf("want %d", len(o.Fields))}
	}
	if len(o.Fields) == 0 {
		return nil, nil
	}
	fields := make(map[string]any, len(o.Fields))
	for i, f := range o.Fields {
		v := args[i]
		if !(v >= f.Min && v <= f.Max) { // also rejects NaN
			return nil, &ValidationError{Operation: o.Name, Field: f.Name, Value: v, Min: f.Min, Max: f.Max,
				Reason: fmt.Sprintf("want %g..%g", f.Min, f.Max)}
		}
		if f.Integer {
			if v != math.Trunc(v) {
				return nil, &ValidationError{Operation: o.Name, Field: f.Name, Value: v, Min: f.Min, Max: f.Max,
					Reason: "want a whole number"}
			}
			fields[f.Name] = int64(v)
		} else {
			fields[f.Name] = v
		}
	}
	payload := map[string]any(fields)
	if o.Nest != "" {
		payload = map[string]any{o.Nest: fields}
	}
	return json.Marshal(map[string]any{"payload": payload})
}

// Features of the reference, as they appear in paths.
const (
	FeatureBluetooth         = "bluetooth"
	FeatureBrightness        = "brightness"
	FeatureColor             = "color"
	FeatureColorTemperature  = "colorTemperature"
	FeatureConnectivity      = "connectivity"
	FeaturePower             = "power"
	FeatureSpeaker           = "speaker"
	FeatureTemperatureSensor = "temperatureSensor"
	FeatureThermostat        = "thermostat"
)

// Operations returns every operation of the Endpoint Features reference:
// the nine GETs, unpair, and each operation of the five update families.
// The slice is new on every call.
func Operations() []Operation {
	pct := func(name string) []Field { return []Field{{Name: name, Min: 0, Max: 100, Integer: true}} }
	delta := func(name string) []Field { return []Field{{Name: name, Min: -100, Max: 100, Integer: true}} }
	get := func(feature string) Operation { return Operation{Feature: feature, Method: http.MethodGet} }
	post := func(feature, name string, fields []Field) Operation {
		return Operation{Feature: feature, Name: name, Method: http.MethodPost, Fields: fields}
	}
	setColor := post(FeatureColor, "setColor", []Field{
		{Name: "hue", Min: 0, Max: 360, Integer: true},
		{Name: "saturation", Min: 0, Max: 1},
		{Name: "brightness", Min: 0, Max: 1},
	})
	setColor.Nest = "color"
	return []Operation{
		get(FeatureBluetooth),
		get(FeatureBrightness),
		get(FeatureColor),
		get(FeatureColorTemperature),
		get(FeatureConnectivity),
		get(FeaturePower),
		get(FeatureSpeaker),
		get(FeatureTemperatureSensor),
		get(FeatureThermostat),
		post(FeatureBluetooth, "unpair", nil),
		post(FeatureBrightness, "setBrightness", pct("brightness")),
		post(FeatureBrightness, "adjustBrightness", delta("brightnessDelta")),
		setColor,
		post(FeatureColorTemperature, "setColorTemperature",
			[]Field{{Name: "colorTemperatureInKelvin", Min: 1000, Max: 10000, Integer: true}}),
		post(FeatureColorTemperature, "increaseColorTemperature", nil),
		post(FeatureColorTemperature, "decreaseColorTemperature", nil),
		post(FeaturePower, "turnOn", nil),
		post(FeaturePower, "turnOff", nil),
		post(FeatureSpeaker, "setVolume", pct("volume")),
		post(FeatureSpeaker, "adjustVolume", delta("volumeDelta")),
	}
}

// lookup finds the GET of a feature (name "") or an update operation by
// name; update names are unique across features.
func lookup(feature, name string) (Operation, bool) {
	for _, o := range Operations() {
		if (name == "" && o.Method == http.MethodGet && o.Feature == feature) || (name != "" && o.Name == name) {
			return o, true
		}
	}
	return Operation{}, false
}
