package features

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/alexarules/alexarules/internal/jsonenc"
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
	for i, f := range o.Fields {
		v := args[i]
		if !(v >= f.Min && v <= f.Max) { // also rejects NaN
			return nil, &ValidationError{Operation: o.Name, Field: f.Name, Value: v, Min: f.Min, Max: f.Max,
				Reason: fmt.Sprintf("want %g..%g", f.Min, f.Max)}
		}
		if f.Integer && v != math.Trunc(v) {
			return nil, &ValidationError{Operation: o.Name, Field: f.Name, Value: v, Min: f.Min, Max: f.Max,
				Reason: "want a whole number"}
		}
	}
	return o.appendBody(make([]byte, 0, 64), args)
}

// appendBody appends {"payload":{FIELDS}} (or {"payload":{NEST:{FIELDS}}})
// for valid args, byte for byte what json.Marshal made of the same maps
// (fields sorted by name, whole numbers as integers, other numbers as
// encoding/json writes a float64), without the maps and reflection: it
// ran for every device action. Field and nest names are identifiers of
// the reference, which JSON needs no escape for.
func (o Operation) appendBody(b []byte, args []float64) ([]byte, error) {
	b = append(b, `{"payload":{`...)
	if o.Nest != "" {
		b = append(append(b, '"'), o.Nest...)
		b = append(b, `":{`...)
	}
	var err error
	done := 0 // bit i: field i written
	for n := range o.Fields {
		next := -1 // the first field by name not yet written
		for i, f := range o.Fields {
			if done&(1<<i) == 0 && (next < 0 || f.Name < o.Fields[next].Name) {
				next = i
			}
		}
		done |= 1 << next
		if n > 0 {
			b = append(b, ',')
		}
		b = append(append(b, '"'), o.Fields[next].Name...)
		b = append(b, `":`...)
		if o.Fields[next].Integer {
			b = strconv.AppendInt(b, int64(args[next]), 10)
		} else if b, err = jsonenc.AppendFloat(b, args[next]); err != nil {
			return nil, err
		}
	}
	if o.Nest != "" {
		b = append(b, '}')
	}
	return append(b, "}}"...), nil
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

// lookup finds in ops (Operations) the GET of a feature (name "") or an
// update operation by name; update names are unique across features.
func lookup(ops []Operation, feature, name string) (Operation, bool) {
	for _, o := range ops {
		if (name == "" && o.Method == http.MethodGet && o.Feature == feature) || (name != "" && o.Name == name) {
			return o, true
		}
	}
	return Operation{}, false
}
