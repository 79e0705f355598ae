package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Household is everything the simulated cloud knows about one Amazon
// account. Its JSON form is the body of PUT /_sim/household and the answer of
// GET /_sim/household (design/INTERFACES.md).
type Household struct {
	Endpoints []Endpoint `json:"endpoints"`
	Echos     []Echo     `json:"echos"`
	Lists     []List     `json:"lists"`
	// Notifications are /api/notifications objects (alarms, timers,
	// reminders), kept exactly as given.
	Notifications []json.RawMessage `json:"notifications"`
	// SmartHome are the household's devices as the Alexa app's smart-home
	// API (GraphQL discovery, /api/phoenix) serves them (smarthome.go).
	SmartHome []SmartHomeDevice `json:"smarthome"`
	// Groups are the Alexa app's device groups of SmartHome devices.
	Groups []Group `json:"groups"`
	// Routines are the account's Alexa routines, served as automations
	// (echostate.go).
	Routines []Routine `json:"routines"`
	// Players are the Echos' media sessions (media.go).
	Players []Player `json:"players"`
	// Spoken logs what the Echos were made to say or do through
	// behaviors/preview, oldest first.
	Spoken []Spoken `json:"spoken"`
	// DND logs every Do Not Disturb change, oldest first.
	DND []DNDChange `json:"dnd"`
}

// SmartHomeDevice is a device of the Alexa app's smart-home API. ID is its
// entityId (a UUID in Amazon's data; any string without spaces here); its
// applianceId is ApplianceIDPrefix + ID and its GraphQL endpoint id
// EndpointIDPrefix + ID.
type SmartHomeDevice struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
	// Type is LIGHT, PLUG, SWITCH or TEMPERATURE_SENSOR; when empty the
	// server sets it from the state (defaultType).
	Type string `json:"type"`
	// State uses the Features keys of smartHomeStateKeys; the device has
	// a capability iff its key is present.
	State Features `json:"state"`
}

// Group is an Alexa app device group; Members are SmartHomeDevice ids. ID
// is the short group id clients send with entityType GROUP.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Endpoint is a smart-home endpoint served by the Endpoints and Endpoint
// Features APIs.
type Endpoint struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Features Features `json:"features"`
}

// Features holds an endpoint's state. An endpoint has a feature iff its key
// is present (non-nil): power → power, brightness → brightness, color →
// color, color_temperature → colorTemperature, volume → speaker,
// temperature → temperatureSensor, thermostat_mode → thermostat,
// connectivity → connectivity, bluetooth → bluetooth.
type Features struct {
	Power            *string  `json:"power,omitempty"`
	Brightness       *int     `json:"brightness,omitempty"`
	Color            *Color   `json:"color,omitempty"`
	ColorTemperature *int     `json:"color_temperature,omitempty"`
	Volume           *int     `json:"volume,omitempty"`
	Muted            *bool    `json:"muted,omitempty"`
	Temperature      *float64 `json:"temperature,omitempty"`
	// TemperatureScale applies to temperature and the setpoints; CELSIUS
	// when absent.
	TemperatureScale *string  `json:"temperature_scale,omitempty"`
	ThermostatMode   *string  `json:"thermostat_mode,omitempty"`
	TargetSetpoint   *float64 `json:"target_setpoint,omitempty"`
	LowerSetpoint    *float64 `json:"lower_setpoint,omitempty"`
	UpperSetpoint    *float64 `json:"upper_setpoint,omitempty"`
	// Connectivity is OK, UNREACHABLE or NOT_FOUND; an endpoint without it
	// is reachable.
	Connectivity *string    `json:"connectivity,omitempty"`
	Bluetooth    *Bluetooth `json:"bluetooth,omitempty"`
}

// Color is a colour as the Endpoint Features API states it.
type Color struct {
	Hue        float64 `json:"hue"`
	Saturation float64 `json:"saturation"`
	Brightness float64 `json:"brightness"`
}

// Bluetooth is the Bluetooth state of an endpoint; unpair empties it.
type Bluetooth struct {
	PairedDevices []BluetoothDevice `json:"paired_devices"`
}

// BluetoothDevice is one device paired with an endpoint.
type BluetoothDevice struct {
	Address string `json:"address"`
	Name    string `json:"name"`
}

