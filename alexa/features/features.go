package features

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// FeatureResponse is the answer of a feature GET, and one entry of an
// endpoint's features in the Endpoints list. Its methods decode the value
// model strictly: a missing or malformed value, an empty properties list
// and a property of type ERROR or NOT_RETRIEVABLE are errors.
type FeatureResponse struct {
	Name          string          `json:"name,omitempty"` // set in the Endpoints list only
	Properties    []Property      `json:"properties"`
	Operations    []OperationLink `json:"operations"`
	Configuration json.RawMessage `json:"configuration,omitempty"`

	endpoint string // for errors
	path     string
}

// Property is one entry of properties[].
type Property struct {
	Name         string          `json:"name"`
	Type         string          `json:"type"` // RETRIEVABLE, NOT_RETRIEVABLE or ERROR
	Value        json.RawMessage `json:"value,omitempty"`
	TimeOfSample string          `json:"timeOfSample,omitempty"` // ISO 8601
	Error        *ErrorObject    `json:"error,omitempty"`
}

// OperationLink is the reference's Operation object.
type OperationLink struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// ErrorObject is the reference's Error object.
type ErrorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Color is hue 0..360, saturation and brightness 0..1.
type Color struct {
	Hue        float64 `json:"hue"`
	Saturation float64 `json:"saturation"`
	Brightness float64 `json:"brightness"`
}

// Temperature is a value with its scale (CELSIUS, FAHRENHEIT, KELVIN).
type Temperature struct {
	Value float64 `json:"value"`
	Scale string  `json:"scale"`
}

// In converts t to another scale.
func (t Temperature) In(scale string) (Temperature, error) {
	to := strings.ToUpper(scale)
	from := strings.ToUpper(t.Scale)
	if from == to {
		return Temperature{Value: t.Value, Scale: to}, nil
	}
	var celsius float64
	switch from {
	case alexa.Celsius:
		celsius = t.Value
	case alexa.Fahrenheit:
		celsius = (t.Value - 32) * 5 / 9
	case alexa.Kelvin:
		celsius = t.Value - 273.15
	default:
		return Temperature{}, fmt.Errorf("alexa: unknown temperature scale %q", t.Scale)
	}
	var v float64
	switch to {
	case alexa.Celsius:
		v = celsius
	case alexa.Fahrenheit:
		v = celsius*9/5 + 32
	case alexa.Kelvin:
		v = celsius + 273.15
	default:
		return Temperature{}, fmt.Errorf("alexa: unknown temperature scale %q", scale)
	}
	// Conversions leave noise like 20.000000000000004 that rules would compare against.
	return Temperature{Value: math.Round(v*1e6) / 1e6, Scale: to}, nil
}

// Speaker is the speaker feature: volume 0..100 and, if reported, muting.
type Speaker struct {
	Volume int
	Muted  *bool
}

// Thermostat is the thermostat feature. A single-setpoint thermostat has
// Target; a dual-setpoint one Lower and Upper.
type Thermostat struct {
	Mode                 string // HEAT, COOL, AUTO, ECO, EM_HEAT, OFF; "" if not reported
	Target, Lower, Upper *Temperature
	SupportedModes       []string
}

// Bluetooth is the bluetooth feature, whose reference answer has no
// properties of its own, only the operations the caller may perform.
type Bluetooth struct {
	Operations []string
	Properties []Property
}

// Power is "ON" or "OFF" (property powerState).
func (r *FeatureResponse) Power() (string, error) {
	s, err := r.text("powerState")
	if err != nil {
		return "", err
	}
	if s != "ON" && s != "OFF" {
		return "", r.fail(fmt.Sprintf("powerState %q, want ON or OFF", s), nil)
	}
	return s, nil
}

// Brightness is 0..100 (property brightness).
func (r *FeatureResponse) Brightness() (int, error) { return r.integer("brightness") }

// ColorTemperature is in kelvin (property colorTemperatureInKelvin).
func (r *FeatureResponse) ColorTemperature() (int, error) {
	return r.integer("colorTemperatureInKelvin")
}

// Connectivity is OK, UNREACHABLE or NOT_FOUND (property reachability).
func (r *FeatureResponse) Connectivity() (string, error) { return r.text("reachability") }

