package smarthome

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strings"

	"github.com/alexarules/alexarules/alexa/features"
)

const statePath = "/api/phoenix/state"

// State is one device's (or group's) state from States.
type State struct {
	// Values maps the RULES.md attribute names to plain values shaped as
	// the features backend's Get gives them: power and connectivity
	// strings ("ON", "OK", "UNREACHABLE"), brightness, color_temperature
	// and temperature (in the client's scale) float64, color
	// map[string]any{hue, saturation, brightness} of float64. Only what
	// Amazon reported is there; an unreachable device has connectivity
	// "UNREACHABLE" and nothing else.
	Values map[string]any
	// Err is this device's failure (a *alexa.CallError wrapping an
	// *EntityError: unreachable, not found, ...); Values may still hold
	// connectivity.
	Err error
}

// ref is one stateRequests / controlRequests target.
type ref struct {
	EntityID   string `json:"entityId"`
	EntityType string `json:"entityType"`
}

// stateRef is what a device's state is read by: the entityId with
// ENTITY (research §3: UUID+APPLIANCE is refused), or the applianceId
// with APPLIANCE for a device without an entityId.
func (d *device) stateRef() ref {
	if d.EndpointID == "" && d.ApplianceID != "" {
		return ref{d.ApplianceID, "APPLIANCE"}
	}
	return ref{d.ID, "ENTITY"}
}

// readTargets are the devices whose states make d's: d, or a group's
// members.
func (d *device) readTargets() []*device {
	if d.IsGroup() {
		return d.members
	}
	return []*device{d}
}

