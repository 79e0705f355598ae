package smarthome

import (
	"encoding/json"
	"strings"
)

// caps is what a device can do, as a set of the interfaces this client
// speaks.
type caps uint8

const (
	capPower caps = 1 << iota
	capBrightness
	capColor
	capColorTemperature
	capTemperature
	capHealth
)

// capability is one Alexa interface this client speaks: the cap it
// stands for, its state property, its GraphQL feature, the RULES.md
// attribute it reads and how its state value decodes (research §4.2,
// §5.2). One table drives discovery, state reads and Get.
type capability struct {
	cap       caps
	iface     string // interfaceName, e.g. Alexa.PowerController
	property  string // capabilityStates name, e.g. powerState
	feature   string // GraphQL features[].name
	attribute string
	decode    func(c *Client, raw json.RawMessage) (any, error)
}

// capabilities returns the table; the slice is new on every call.
func capabilities() []capability {
	return []capability{
		{capPower, "Alexa.PowerController", "powerState", "power", "power", upper},
		{capBrightness, "Alexa.BrightnessController", "brightness", "brightness", "brightness", rounded},
		{capColor, "Alexa.ColorController", "color", "color", "color", hsb},
		{capColorTemperature, "Alexa.ColorTemperatureController", "colorTemperatureInKelvin", "colorTemperature",
			"color_temperature", rounded},
		{capTemperature, "Alexa.TemperatureSensor", "temperature", "temperatureSensor", "temperature", (*Client).temperature},
		{capHealth, "Alexa.EndpointHealth", "connectivity", "connectivity", "connectivity", connectivity},
	}
}

func (c caps) has(x caps) bool { return c&x != 0 }

// interfaces names the interfaces in c.
func (c caps) interfaces() []string {
	var out []string
	for _, ci := range capabilities() {
		if c.has(ci.cap) {
			out = append(out, ci.iface)
		}
	}
	return out
}

// names is c for messages: "power, brightness" or "none".
func (c caps) names() string {
	var out []string
	for _, ci := range capabilities() {
		if c.has(ci.cap) && ci.cap != capHealth {
			out = append(out, ci.feature)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// parseCaps reads legacyAppliance.capabilities[].interfaceName and the
// endpoint's features[].name; known is false when neither lists anything,
// and then the client lets Amazon decide what the device can do.
func parseCaps(capabilityList, features json.RawMessage) (c caps, known bool) {
	var ifaces []struct {
		Name string `json:"interfaceName"`
	}
	var feats []struct {
		Name string `json:"name"`
	}
	_ = flex(capabilityList, &ifaces)
	_ = flex(features, &feats)
	add := func(name string, key func(capability) string) {
		for _, ci := range capabilities() {
			if name == key(ci) {
				c |= ci.cap
			}
		}
		known = known || name != ""
	}
	for _, e := range ifaces {
		add(e.Name, func(ci capability) string { return ci.iface })
	}
	for _, f := range feats {
		add(f.Name, func(ci capability) string { return ci.feature })
	}
	return c, known
}