// Echo is an Echo device as the Alexa web API knows it.
type Echo struct {
	Serial   string `json:"serial"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	// Family is the devices-v2 deviceFamily (ECHO when empty); WHA makes
	// the Echo a speaker group of Members (serials of other Echos).
	Family  string   `json:"family,omitempty"`
	Members []string `json:"members,omitempty"`
	// DND is the Do Not Disturb state; DNDUntil, when set, is when a timed
	// Do Not Disturb ends.
	DND      bool       `json:"dnd,omitempty"`
	DNDUntil *time.Time `json:"dnd_until,omitempty"`
	// Online is false for an Echo devices-v2 lists as offline (true when
	// absent).
	Online *bool `json:"online,omitempty"`
	// Volume is the speaker volume 0..100 (defaultEchoVolume when absent).
	Volume *int `json:"volume,omitempty"`
}

// List is an Alexa list (shopping, to-do or custom).
type List struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	Items []ListItem `json:"items"`
}

// ListItem is one entry of a List.
type ListItem struct {
	ID        string `json:"id"`
	Text      string `json:"text"`
	Completed bool   `json:"completed"`
}

// Valid values of the enumerated features.
var (
	powerStates       = []string{"ON", "OFF"}
	connectivities    = []string{"OK", "UNREACHABLE", "NOT_FOUND"}
	thermostatModes   = []string{"AUTO", "COOL", "ECO", "EM_HEAT", "HEAT", "OFF"}
	temperatureScales = []string{"CELSIUS", "FAHRENHEIT", "KELVIN"}
)

// LoadHousehold reads a household in its JSON form, rejecting unknown
// fields and invalid values.
func LoadHousehold(r io.Reader) (Household, error) {
	var h Household
	if err := decodeStrict(r, &h); err != nil {
		return Household{}, fmt.Errorf("read household: %w", err)
	}
	if err := h.Validate(); err != nil {
		return Household{}, fmt.Errorf("invalid household: %w", err)
	}
	return h, nil
}

// decodeStrict decodes exactly one JSON value, rejecting unknown fields and
// trailing data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// Validate reports every problem of h: duplicate or empty ids and names,
// Echos without a type, out-of-range or unknown feature values, setpoints
// without a thermostat mode, notifications that are not JSON objects
// with a unique string id, and the smart-home devices' and groups' problems
// (validateSmartHome).
func (h Household) Validate() error {
	var errs []error
	ids := map[string]bool{}
	for i, e := range h.Endpoints {
		where := labelled(fmt.Sprintf("endpoints[%d]", i), e.Name)
		errs = append(errs, checkIdentity(where, e.ID, e.Name, ids)...)
		if err := e.Features.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	serials := map[string]bool{}
	for i, e := range h.Echos {
		switch {
		case e.Serial == "":
			errs = append(errs, fmt.Errorf("echos[%d]: serial is empty", i))
		case serials[e.Serial]:
			errs = append(errs, fmt.Errorf("echos[%d]: duplicate serial %q", i, e.Serial))
		}
		serials[e.Serial] = true
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("echos[%d]: name is empty", i))
		}
		if e.Type == "" {
			errs = append(errs, fmt.Errorf("echos[%d]: type is empty", i))
		}
	}
	lists := map[string]bool{}
	for i, l := range h.Lists {
		switch {
		case l.ID == "":
			errs = append(errs, fmt.Errorf("lists[%d]: id is empty", i))
		case lists[l.ID]:
			errs = append(errs, fmt.Errorf("lists[%d]: duplicate id %q", i, l.ID))
		}
		lists[l.ID] = true
		items := map[string]bool{}
		for j, it := range l.Items {
			switch {
			case it.ID == "":
				errs = append(errs, fmt.Errorf("lists[%d].items[%d]: id is empty", i, j))
			case items[it.ID]:
				errs = append(errs, fmt.Errorf("lists[%d].items[%d]: duplicate id %q", i, j, it.ID))
			}
			items[it.ID] = true
		}
	}
	notifications := map[string]bool{}
	for i, n := range h.Notifications {
		var obj map[string]any
		if err := json.Unmarshal(n, &obj); err != nil || obj == nil {
			errs = append(errs, fmt.Errorf("notifications[%d]: not a JSON object", i))
			continue
		}
		// The web API finds notifications by id.
		switch id, _ := obj["id"].(string); {
		case id == "":
			errs = append(errs, fmt.Errorf("notifications[%d]: id is missing or not a string", i))
		case notifications[id]:
			errs = append(errs, fmt.Errorf("notifications[%d]: duplicate id %q", i, id))
		default:
			notifications[id] = true
		}
	}
	errs = append(errs, h.validateSmartHome()...)
	errs = append(errs, h.validateEchoState()...)
	return errors.Join(errs...)
}

// labelled adds a name to a position for error messages.
func labelled(where, name string) string {
	if name == "" {
		return where
	}
	return fmt.Sprintf("%s (%s)", where, name)
}

// checkIdentity reports an empty or duplicate id and an empty name of the
// item at where, adding id to seen.
func checkIdentity(where, id, name string, seen map[string]bool) []error {
	var errs []error
	switch {
	case id == "":
		errs = append(errs, fmt.Errorf("%s: id is empty", where))
	case seen[id]:
		errs = append(errs, fmt.Errorf("%s: duplicate id %q", where, id))
	}
	seen[id] = true
	if name == "" {
		errs = append(errs, fmt.Errorf("%s: name is empty", where))
	}
	return errs
}

func (f Features) validate() error {
	var errs []error
	oneOf := func(key string, v *string, valid []string) {
		if v != nil && !slices.Contains(valid, *v) {
			errs = append(errs, fmt.Errorf("%s %q is not one of %v", key, *v, valid))
		}
	}
	inRange := func(key string, v *float64, lo, hi float64) {
		if v != nil && (*v < lo || *v > hi) {
			errs = append(errs, fmt.Errorf("%s %v is out of range %v..%v", key, *v, lo, hi))
		}
	}
	intInRange := func(key string, v *int, lo, hi int) {
		if v != nil {
			x := float64(*v)
			inRange(key, &x, float64(lo), float64(hi))
		}
	}
	oneOf("power", f.Power, powerStates)
	intInRange("brightness", f.Brightness, 0, 100)
	if c := f.Color; c != nil {
		inRange("color.hue", &c.Hue, 0, 360)
		inRange("color.saturation", &c.Saturation, 0, 1)
		inRange("color.brightness", &c.Brightness, 0, 1)
	}
	intInRange("color_temperature", f.ColorTemperature, 1000, 10000)
	intInRange("volume", f.Volume, 0, 100)
	if f.Muted != nil && f.Volume == nil {
		errs = append(errs, errors.New("muted needs volume (the speaker feature)"))
	}
	oneOf("temperature_scale", f.TemperatureScale, temperatureScales)
	oneOf("thermostat_mode", f.ThermostatMode, thermostatModes)
	if f.ThermostatMode == nil && (f.TargetSetpoint != nil || f.LowerSetpoint != nil || f.UpperSetpoint != nil) {
		errs = append(errs, errors.New("setpoints need thermostat_mode (the thermostat feature)"))
	}
	if f.LowerSetpoint != nil && f.UpperSetpoint != nil && *f.LowerSetpoint > *f.UpperSetpoint {
		errs = append(errs, fmt.Errorf("lower_setpoint %v is above upper_setpoint %v", *f.LowerSetpoint, *f.UpperSetpoint))
	}
	oneOf("connectivity", f.Connectivity, connectivities)
	return errors.Join(errs...)
}

// clone returns a deep copy of h with nil slices made empty, so that the
// server's copy never aliases the caller's and JSON shows [] rather than
// null.
func (h Household) clone() Household {
	b, err := json.Marshal(h)
	if err != nil {
		// Every field of Household marshals; a failure here is a bug.
		panic(fmt.Sprintf("sim: marshal household: %v", err))
	}
	var c Household
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		panic(fmt.Sprintf("sim: unmarshal household: %v", err))
	}
	if c.Endpoints == nil {
		c.Endpoints = []Endpoint{}
	}
	if c.Echos == nil {
		c.Echos = []Echo{}
	}
	for i := range c.Lists {
		if c.Lists[i].Items == nil {
			c.Lists[i].Items = []ListItem{}
		}
	}
	if c.Lists == nil {
		c.Lists = []List{}
	}
	if c.Notifications == nil {
		c.Notifications = []json.RawMessage{}
	}
	if c.SmartHome == nil {
		c.SmartHome = []SmartHomeDevice{}
	}
	for i := range c.SmartHome {
		if c.SmartHome[i].Aliases == nil {
			c.SmartHome[i].Aliases = []string{}
		}
	}
	if c.Groups == nil {
		c.Groups = []Group{}
	}
	c.cloneEchoState()
	for i := range c.Groups {
		if c.Groups[i].Members == nil {
			c.Groups[i].Members = []string{}
		}
	}
	return c
}
