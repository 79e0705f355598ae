package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/smarthome/colors"
)

// The Alexa app's smart-home API (research household-smarthome-api.md):
// devices and groups of Household.SmartHome/Groups, discovered through
// GraphQL (graphql.go) and read and controlled through /api/phoenix
// (phoenix.go). This file holds the model both share: ids, capabilities,
// state values and the control actions.

// Id forms of a smart-home device (research §3).
const (
	// ApplianceIDPrefix + entityId is a device's applianceId, the form of
	// devices an Echo hub or Amazon's own cloud serves.
	ApplianceIDPrefix = "AAA_SonarCloudService_"
	// EndpointIDPrefix + entityId is a device's GraphQL endpoint id.
	EndpointIDPrefix = "amzn1.alexa.endpoint."
	// groupIDPrefix + "." + short id is a group's groupId; clients send
	// the text after the last dot with entityType GROUP.
	groupIDPrefix = "amzn1.HomeAutomation.ApplianceGroup." + simCustomerID
)

// smartHomeTypes maps Household device types to their applianceTypes and
// display category.
var smartHomeTypes = map[string]string{
	"LIGHT":              "LIGHT",
	"PLUG":               "SMARTPLUG",
	"SWITCH":             "SWITCH",
	"TEMPERATURE_SENSOR": "TEMPERATURE_SENSOR",
}

// smartHomeStateKeys are the Features keys a smart-home device's state may
// hold.
var smartHomeStateKeys = []string{"power", "brightness", "color", "color_temperature", "temperature", "temperature_scale", "connectivity"}

// shCapability is one Alexa interface of a smart-home device: its state
// property, the GraphQL feature and the phoenix actions that change it. One
// table drives discovery, state reads and control.
type shCapability struct {
	key       string // Features JSON key the state lives in
	namespace string // interfaceName, e.g. Alexa.PowerController
	property  string // property name, e.g. powerState
	feature   string // GraphQL feature name; "" for none
	// stateField is the GraphQL property's value field (research §5.3).
	stateField string
	actions    []string
	readOnly   bool
	has        func(f *Features) bool
	value      func(f *Features) any
}

func shCapabilities() []shCapability {
	return []shCapability{
		{key: "power", namespace: "Alexa.PowerController", property: "powerState", feature: "power", stateField: "powerStateValue",
			actions: []string{"turnOn", "turnOff"},
			has:     func(f *Features) bool { return f.Power != nil }, value: func(f *Features) any { return *f.Power }},
		{key: "brightness", namespace: "Alexa.BrightnessController", property: "brightness", feature: "brightness", stateField: "brightnessStateValue",
			actions: []string{"setBrightness"},
			has:     func(f *Features) bool { return f.Brightness != nil }, value: func(f *Features) any { return *f.Brightness }},
		{key: "color", namespace: "Alexa.ColorController", property: "color", feature: "color", stateField: "colorStateValue",
			actions: []string{"setColor"},
			has:     func(f *Features) bool { return f.Color != nil }, value: func(f *Features) any { return *f.Color }},
		{key: "color_temperature", namespace: "Alexa.ColorTemperatureController", property: "colorTemperatureInKelvin",
			feature: "colorTemperature", stateField: "colorTemperatureInKelvinStateValue", actions: []string{"setColorTemperature"},
			has:   func(f *Features) bool { return f.ColorTemperature != nil },
			value: func(f *Features) any { return *f.ColorTemperature }},
		{key: "temperature", namespace: "Alexa.TemperatureSensor", property: "temperature", feature: "temperatureSensor",
			stateField: "temperatureStateValue",
			readOnly:   true, has: func(f *Features) bool { return f.Temperature != nil },
			value: func(f *Features) any { return valueObject{Value: *f.Temperature, Scale: f.scale()} }},
		// Every device reports its health; one without connectivity is OK.
		{key: "connectivity", namespace: "Alexa.EndpointHealth", property: "connectivity", readOnly: true,
			has: func(*Features) bool { return true },
			value: func(f *Features) any {
				if f.Connectivity == nil {
					return valueObject{Value: "OK"}
				}
				return valueObject{Value: *f.Connectivity}
			}},
	}
}

// validateSmartHome reports the problems of the smart-home devices and
// groups: empty or duplicate ids and names, unknown types, state keys a
// smart-home device cannot have, invalid values, and group members that are
// not devices.
func (h Household) validateSmartHome() []error {
	var errs []error
	ids := map[string]bool{}
	for i, d := range h.SmartHome {
		where := labelled(fmt.Sprintf("smarthome[%d]", i), d.Name)
		errs = append(errs, checkIdentity(where, d.ID, d.Name, ids)...)
		if slices.Contains(d.Aliases, "") {
			errs = append(errs, fmt.Errorf("%s: an alias is empty", where))
		}
		if _, ok := smartHomeTypes[d.Type]; !ok && d.Type != "" {
			errs = append(errs, fmt.Errorf("%s: type %q is not one of LIGHT, PLUG, SWITCH, TEMPERATURE_SENSOR (or empty)", where, d.Type))
		}
		if err := checkStateKeys(d.State); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if err := d.State.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: state: %w", where, err))
		}
	}
	groups := map[string]bool{}
	for i, g := range h.Groups {
		where := labelled(fmt.Sprintf("groups[%d]", i), g.Name)
		errs = append(errs, checkIdentity(where, g.ID, g.Name, groups)...)
		if strings.Contains(g.ID, ".") {
			errs = append(errs, fmt.Errorf("%s: id %q has a dot (the short id is what follows the groupId's last dot)", where, g.ID))
		}
		seen := map[string]bool{}
		for _, m := range g.Members {
			switch {
			case !ids[m]:
				errs = append(errs, fmt.Errorf("%s: member %q is not a smarthome id", where, m))
			case seen[m]:
				errs = append(errs, fmt.Errorf("%s: duplicate member %q", where, m))
			}
			seen[m] = true
		}
	}
	return errs
}

