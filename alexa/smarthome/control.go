package smarthome

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/smarthome/colors"
)

// controlOps are the update operations (named as the features backend
// names them, so that device() needs no second table) this API performs,
// with what the device must be able to do.
var controlOps = map[string]caps{
	"turnOn":                   capPower,
	"turnOff":                  capPower,
	"setBrightness":            capBrightness,
	"adjustBrightness":         capBrightness,
	"setColor":                 capColor,
	"setColorTemperature":      capColorTemperature,
	"increaseColorTemperature": capColorTemperature,
	"decreaseColorTemperature": capColorTemperature,
}

// setFeaturesMutation is homebridge-alexa's setEndpointFeatures mutation
// (research §6.3), the one write that takes a numeric kelvin.
const setFeaturesMutation = "mutation updatePowerFeatureForEndpoints($featureControlRequests: [FeatureControlRequest!]!) " +
	"{ setEndpointFeatures(setEndpointFeaturesInput: { featureControlRequests: $featureControlRequests }) " +
	"{ featureControlResponses { endpointId featureOperationName __typename } errors { endpointId code __typename } __typename } }"

// command is one control request to send.
type command struct {
	operation string
	params    map[string]any // phoenix parameters; nil for the GraphQL kelvin
	kelvin    int            // > 0: setEndpointFeatures setColorTemperature with this kelvin
	note      string         // how the caller's value was mapped
}

// Update performs an operation named as the features backend names it,
// with its arguments in the same order and ranges (features.Operations):
// turnOn, turnOff, setBrightness(0..100), adjustBrightness(-100..100),
// setColor(hue, saturation, brightness) as the nearest colour name,
// setColorTemperature(kelvin) (see Options.Kelvin), and
// increase/decreaseColorTemperature as the next cooler/warmer white name.
// adjustBrightness and the two steps read the state first. An operation
// this API or the device does not have fails with UNSUPPORTED and sends
// nothing. It succeeds only when Amazon answers SUCCESS for the device.
// During the account's cool-down it waits for the end when that comes
// before ctx's deadline, and otherwise fails THROTTLED at once.
// A failure is a *alexa.CallError; when a value was mapped to a name, its
// message says what was sent.
func (c *Client) Update(ctx context.Context, id, operation string, args ...float64) error {
	note, err := c.update(ctx, id, operation, args)
	if err == nil {
		return nil
	}
	ce := describe(err).(*alexa.CallError)
	if note != "" {
		ce.Message += " (sent " + note + ")"
	}
	return ce
}

func (c *Client) update(ctx context.Context, id, operation string, args []float64) (string, error) {
	if err := validate(operation, args); err != nil {
		return "", err
	}
	need, ok := controlOps[operation]
	if !ok {
		return "", fmt.Errorf("alexa smarthome: %s: %w by the Alexa smart-home API, which controls power, "+
			"brightness, colour and colour temperature of household devices", operation, ErrUnsupported)
	}
	if err := c.waitPaused(ctx, id); err != nil {
		return "", err // nothing is read, mapped or sent during a cool-down
	}
	d, err := c.lookup(ctx, id)
	if err != nil {
		return "", err
	}
	if d.known && !d.caps.has(need) {
		return "", fmt.Errorf("alexa smarthome: device %q cannot %s: %w (it has: %s)",
			d.Name, operation, ErrUnsupported, d.caps.names())
	}
	cmd, err := c.command(ctx, d, operation, args)
	if err != nil {
		return "", err
	}
	c.report(ctx, cmd.describe(d.ID))
	if cmd.kelvin > 0 {
		err = c.setFeature(ctx, d, cmd)
	} else {
		err = c.control(ctx, d, cmd)
	}
	if isNotFound(err) {
		if _, rerr := c.rediscover(ctx); rerr != nil {
			c.logger.Warn("alexa smarthome: rediscovery after a not-found device failed", "device", d.ID, "err", rerr)
		}
	}
	return cmd.note, err
}

// validate checks the operation's arguments against the features
// backend's table, so that both backends accept the same calls.
func validate(operation string, args []float64) error {
	for _, op := range features.Operations() {
		if op.Name == operation && operation != "" {
			_, err := op.Body(args...)
			return err
		}
	}
	return fmt.Errorf("alexa smarthome: unknown operation %q: %w", operation, ErrUnsupported)
}