// Color is the color property.
func (r *FeatureResponse) Color() (Color, error) {
	raw, err := r.value("color")
	if err != nil {
		return Color{}, err
	}
	var v struct {
		Hue, Saturation, Brightness *json.RawMessage
	}
	if err := decodeObject(raw, &v); err != nil {
		return Color{}, r.fail("color value", err)
	}
	var c Color
	for _, f := range []struct {
		name string
		raw  *json.RawMessage
		dst  *float64
	}{{"hue", v.Hue, &c.Hue}, {"saturation", v.Saturation, &c.Saturation}, {"brightness", v.Brightness, &c.Brightness}} {
		if f.raw == nil {
			return Color{}, r.fail("color value has no "+f.name, nil)
		}
		n, err := number(*f.raw)
		if err != nil {
			return Color{}, r.fail("color "+f.name, err)
		}
		*f.dst = n
	}
	return c, nil
}

// Speaker is the volume property and, when present, muted.
func (r *FeatureResponse) Speaker() (Speaker, error) {
	vol, err := r.integer("volume")
	if err != nil {
		return Speaker{}, err
	}
	s := Speaker{Volume: vol}
	if r.has("muted") {
		raw, err := r.scalar("muted")
		if err != nil {
			return Speaker{}, err
		}
		var m bool
		if err := json.Unmarshal(raw, &m); err != nil {
			return Speaker{}, r.fail("muted", err)
		}
		s.Muted = &m
	}
	return s, nil
}

// Temperature is the temperature property as reported. The reference says
// the scale is only sent for setpoints, so a missing scale is taken to be
// defaultScale (the household's configured one).
func (r *FeatureResponse) Temperature(defaultScale string) (Temperature, error) {
	return r.temperature("temperature", defaultScale)
}

// Thermostat decodes thermostatMode and the setpoints, whichever are
// present (at least one must be), and configuration.supportedModes.
func (r *FeatureResponse) Thermostat(defaultScale string) (Thermostat, error) {
	if err := r.anyFailed(); err != nil {
		return Thermostat{}, err
	}
	var t Thermostat
	found := false
	if r.has("thermostatMode") {
		m, err := r.text("thermostatMode")
		if err != nil {
			return Thermostat{}, err
		}
		t.Mode, found = m, true
	}
	for _, sp := range []struct {
		name string
		dst  **Temperature
	}{{"targetSetpoint", &t.Target}, {"lowerSetpoint", &t.Lower}, {"upperSetpoint", &t.Upper}} {
		if !r.has(sp.name) {
			continue
		}
		v, err := r.temperature(sp.name, defaultScale)
		if err != nil {
			return Thermostat{}, err
		}
		*sp.dst, found = &v, true
	}
	if !found {
		if len(r.Properties) == 0 {
			return Thermostat{}, r.fail("thermostat", ErrNoProperties)
		}
		return Thermostat{}, r.fail("no thermostatMode or setpoint property", nil)
	}
	if len(r.Configuration) > 0 {
		// Optional, and typed loosely by the reference: ignore other shapes.
		var cfg struct {
			SupportedModes []string `json:"supportedModes"`
		}
		if json.Unmarshal(r.Configuration, &cfg) == nil {
			t.SupportedModes = cfg.SupportedModes
		}
	}
	return t, nil
}

// Bluetooth accepts an empty properties list, as in the reference's
// example, but not a failed property.
func (r *FeatureResponse) Bluetooth() (Bluetooth, error) {
	if err := r.anyFailed(); err != nil {
		return Bluetooth{}, err
	}
	b := Bluetooth{Operations: []string{}, Properties: r.Properties}
	for _, o := range r.Operations {
		b.Operations = append(b.Operations, o.Name)
	}
	return b, nil
}

// Attributes are the names Get accepts: those of device:get in RULES.md,
// plus the thermostat's polled readings.
func Attributes() []string {
	return []string{"power", "brightness", "color", "color_temperature", "volume", "temperature",
		"thermostat", "thermostat_mode", "target_setpoint", "lower_setpoint", "upper_setpoint",
		"connectivity", "bluetooth"}
}

