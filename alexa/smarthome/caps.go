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

// capInterfaces are the Alexa interfaces and GraphQL feature names behind
// each cap (research §4.2, §5.2).
var capInterfaces = []struct {
	cap       caps
	iface     string
	feature   string
	attribute string // the RULES.md attribute it reads; "" for none
}{
	{capPower, "Alexa.PowerController", "power", "power"},
	{capBrightness, "Alexa.BrightnessController", "brightness", "brightness"},
	{capColor, "Alexa.ColorController", "color", "color"},
	{capColorTemperature, "Alexa.ColorTemperatureController", "colorTemperature", "color_temperature"},
	{capTemperature, "Alexa.TemperatureSensor", "temperatureSensor", "temperature"},
	{capHealth, "Alexa.EndpointHealth", "connectivity", "connectivity"},
}

func (c caps) has(x caps) bool { return c&x != 0 }

// interfaces names the interfaces in c.
func (c caps) interfaces() []string {
	var out []string
	for _, ci := range capInterfaces {
		if c.has(ci.cap) {
			out = append(out, ci.iface)
		}
	}
	return out
}

// names is c for messages: "power, brightness" or "none".
func (c caps) names() string {
	var out []string
	for _, ci := range capInterfaces {
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
func parseCaps(capabilities, features json.RawMessage) (c caps, known bool) {
	var list []struct {
		InterfaceName string `json:"interfaceName"`
	}
	if flex(capabilities, &list) == nil {
		for _, e := range list {
			for _, ci := range capInterfaces {
				if e.InterfaceName == ci.iface {
					c |= ci.cap
				}
			}
			known = known || e.InterfaceName != ""
		}
	}
	var feats []struct {
		Name string `json:"name"`
	}
	if flex(features, &feats) == nil {
		for _, f := range feats {
			for _, ci := range capInterfaces {
				if f.Name == ci.feature {
					c |= ci.cap
				}
			}
			known = known || f.Name != ""
		}
	}
	return c, known
}