// command builds the request for an operation; some read the state
// first.
func (c *Client) command(ctx context.Context, d *device, operation string, args []float64) (command, error) {
	switch operation {
	case "setBrightness":
		return c.brightnessCommand(operation, int(math.Round(args[0])), ""), nil
	case "adjustBrightness":
		cur, err := c.readNumber(ctx, d, "brightness")
		if err != nil {
			return command{}, err
		}
		v := int(max(0, min(100, math.Round(cur+args[0]))))
		return c.brightnessCommand(operation, v, fmt.Sprintf("brightness %d (%g%+g, within 0..100)", v, cur, args[0])), nil
	case "setColor":
		n := colors.Nearest(args[0], args[1])
		return command{operation: operation, params: map[string]any{"action": "setColor", "colorName": n.Name},
			note: fmt.Sprintf("colorName %s, the nearest Alexa colour to hue %g saturation %g (setColor takes no brightness)",
				n.Name, args[0], args[1])}, nil
	case "setColorTemperature":
		return c.kelvinCommand(d, int(math.Round(args[0]))), nil
	case "increaseColorTemperature", "decreaseColorTemperature":
		cur, err := c.readNumber(ctx, d, "color_temperature")
		if err != nil {
			return command{}, err
		}
		w := stepWhite(cur, operation == "increaseColorTemperature")
		return command{operation: operation, params: whiteParams(w),
			note: fmt.Sprintf("colorTemperatureName %s (%d K), the next white from %g K", w.Name, w.Kelvin, cur)}, nil
	}
	return command{operation: operation, params: map[string]any{"action": operation}}, nil
}

// brightnessCommand is setBrightness in the configured form.
func (c *Client) brightnessCommand(operation string, v int, note string) command {
	var value any
	switch c.brightness {
	case BrightnessNumber:
		value = v
	case BrightnessFraction:
		// Always with a decimal point: a bare "1" reads as 1 percent, not
		// as ioBroker's 100 % (the simulator takes it so, too).
		f := strconv.FormatFloat(float64(v)/100, 'f', -1, 64)
		if !strings.Contains(f, ".") {
			f += ".0"
		}
		value = f
	default:
		value = strconv.Itoa(v)
	}
	return command{operation: operation, params: map[string]any{"action": "setBrightness", "brightness": value}, note: note}
}

// kelvinCommand is a white name through phoenix or the exact kelvin
// through GraphQL, as Options.Kelvin says. A group has no endpoint id,
// so it always gets the name.
func (c *Client) kelvinCommand(d *device, k int) command {
	w := colors.NearestWhite(k)
	byName := c.kelvin == KelvinName || (c.kelvin == KelvinAuto && w.Kelvin == k) || d.EndpointID == ""
	if !byName {
		return command{operation: "setColorTemperature", kelvin: k}
	}
	cmd := command{operation: "setColorTemperature", params: whiteParams(w)}
	if w.Kelvin != k {
		cmd.note = fmt.Sprintf("colorTemperatureName %s (%d K), the nearest Alexa white to %d K", w.Name, w.Kelvin, k)
	}
	return cmd
}

func whiteParams(w colors.White) map[string]any {
	return map[string]any{"action": "setColorTemperature", "colorTemperatureName": w.Name}
}

// stepWhite is the next white name cooler (higher kelvin) or warmer than
// k, or the last one that way.
func stepWhite(k float64, cooler bool) colors.White {
	names := colors.WhiteNames // warmest first
	if cooler {
		for _, w := range names {
			if float64(w.Kelvin) > k+1 {
				return w
			}
		}
		return names[len(names)-1]
	}
	for i := len(names) - 1; i >= 0; i-- {
		if float64(names[i].Kelvin) < k-1 {
			return names[i]
		}
	}
	return names[0]
}

// readNumber reads one numeric attribute for a relative change.
func (c *Client) readNumber(ctx context.Context, d *device, attr string) (float64, error) {
	states, err := c.States(ctx, []string{d.ID})
	if err != nil {
		return 0, err
	}
	s := states[d.ID]
	if v, ok := s.Values[attr].(float64); ok {
		return v, nil
	}
	if s.Err != nil {
		return 0, s.Err
	}
	return 0, badResponse(http.MethodPost, statePath, fmt.Sprintf("device %q: Amazon reported no %s to change", d.Name, attr), nil)
}