// AttributeFeature is the feature whose GET reads an attribute.
func AttributeFeature(attr string) (string, bool) {
	switch attr {
	case "power":
		return FeaturePower, true
	case "brightness":
		return FeatureBrightness, true
	case "color":
		return FeatureColor, true
	case "color_temperature":
		return FeatureColorTemperature, true
	case "volume":
		return FeatureSpeaker, true
	case "temperature":
		return FeatureTemperatureSensor, true
	case "thermostat", "thermostat_mode", "target_setpoint", "lower_setpoint", "upper_setpoint":
		return FeatureThermostat, true
	case "connectivity":
		return FeatureConnectivity, true
	case "bluetooth":
		return FeatureBluetooth, true
	}
	return "", false
}

// Attribute decodes an attribute as plain data for Lua: string, float64,
// map[string]any or []any. Temperatures are converted to scale.
//
//	power, connectivity              string ("ON", "OK", ...)
//	brightness, color_temperature,
//	volume                           float64
//	temperature, *_setpoint          float64 in scale
//	thermostat_mode                  string
//	color                            {hue, saturation, brightness}
//	thermostat                       {mode?, target_setpoint?, lower_setpoint?, upper_setpoint?, scale, supported_modes?}
//	bluetooth                        {operations = [...]}
func (r *FeatureResponse) Attribute(attr, scale string) (any, error) {
	v, err := r.attribute(attr, scale)
	if err != nil {
		// Never hand a zero value to Lua alongside an error.
		return nil, err
	}
	return v, nil
}

func (r *FeatureResponse) attribute(attr, scale string) (any, error) {
	switch attr {
	case "power":
		return r.Power()
	case "connectivity":
		return r.Connectivity()
	case "brightness":
		n, err := r.Brightness()
		return float64(n), err
	case "color_temperature":
		n, err := r.ColorTemperature()
		return float64(n), err
	case "volume":
		s, err := r.Speaker()
		return float64(s.Volume), err
	case "color":
		c, err := r.Color()
		if err != nil {
			return nil, err
		}
		return map[string]any{"hue": c.Hue, "saturation": c.Saturation, "brightness": c.Brightness}, nil
	case "temperature":
		t, err := r.Temperature(scale)
		if err != nil {
			return nil, err
		}
		if t, err = t.In(scale); err != nil {
			return nil, r.fail("temperature", err)
		}
		return t.Value, nil
	case "thermostat", "thermostat_mode", "target_setpoint", "lower_setpoint", "upper_setpoint":
		return r.thermostatAttribute(attr, scale)
	case "bluetooth":
		b, err := r.Bluetooth()
		if err != nil {
			return nil, err
		}
		ops := make([]any, len(b.Operations))
		for i, o := range b.Operations {
			ops[i] = o
		}
		return map[string]any{"operations": ops}, nil
	}
	return nil, &ValidationError{Operation: "get", Field: "attribute", Value: attr,
		Reason: "want one of " + strings.Join(Attributes(), ", ")}
}

func (r *FeatureResponse) thermostatAttribute(attr, scale string) (any, error) {
	t, err := r.Thermostat(scale)
	if err != nil {
		return nil, err
	}
	m := map[string]any{"scale": scale}
	if t.Mode != "" {
		m["thermostat_mode"] = t.Mode
	}
	for key, sp := range map[string]*Temperature{"target_setpoint": t.Target, "lower_setpoint": t.Lower, "upper_setpoint": t.Upper} {
		if sp == nil {
			continue
		}
		v, err := sp.In(scale)
		if err != nil {
			return nil, r.fail(key, err)
		}
		m[key] = v.Value
	}
	if t.SupportedModes != nil {
		modes := make([]any, len(t.SupportedModes))
		for i, s := range t.SupportedModes {
			modes[i] = s
		}
		m["supported_modes"] = modes
	}
	if attr == "thermostat" {
		if mode, ok := m["thermostat_mode"]; ok {
			m["mode"] = mode
			delete(m, "thermostat_mode")
		}
		return m, nil
	}
	v, ok := m[attr]
	if !ok {
		return nil, r.fail("thermostat reports no "+attr, nil)
	}
	return v, nil
}

// fail builds a DecodeError for this response.
func (r *FeatureResponse) fail(reason string, err error) error {
	return &DecodeError{Method: http.MethodGet, Path: r.path, Reason: reason, Err: err}
}

func (r *FeatureResponse) has(name string) bool {
	for _, p := range r.Properties {
		if p.Name == name {
			return true
		}
	}
	return false
}