// checkStateKeys rejects Features keys a smart-home device cannot have.
func checkStateKeys(f Features) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("marshal state: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("unmarshal state: %w", err)
	}
	var extra []string
	for k := range m {
		if !slices.Contains(smartHomeStateKeys, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("state keys %q are not smart-home state (known: %s)", extra, strings.Join(smartHomeStateKeys, ", "))
}

// defaultType is the type of a device given without one: LIGHT when it
// has brightness or colour, TEMPERATURE_SENSOR when it only measures, else
// PLUG.
func defaultType(f Features) string {
	switch {
	case f.Brightness != nil || f.Color != nil || f.ColorTemperature != nil:
		return "LIGHT"
	case f.Temperature != nil && f.Power == nil:
		return "TEMPERATURE_SENSOR"
	}
	return "PLUG"
}

// resetSmartHomeSamples stamps every smart-home state key with now and
// gives devices without a type their default one; s.mu is held or s is
// not shared yet.
func (s *Server) resetSmartHomeSamples(now time.Time) {
	s.shSamples = map[string]map[string]time.Time{}
	for i, d := range s.household.SmartHome {
		if d.Type == "" {
			s.household.SmartHome[i].Type = defaultType(d.State)
		}
		m := map[string]time.Time{}
		for _, k := range smartHomeStateKeys {
			m[k] = now
		}
		s.shSamples[d.ID] = m
	}
}

// smartHomeDevice returns the device with this entityId, or nil; s.mu is
// held.
func (s *Server) smartHomeDevice(id string) *SmartHomeDevice {
	for i := range s.household.SmartHome {
		if s.household.SmartHome[i].ID == id {
			return &s.household.SmartHome[i]
		}
	}
	return nil
}

// smartHomeGroup returns the group with this short id, or nil; s.mu is held.
func (s *Server) smartHomeGroup(id string) *Group {
	for i := range s.household.Groups {
		if s.household.Groups[i].ID == id {
			return &s.household.Groups[i]
		}
	}
	return nil
}

// PatchSmartHome merges patch into the state of smart-home device id, as
// PATCH /_sim/smarthome/{id} does (see PatchEndpoint); the keys are those
// of smartHomeStateKeys.
func (s *Server) PatchSmartHome(id string, patch map[string]json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.smartHomeDevice(id)
	if d == nil {
		return fmt.Errorf("smarthome device %q: %w", id, errNoEndpoint)
	}
	return s.patchState(&d.State, s.shSamples[id], patch, smartHomeStateKeys)
}

func (s *Server) handlePatchSmartHome(w http.ResponseWriter, r *http.Request) {
	s.handlePatch(w, r, s.PatchSmartHome, func(id string) any { return s.smartHomeDevice(id) })
}

// shError is a per-entity error of the smart-home API: the code clients
// test and a message.
type shError struct {
	code, message string
}

// Per-entity error codes. ENDPOINT_UNREACHABLE and
// TargetApplianceNotFoundException are Amazon's (research §7.1); the
// others are the simulator's choice (docs/SIMULATOR.md).
const (
	shUnreachable = "ENDPOINT_UNREACHABLE"
	shNotFound    = "TargetApplianceNotFoundException"
	shUnsupported = "UNSUPPORTED_OPERATION"
	shInvalid     = "INVALID_VALUE"
	shOutOfRange  = "VALUE_OUT_OF_RANGE"
)

func notFoundError() *shError {
	return &shError{code: shNotFound, message: "No appliance found for target!"}
}

// shParams are the parameters of a phoenix control request (or the
// payload of a GraphQL feature operation), values as sent.
type shParams map[string]any

// applyAction validates action with its parameters against device d and,
// when d is reachable, changes its state and time of sample; s.mu is
// held. Checks run in a fixed order: the device has the capability, the
// value is valid, the device is reachable.
func (s *Server) applyAction(d *SmartHomeDevice, action string, p shParams) *shError {
	caps := shCapabilities()
	capIdx := slices.IndexFunc(caps, func(c shCapability) bool { return slices.Contains(c.actions, action) })
	if capIdx < 0 {
		return &shError{code: shUnsupported, message: fmt.Sprintf("Unknown action %q.", action)}
	}
	c := caps[capIdx]
	if !c.has(&d.State) {
		return &shError{code: shUnsupported, message: fmt.Sprintf("%s has no %s.", d.Name, c.namespace)}
	}
	f := d.State
	if err := setState(&f, action, p); err != nil {
		return err
	}
	if !f.reachable() {
		return &shError{code: shUnreachable, message: fmt.Sprintf("%s is unreachable.", d.Name)}
	}
	if action == "setBrightness" {
		s.flagBrightness(d, p["brightness"], *f.Brightness)
	}
	d.State = f
	s.shSamples[d.ID][c.key] = s.opts.Now()
	return nil
}

// setState applies one action to f.
func setState(f *Features, action string, p shParams) *shError {
	switch action {
	case "turnOn", "turnOff":
		v := strings.ToUpper(strings.TrimPrefix(action, "turn"))
		f.Power = &v
	case "setBrightness":
		v, err := brightnessParam(p["brightness"])
		if err != nil {
			return err
		}
		f.Brightness = &v
	case "setColor":
		name, _ := p["colorName"].(string)
		c, ok := colors.Lookup(name)
		if !ok {
			return &shError{code: shInvalid, message: fmt.Sprintf("colorName %v is not an Alexa colour name.", jsonText(p["colorName"]))}
		}
		f.Color = &Color{Hue: c.Hue, Saturation: c.Saturation, Brightness: c.Brightness}
	case "setColorTemperature":
		k, err := kelvinParam(p)
		if err != nil {
			return err
		}
		f.ColorTemperature = &k
	}
	return nil
}

// brightnessParam reads a brightness as a number or numeric string 0..100
// (rounded); a value with a decimal point ≤ 1 is a fraction (ioBroker's
// "0.5") and scaled to percent.
func brightnessParam(v any) (int, *shError) {
	text, x, ok := numeric(v)
	if !ok {
		return 0, &shError{code: shInvalid, message: fmt.Sprintf("brightness must be a number or numeric string, got %s.", jsonText(v))}
	}
	if fractionForm(v) {
		x *= 100
	}
	if x < 0 || x > 100 || math.IsNaN(x) {
		return 0, &shError{code: shOutOfRange, message: fmt.Sprintf("brightness %s is out of range 0..100.", text)}
	}
	return int(math.Round(x)), nil
}

// numeric reads a JSON number or numeric string: its text and value.
func numeric(v any) (text string, x float64, ok bool) {
	switch b := v.(type) {
	case float64:
		return strconv.FormatFloat(b, 'f', -1, 64), b, true
	case string:
		text = strings.TrimSpace(b)
		x, err := strconv.ParseFloat(text, 64)
		return text, x, err == nil
	}
	return "", 0, false
}

// flagBrightness logs a brightness ≤ 1 the simulator took (research §9:
// clients disagree on the scale): a fraction taken as percent, or a 1
// that ioBroker's form would mean as 100 %.
func (s *Server) flagBrightness(d *SmartHomeDevice, sent any, percent int) {
	_, x, _ := numeric(sent)
	switch {
	case fractionForm(sent):
		s.opts.Logger.Info("brightness sent as a fraction (ioBroker's form), taken as percent",
			"device", d.Name, "brightness", sent, "percent", percent)
	case x == 1:
		s.opts.Logger.Info("brightness 1 taken as 1 percent; in ioBroker's fraction form it would mean 100",
			"device", d.Name, "brightness", sent)
	}
}

// fractionForm reports whether a brightness is a fraction: written with a
// decimal point and between 0 and 1 ("0.5", 0.25; "1" is 1 percent).
func fractionForm(v any) bool {
	text, x, ok := numeric(v)
	return ok && strings.Contains(text, ".") && x >= 0 && x <= 1
}

// kelvinParam reads setColorTemperature's colorTemperatureName (phoenix)
// or colorTemperatureInKelvin (GraphQL; a number or numeric string).
func kelvinParam(p shParams) (int, *shError) {
	if name, ok := p["colorTemperatureName"]; ok {
		s, _ := name.(string)
		w, ok := colors.LookupWhite(s)
		if !ok {
			return 0, &shError{code: shInvalid, message: fmt.Sprintf("colorTemperatureName %s is not an Alexa white name.", jsonText(name))}
		}
		return w.Kelvin, nil
	}
	raw, given := p["colorTemperatureInKelvin"]
	if !given {
		return 0, &shError{code: shInvalid, message: "setColorTemperature needs colorTemperatureName or colorTemperatureInKelvin."}
	}
	_, k, ok := numeric(raw)
	if !ok || math.IsNaN(k) {
		return 0, &shError{code: shInvalid, message: fmt.Sprintf("colorTemperatureInKelvin must be a number or numeric string, got %s.", jsonText(raw))}
	}
	if k < 1000 || k > 10000 {
		return 0, &shError{code: shOutOfRange, message: fmt.Sprintf("colorTemperatureInKelvin %v is out of range 1000..10000.", k)}
	}
	return int(math.Round(k)), nil
}

// jsonText renders a decoded JSON value for a message.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || v == nil {
		return "missing"
	}
	return string(b)
}