// controlRef is the target of a control request: a group's short id with
// GROUP, else what the state is read by (entityId with ENTITY).
func (d *device) controlRef() ref {
	if d.IsGroup() {
		return ref{strings.TrimPrefix(d.ID, groupPrefix), "GROUP"}
	}
	return d.stateRef()
}

func (cmd command) describe(id string) Sent {
	if cmd.kelvin > 0 {
		return Sent{ID: id, Operation: cmd.operation, Request: "POST " + graphqlPath + " setEndpointFeatures",
			Params: map[string]any{"colorTemperatureInKelvin": cmd.kelvin}, Note: cmd.note}
	}
	return Sent{ID: id, Operation: cmd.operation, Request: "PUT " + statePath, Params: cmd.params, Note: cmd.note}
}

// control sends one phoenix controlRequest (research §6.1). It succeeds
// only when errors is empty and every controlResponses code is SUCCESS.
func (c *Client) control(ctx context.Context, d *device, cmd command) error {
	type controlRequest struct {
		ref
		Parameters map[string]any `json:"parameters"`
	}
	body, err := c.call(ctx, http.MethodPut, statePath, nil,
		map[string]any{"controlRequests": []controlRequest{{d.controlRef(), cmd.params}}})
	if err != nil {
		return err
	}
	var resp struct {
		ControlResponses []struct {
			EntityID string `json:"entityId"`
			Code     string `json:"code"`
		} `json:"controlResponses"`
		Errors []phoenixError `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return badResponse(http.MethodPut, statePath, "control answer", err)
	}
	if len(resp.Errors) > 0 {
		e := resp.Errors[0]
		return &EntityError{ID: d.ID, Code: e.Code, Message: e.Message}
	}
	if len(resp.ControlResponses) == 0 {
		return badResponse(http.MethodPut, statePath, "no controlResponses and no errors", nil)
	}
	for _, r := range resp.ControlResponses {
		if r.Code != "SUCCESS" {
			return &EntityError{ID: d.ID, Code: r.Code, Message: "Amazon did not confirm " + cmd.operation}
		}
	}
	return nil
}

// setFeature sets an exact colour temperature through the GraphQL
// setEndpointFeatures mutation (research §6.3). It succeeds only when
// the answer has a featureControlResponse and no errors.
func (c *Client) setFeature(ctx context.Context, d *device, cmd command) error {
	req := map[string]any{
		"endpointId":           d.EndpointID,
		"featureOperationName": "setColorTemperature",
		"featureName":          "colorTemperature",
		"payload":              map[string]any{"colorTemperatureInKelvin": cmd.kelvin},
	}
	body, err := c.call(ctx, http.MethodPost, graphqlPath, nil, map[string]any{
		"query": setFeaturesMutation, "variables": map[string]any{"featureControlRequests": []any{req}}})
	if err != nil {
		return err
	}
	var resp struct {
		Data *struct {
			Set *struct {
				Responses []json.RawMessage `json:"featureControlResponses"`
				Errors    []struct {
					Code string `json:"code"`
				} `json:"errors"`
			} `json:"setEndpointFeatures"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return badResponse(http.MethodPost, graphqlPath, "setEndpointFeatures answer", err)
	}
	switch {
	case len(resp.Errors) > 0:
		e := resp.Errors[0]
		return badResponse(http.MethodPost, graphqlPath, "setEndpointFeatures: "+strings.TrimSpace(e.Extensions.ErrorCode+" "+e.Message), nil)
	case resp.Data == nil || resp.Data.Set == nil:
		return badResponse(http.MethodPost, graphqlPath, "no data.setEndpointFeatures", nil)
	case len(resp.Data.Set.Errors) > 0:
		return &EntityError{ID: d.ID, Code: resp.Data.Set.Errors[0].Code}
	case len(resp.Data.Set.Responses) == 0:
		return badResponse(http.MethodPost, graphqlPath, "no featureControlResponses and no errors", nil)
	}
	return nil
}