// anyFailed returns the PropertyError of the first failed property.
func (r *FeatureResponse) anyFailed() error {
	for _, p := range r.Properties {
		if err := r.failed(p); err != nil {
			return err
		}
	}
	return nil
}

func (r *FeatureResponse) failed(p Property) error {
	if p.Type != "ERROR" && p.Type != "NOT_RETRIEVABLE" {
		return nil
	}
	e := &PropertyError{Endpoint: r.endpoint, Property: p.Name, Type: p.Type}
	if p.Error != nil {
		e.ErrorType, e.Message = p.Error.Type, p.Error.Message
	}
	return e
}

// value is the value object of the named property.
func (r *FeatureResponse) value(name string) (json.RawMessage, error) {
	if len(r.Properties) == 0 {
		return nil, r.fail(name, ErrNoProperties)
	}
	for _, p := range r.Properties {
		if p.Name != name {
			continue
		}
		if err := r.failed(p); err != nil {
			return nil, err
		}
		if v := strings.TrimSpace(string(p.Value)); v == "" || v == "null" {
			return nil, r.fail("property "+name+" has no value", nil)
		}
		return p.Value, nil
	}
	// A failed property may have lost its name; it explains the absence better.
	if err := r.anyFailed(); err != nil {
		return nil, err
	}
	return nil, r.fail("no "+name+" property", nil)
}

// scalar is value.value of the named property.
func (r *FeatureResponse) scalar(name string) (json.RawMessage, error) {
	raw, err := r.value(name)
	if err != nil {
		return nil, err
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := decodeObject(raw, &v); err != nil {
		return nil, r.fail(name+" value", err)
	}
	if s := strings.TrimSpace(string(v.Value)); s == "" || s == "null" {
		return nil, r.fail(name+" has no value.value", nil)
	}
	return v.Value, nil
}

func (r *FeatureResponse) text(name string) (string, error) {
	raw, err := r.scalar(name)
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", r.fail(name, err)
	}
	if s == "" {
		return "", r.fail(name+" is empty", nil)
	}
	return s, nil
}

func (r *FeatureResponse) integer(name string) (int, error) {
	raw, err := r.scalar(name)
	if err != nil {
		return 0, err
	}
	n, err := number(raw)
	if err != nil {
		return 0, r.fail(name, err)
	}
	return int(math.Round(n)), nil
}

func (r *FeatureResponse) temperature(name, defaultScale string) (Temperature, error) {
	raw, err := r.value(name)
	if err != nil {
		return Temperature{}, err
	}
	var v struct {
		Value *json.RawMessage `json:"value"`
		Scale string           `json:"scale"`
	}
	if err := decodeObject(raw, &v); err != nil {
		return Temperature{}, r.fail(name+" value", err)
	}
	if v.Value == nil {
		return Temperature{}, r.fail(name+" has no value.value", nil)
	}
	n, err := number(*v.Value)
	if err != nil {
		return Temperature{}, r.fail(name, err)
	}
	scale := strings.ToUpper(v.Scale)
	switch scale {
	case "":
		scale = strings.ToUpper(defaultScale)
	case alexa.Celsius, alexa.Fahrenheit, alexa.Kelvin:
	default:
		return Temperature{}, r.fail(fmt.Sprintf("%s scale %q", name, v.Scale), nil)
	}
	return Temperature{Value: n, Scale: scale}, nil
}

// number accepts a JSON number or a numeric string: the reference's own
// speaker example sends the volume as "42".
func number(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("want a number, got %s", retry.Truncate(string(raw), 40))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number, got %q", retry.Truncate(s, 40))
	}
	return f, nil
}

// Get reads one attribute (see Attributes) with a live GET and returns it
// as plain data (see FeatureResponse.Attribute), temperatures in the
// client's scale.
func (c *Client) Get(ctx context.Context, endpointID, attr string) (any, error) {
	feature, ok := AttributeFeature(attr)
	if !ok {
		return nil, &ValidationError{Operation: "get", Field: "attribute", Value: attr,
			Reason: "want one of " + strings.Join(Attributes(), ", ")}
	}
	r, err := c.Feature(ctx, endpointID, feature)
	if err != nil {
		return nil, err
	}
	return r.Attribute(attr, c.scale)
}