// States reads the state of every id with one POST /api/phoenix/state
// (one per MaxBatch entities; a group costs its members). During the
// account's cool-down it fails at once: the poller schedules its own
// retry. The error is
// the call's (throttling, network, a bad answer); a device's own failure
// is its State.Err. An id the device list lacks starts one discovery (at
// most once per MinRediscover) and is NOT_FOUND if still missing.
func (c *Client) States(ctx context.Context, ids []string) (map[string]State, error) {
	out := make(map[string]State, len(ids))
	devs := map[string]*device{}
	var refs []ref
	seen := map[ref]bool{}
	for _, id := range ids {
		d, err := c.lookup(ctx, id)
		if _, ok := errors.AsType[*EntityError](err); ok {
			out[id] = State{Err: describe(err)}
			continue
		}
		if err != nil {
			return nil, describe(err)
		}
		devs[id] = d
		for _, t := range d.readTargets() {
			if r := t.stateRef(); !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
	}
	readings, err := c.readStates(ctx, refs)
	if err != nil {
		return nil, describe(err)
	}
	notFound := false
	for id, d := range devs {
		s := c.stateOf(d, readings)
		if s.Err != nil {
			notFound = notFound || isNotFound(s.Err)
			s.Err = describe(s.Err)
		}
		out[id] = s
	}
	if notFound {
		// Amazon no longer knows a device: bring the list up to date, so
		// that the Directory and the next calls see it.
		if _, err := c.rediscover(ctx); err != nil {
			c.logger.Warn("alexa smarthome: rediscovery after a not-found device failed", "err", err)
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	ee, ok := errors.AsType[*EntityError](err)
	return ok && ee.NotFound()
}

// reading is one entity's part of a state answer.
type reading struct {
	values map[string]any
	err    *EntityError
}

type phoenixError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Entity  struct {
		EntityID string `json:"entityId"`
	} `json:"entity"`
}

// readStates posts the state requests, MaxBatch per request, and returns
// the readings by the entityId asked for.
func (c *Client) readStates(ctx context.Context, refs []ref) (map[string]*reading, error) {
	out := map[string]*reading{}
	for start := 0; start < len(refs); start += MaxBatch {
		chunk := refs[start:min(start+MaxBatch, len(refs))]
		body, err := c.call(ctx, http.MethodPost, statePath, nil, map[string]any{"stateRequests": chunk})
		if err != nil {
			return nil, err
		}
		var resp struct {
			DeviceStates *[]struct {
				Entity struct {
					EntityID string `json:"entityId"`
				} `json:"entity"`
				CapabilityStates []json.RawMessage `json:"capabilityStates"`
			} `json:"deviceStates"`
			Errors []phoenixError `json:"errors"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, badResponse(http.MethodPost, statePath, "state answer", err)
		}
		if resp.DeviceStates == nil && resp.Errors == nil {
			return nil, badResponse(http.MethodPost, statePath, "no deviceStates and no errors", nil)
		}
		for _, ds := range *orEmpty(resp.DeviceStates) {
			r := entry(out, ds.Entity.EntityID)
			for _, cs := range ds.CapabilityStates {
				if attr, v, ok := c.decodeCapability(cs); ok {
					r.values[attr] = v
				}
			}
		}
		for _, e := range resp.Errors {
			entry(out, e.Entity.EntityID).err = &EntityError{Code: e.Code, Message: e.Message}
		}
	}
	return out, nil
}

func orEmpty[T any](p *[]T) *[]T {
	if p == nil {
		return new([]T)
	}
	return p
}

func entry(m map[string]*reading, id string) *reading {
	r := m[id]
	if r == nil {
		r = &reading{values: map[string]any{}}
		m[id] = r
	}
	return r
}

// stateOf is a device's State from the readings: a group's power is ON
// when any member's is, its connectivity OK when any member answers,
// every other value its first member's that has one; it fails only when
// every member failed.
func (c *Client) stateOf(d *device, readings map[string]*reading) State {
	if !d.IsGroup() {
		return deviceState(d, readings[d.stateRef().EntityID])
	}
	s := State{Values: map[string]any{}}
	failed := 0
	for _, m := range d.members {
		ms := deviceState(m, readings[m.stateRef().EntityID])
		if ms.Err != nil {
			failed++
			if s.Err == nil {
				s.Err = fmt.Errorf("alexa smarthome: group %s: member %s: %w", d.ID, m.ID, ms.Err)
			}
		}
		for k, v := range ms.Values {
			switch _, has := s.Values[k]; {
			case !has, k == "power" && v == "ON", k == "connectivity" && v == "OK":
				s.Values[k] = v
			}
		}
	}
	if failed < len(d.members) {
		s.Err = nil
	} else if len(d.members) == 0 {
		s.Err = &EntityError{ID: d.ID, Code: codeNotFound, Message: "the group has no devices this client knows"}
	}
	return s
}

// deviceState is one device's State from its reading.
func deviceState(d *device, r *reading) State {
	if r == nil {
		return State{Err: badResponse(http.MethodPost, statePath, "no state for device "+d.ID, nil)}
	}
	s := State{Values: map[string]any{}}
	maps.Copy(s.Values, r.values)
	if r.err != nil {
		e := *r.err
		e.ID = d.ID
		s.Err = &e
		if e.Unreachable() {
			s.Values = map[string]any{"connectivity": "UNREACHABLE"}
		}
		return s
	}
	if _, ok := s.Values["connectivity"]; !ok {
		s.Values["connectivity"] = "OK" // it answered
	}
	return s
}

// capabilityState is one capabilityStates entry (research §5.2), a JSON
// string holding the object, or the object itself.
type capabilityState struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Value     json.RawMessage `json:"value"`
}

// decodeCapability turns a capability state into a RULES.md attribute
// and its plain value; ok is false for states rules have no name for and
// for malformed values.
func (c *Client) decodeCapability(raw json.RawMessage) (attr string, v any, ok bool) {
	var cs capabilityState
	if flex(raw, &cs) != nil {
		return "", nil, false
	}
	for _, ci := range capabilities() {
		if ci.iface != cs.Namespace || ci.property != cs.Name {
			continue
		}
		v, err := ci.decode(c, cs.Value)
		if err != nil {
			c.logger.Debug("alexa smarthome: unreadable capability state", "attr", ci.attribute, "err", err)
			return "", nil, false
		}
		return ci.attribute, v, true
	}
	return "", nil, false
}

// connectivity is EndpointHealth's {"value":"OK"} (or a bare "OK").
func connectivity(_ *Client, raw json.RawMessage) (any, error) {
	var inner struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &inner) == nil && inner.Value != nil {
		raw = inner.Value
	}
	return upper(nil, raw)
}

func upper(_ *Client, raw json.RawMessage) (any, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s == "" {
		return nil, errors.New("empty")
	}
	return strings.ToUpper(s), nil
}

// number accepts a JSON number or a numeric string.
func number(raw json.RawMessage) (float64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	f, err := n.Float64()
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = fmt.Errorf("%s is not a number", n)
	}
	return f, err
}

// rounded is a whole number, as the features backend reads brightness
// and kelvin.
func rounded(_ *Client, raw json.RawMessage) (any, error) {
	f, err := number(raw)
	if err != nil {
		return nil, err
	}
	return math.Round(f), nil
}

func hsb(_ *Client, raw json.RawMessage) (any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, k := range []string{"hue", "saturation", "brightness"} {
		f, err := number(m[k])
		if err != nil {
			return nil, fmt.Errorf("color %s: %w", k, err)
		}
		out[k] = f
	}
	return out, nil
}

// temperature is {value, scale} converted to the client's scale; a
// missing scale is taken to be the client's.
func (c *Client) temperature(raw json.RawMessage) (any, error) {
	var t struct {
		Value json.RawMessage `json:"value"`
		Scale string          `json:"scale"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	f, err := number(t.Value)
	if err != nil {
		return nil, err
	}
	if t.Scale == "" {
		t.Scale = c.scale
	}
	conv, err := features.Temperature{Value: f, Scale: t.Scale}.In(c.scale)
	if err != nil {
		return nil, err
	}
	return conv.Value, nil
}

// Get reads one attribute of a device or group with a live state request
// (see State.Values for the shapes): power, brightness, color,
// color_temperature, temperature or connectivity. An attribute the
// device lacks, or that this API has no state for (volume, thermostat,
// bluetooth), fails with UNSUPPORTED. During the account's cool-down it
// waits for the end when that comes before ctx's deadline, and otherwise
// fails THROTTLED at once (States, the poller's read, never waits).
func (c *Client) Get(ctx context.Context, id, attr string) (any, error) {
	cp, ok := attributeCap(attr)
	if !ok {
		return nil, describe(fmt.Errorf("alexa smarthome: get %s: %w: the smart-home API reads %s",
			attr, ErrUnsupported, strings.Join(attributes(), ", ")))
	}
	if err := c.waitPaused(ctx, id); err != nil {
		return nil, describe(err)
	}
	d, err := c.lookup(ctx, id)
	if err != nil {
		return nil, describe(err)
	}
	if d.known && cp != capHealth && !d.caps.has(cp) {
		return nil, describe(fmt.Errorf("alexa smarthome: device %q cannot report %s: %w (it has: %s)",
			d.Name, attr, ErrUnsupported, d.caps.names()))
	}
	states, err := c.States(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	s := states[id]
	if v, ok := s.Values[attr]; ok {
		return v, nil
	}
	if s.Err != nil {
		return nil, s.Err
	}
	return nil, describe(badResponse(http.MethodPost, statePath, fmt.Sprintf("device %q: Amazon reported no %s", d.Name, attr), nil))
}

// attributes are the names Get reads.
func attributes() []string {
	var out []string
	for _, ci := range capabilities() {
		out = append(out, ci.attribute)
	}
	return out
}

func attributeCap(attr string) (caps, bool) {
	for _, ci := range capabilities() {
		if ci.attribute == attr {
			return ci.cap, true
		}
	}
	return 0, false
}
