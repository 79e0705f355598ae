package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/alexarules/alexarules/alexa/smarthome/colors"
)

// unreachableStatus is the HTTP status of an update sent to an unreachable
// endpoint. The reference names the ENDPOINT_UNREACHABLE Error type but no
// status; 400 keeps clients from retrying what a retry cannot fix.
const unreachableStatus = http.StatusBadRequest

// colorTemperatureSteps are the named shades of white (reference "Color
// temperature values", the names of colors.WhiteNames); increase and
// decrease move to the next one.
func colorTemperatureSteps() []int {
	steps := make([]int, len(colors.WhiteNames))
	for i, w := range colors.WhiteNames {
		steps[i] = w.Kelvin
	}
	return steps
}

// supportedThermostatModes is the configuration every simulated thermostat
// reports.
var supportedThermostatModes = []string{"HEAT", "COOL", "AUTO", "ECO", "OFF"}

// prop is one property of a feature, as a GET reports it.
type prop struct {
	name  string // API property name, e.g. powerState
	key   string // Features JSON key it is read from
	value any    // the property's "value" object
}

// valueObject is the common {"value":...} property value, with a scale for
// temperatures.
type valueObject struct {
	Value any    `json:"value"`
	Scale string `json:"scale,omitempty"`
}

// feature describes one Endpoint Features API feature: how to tell an
// endpoint has it, its properties and its update operations. One table
// drives every GET and POST of the API.
type feature struct {
	name   string
	has    func(f *Features) bool
	props  func(f *Features) []prop
	ops    []operation
	config func(f *Features) any
}

// operation is one update operation of a feature.
type operation struct {
	name string
	// status answers a successful call.
	status int
	// apply validates the payload (nil for operations without a body) and
	// changes f; it returns the Features keys it changed.
	apply func(f *Features, p payload) ([]string, *apiError)
	// bodyless operations ignore any request body.
	bodyless bool
}

func features() []feature {
	return []feature{
		{
			name: "power",
			has:  func(f *Features) bool { return f.Power != nil },
			props: func(f *Features) []prop {
				return []prop{{"powerState", "power", valueObject{Value: *f.Power}}}
			},
			ops: []operation{
				{name: "turnOn", bodyless: true, apply: setPower("ON")},
				{name: "turnOff", bodyless: true, apply: setPower("OFF")},
			},
		},
		{
			name: "brightness",
			has:  func(f *Features) bool { return f.Brightness != nil },
			props: func(f *Features) []prop {
				return []prop{{"brightness", "brightness", valueObject{Value: *f.Brightness}}}
			},
			ops: []operation{
				{name: "setBrightness", apply: func(f *Features, p payload) ([]string, *apiError) {
					v, err := p.integer("brightness", 0, 100)
					if err == nil {
						err = p.only("brightness")
					}
					if err != nil {
						return nil, err
					}
					f.Brightness = &v
					return []string{"brightness"}, nil
				}},
				{name: "adjustBrightness", apply: func(f *Features, p payload) ([]string, *apiError) {
					d, err := p.integer("brightnessDelta", -100, 100)
					if err == nil {
						err = p.only("brightnessDelta")
					}
					if err != nil {
						return nil, err
					}
					v := clamp(*f.Brightness+d, 0, 100)
					f.Brightness = &v
					return []string{"brightness"}, nil
				}},
			},
		},
		{
			name: "color",
			has:  func(f *Features) bool { return f.Color != nil },
			props: func(f *Features) []prop {
				return []prop{{"color", "color", *f.Color}}
			},
			ops: []operation{
				{name: "setColor", apply: func(f *Features, p payload) ([]string, *apiError) {
					c, err := p.object("color")
					if err == nil {
						err = p.only("color")
					}
					if err != nil {
						return nil, err
					}
					hue, err := c.integer("hue", 0, 360)
					if err != nil {
						return nil, err
					}
					sat, err := c.number("saturation", 0, 1)
					if err != nil {
						return nil, err
					}
					bri, err := c.number("brightness", 0, 1)
					if err != nil {
						return nil, err
					}
					if err := c.only("hue", "saturation", "brightness"); err != nil {
						return nil, err
					}
					f.Color = &Color{Hue: float64(hue), Saturation: sat, Brightness: bri}
					return []string{"color"}, nil
				}},
			},
		},
		{
			name: "colorTemperature",
			has:  func(f *Features) bool { return f.ColorTemperature != nil },
			props: func(f *Features) []prop {
				return []prop{{"colorTemperatureInKelvin", "color_temperature", valueObject{Value: *f.ColorTemperature}}}
			},
			ops: []operation{
				{name: "setColorTemperature", apply: func(f *Features, p payload) ([]string, *apiError) {
					v, err := p.integer("colorTemperatureInKelvin", 1000, 10000)
					if err == nil {
						err = p.only("colorTemperatureInKelvin")
					}
					if err != nil {
						return nil, err
					}
					f.ColorTemperature = &v
					return []string{"color_temperature"}, nil
				}},
				{name: "increaseColorTemperature", bodyless: true, apply: stepColorTemperature(+1)},
				{name: "decreaseColorTemperature", bodyless: true, apply: stepColorTemperature(-1)},
			},
		},
		{
			name: "speaker",
			has:  func(f *Features) bool { return f.Volume != nil },
			props: func(f *Features) []prop {
				return []prop{{"volume", "volume", valueObject{Value: *f.Volume}}}
			},
			ops: []operation{
				{name: "setVolume", apply: func(f *Features, p payload) ([]string, *apiError) {
					v, err := p.integer("volume", 0, 100)
					if err == nil {
						err = p.only("volume")
					}
					if err != nil {
						return nil, err
					}
					f.Volume = &v
					return []string{"volume"}, nil
				}},
				{name: "adjustVolume", apply: func(f *Features, p payload) ([]string, *apiError) {
					d, err := p.integer("volumeDelta", -100, 100)
					if err == nil {
						err = p.only("volumeDelta")
					}
					if err != nil {
						return nil, err
					}
					v := clamp(*f.Volume+d, 0, 100)
					f.Volume = &v
					return []string{"volume"}, nil
				}},
			},
		},
		{
			name: "temperatureSensor",
			has:  func(f *Features) bool { return f.Temperature != nil },
			props: func(f *Features) []prop {
				return []prop{{"temperature", "temperature", valueObject{Value: *f.Temperature, Scale: f.scale()}}}
			},
		},
		{
			name: "thermostat",
			has:  func(f *Features) bool { return f.ThermostatMode != nil },
			props: func(f *Features) []prop {
				ps := []prop{{"thermostatMode", "thermostat_mode", valueObject{Value: *f.ThermostatMode}}}
				for _, sp := range []struct {
					name, key string
					v         *float64
				}{
					{"targetSetpoint", "target_setpoint", f.TargetSetpoint},
					{"lowerSetpoint", "lower_setpoint", f.LowerSetpoint},
					{"upperSetpoint", "upper_setpoint", f.UpperSetpoint},
				} {
					if sp.v != nil {
						ps = append(ps, prop{sp.name, sp.key, valueObject{Value: *sp.v, Scale: f.scale()}})
					}
				}
				return ps
			},
			config: func(f *Features) any {
				return map[string][]string{"supportedModes": supportedThermostatModes}
			},
		},
		{
			name: "bluetooth",
			has:  func(f *Features) bool { return f.Bluetooth != nil },
			ops: []operation{
				{name: "unpair", bodyless: true, status: http.StatusAccepted,
					apply: func(f *Features, p payload) ([]string, *apiError) {
						f.Bluetooth = &Bluetooth{PairedDevices: []BluetoothDevice{}}
						return []string{"bluetooth"}, nil
					}},
			},
		},
		{
			name: "connectivity",
			has:  func(f *Features) bool { return f.Connectivity != nil },
			props: func(f *Features) []prop {
				return []prop{{"reachability", "connectivity", valueObject{Value: *f.Connectivity}}}
			},
		},
	}
}

func setPower(state string) func(*Features, payload) ([]string, *apiError) {
	return func(f *Features, _ payload) ([]string, *apiError) {
		v := state
		f.Power = &v
		return []string{"power"}, nil
	}
}

// stepColorTemperature moves to the next named shade up (dir > 0, cooler)
// or down (warmer); at either end of the scale it leaves the value alone.
func stepColorTemperature(dir int) func(*Features, payload) ([]string, *apiError) {
	return func(f *Features, _ payload) ([]string, *apiError) {
		cur := *f.ColorTemperature
		next := cur
		steps := colorTemperatureSteps()
		if dir > 0 {
			if i := slices.IndexFunc(steps, func(k int) bool { return k > cur }); i >= 0 {
				next = steps[i]
			}
		} else {
			for _, k := range steps {
				if k < cur {
					next = k
				}
			}
		}
		f.ColorTemperature = &next
		return []string{"color_temperature"}, nil
	}
}

func (f *Features) scale() string {
	if f.TemperatureScale != nil {
		return *f.TemperatureScale
	}
	return "CELSIUS"
}

// reachable reports whether the endpoint answers; NOT_FOUND (offline for
// more than 30 days) counts as unreachable too.
func (f *Features) reachable() bool {
	return f.Connectivity == nil || *f.Connectivity == "OK"
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }

func findFeature(name string) (feature, bool) {
	for _, f := range features() {
		if f.name == name {
			return f, true
		}
	}
	return feature{}, false
}

// payload is the "payload" object of an update request.
type payload map[string]json.RawMessage

// parsePayload reads {"payload":{...}}, rejecting anything else.
func parsePayload(body []byte) (payload, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("The request has no body; this operation needs {\"payload\":{...}}.")
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || req == nil {
		return nil, badRequest("The request body is not a JSON object.")
	}
	for k := range req {
		if k != "payload" {
			return nil, badRequest("Unknown property %q in the request body.", k)
		}
	}
	raw, ok := req["payload"]
	if !ok {
		return nil, badRequest("The request body has no payload.")
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return nil, badRequest("payload is not a JSON object.")
	}
	return p, nil
}

// number reads a required numeric field within lo..hi.
func (p payload) number(name string, lo, hi float64) (float64, *apiError) {
	raw, ok := p[name]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return 0, badRequest("payload.%s is required.", name)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, badRequest("payload.%s must be a number, got %s.", name, raw)
	}
	if v < lo || v > hi {
		return 0, &apiError{status: http.StatusBadRequest, Type: errValueOutOfRange,
			Message: fmt.Sprintf("payload.%s %v is out of range %v to %v.", name, v, lo, hi)}
	}
	return v, nil
}

// integer reads a required integral field within lo..hi.
func (p payload) integer(name string, lo, hi int) (int, *apiError) {
	v, err := p.number(name, math.Inf(-1), math.Inf(1))
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) {
		return 0, badRequest("payload.%s must be an integer, got %s.", name, p[name])
	}
	if v < float64(lo) || v > float64(hi) {
		return 0, &apiError{status: http.StatusBadRequest, Type: errValueOutOfRange,
			Message: fmt.Sprintf("payload.%s %v is out of range %d to %d.", name, v, lo, hi)}
	}
	return int(v), nil
}

// object reads a required object field.
func (p payload) object(name string) (payload, *apiError) {
	raw, ok := p[name]
	if !ok {
		return nil, badRequest("payload.%s is required.", name)
	}
	var o payload
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, badRequest("payload.%s must be an object.", name)
	}
	return o, nil
}

// only rejects fields other than names: a client sending brightnessDelta to
// setBrightness has a bug the reference's "include one of" forbids.
func (p payload) only(names ...string) *apiError {
	var extra []string
	for k := range p {
		if !slices.Contains(names, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return badRequest("Unexpected payload properties %s; this operation takes %s.",
		strings.Join(extra, ", "), strings.Join(names, ", "))
}

// Wire shapes of the Endpoint Features and Endpoints APIs.
type (
	featureJSON struct {
		Name          string          `json:"name,omitempty"`
		Properties    []propertyJSON  `json:"properties,omitempty"`
		Operations    []operationJSON `json:"operations,omitempty"`
		Configuration any             `json:"configuration,omitempty"`
	}
	propertyJSON struct {
		Name         string    `json:"name"`
		Type         string    `json:"type"`
		Value        any       `json:"value,omitempty"`
		TimeOfSample string    `json:"timeOfSample,omitempty"`
		Error        *apiError `json:"error,omitempty"`
	}
	operationJSON struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	textValue struct {
		Text string `json:"text"`
	}
	friendlyName struct {
		Type  string    `json:"type"`
		Value textValue `json:"value"`
	}
	endpointJSON struct {
		ID           string        `json:"id"`
		FriendlyName friendlyName  `json:"friendlyName"`
		Features     []featureJSON `json:"features,omitempty"`
	}
	paginationContext struct {
		NextToken string `json:"nextToken,omitempty"`
	}
	endpointsPage struct {
		Results           []endpointJSON    `json:"results"`
		PaginationContext paginationContext `json:"paginationContext"`
	}
)

// timeOfSampleLayout is ISO 8601 in UTC with hundredths, like the
// reference's examples ("2024-07-02T06:20:50.52Z").
const timeOfSampleLayout = "2006-01-02T15:04:05.00Z"

// render builds the GET answer of feature ft of endpoint e; s.mu is held.
// Properties of an unreachable endpoint come back as type ERROR with an
// ENDPOINT_UNREACHABLE error, except its connectivity.
func (s *Server) render(e *Endpoint, ft feature) featureJSON {
	out := featureJSON{}
	reachable := e.Features.reachable() || ft.name == "connectivity"
	if ft.props != nil {
		for _, p := range ft.props(&e.Features) {
			pj := propertyJSON{Name: p.name}
			if reachable {
				pj.Type = "RETRIEVABLE"
				pj.Value = p.value
				pj.TimeOfSample = s.samples[e.ID][p.key].UTC().Format(timeOfSampleLayout)
			} else {
				pj.Type = "ERROR"
				pj.Error = unreachableError(e)
			}
			out.Properties = append(out.Properties, pj)
		}
	}
	for _, op := range ft.ops {
		out.Operations = append(out.Operations, operationJSON{
			Name: op.name,
			Path: fmt.Sprintf("/v2/endpoints/%s/features/%s/%s", e.ID, ft.name, op.name),
		})
	}
	if ft.config != nil {
		out.Configuration = ft.config(&e.Features)
	}
	return out
}

func unreachableError(e *Endpoint) *apiError {
	return &apiError{status: unreachableStatus, Type: errUnreachable,
		Message: fmt.Sprintf("The endpoint %s is offline or unreachable.", e.ID)}
}

// lookup finds the endpoint and the feature a request names, answering 404
// for an unknown endpoint, an unknown feature and a feature the endpoint
// lacks; s.mu is held.
func (s *Server) lookup(id, name string) (*Endpoint, feature, *apiError) {
	e := s.endpoint(id)
	if e == nil {
		return nil, feature{}, &apiError{status: http.StatusNotFound, Type: errNoSuchEndpoint,
			Message: fmt.Sprintf("Endpoint %s not found.", id)}
	}
	ft, ok := findFeature(name)
	if !ok {
		return nil, feature{}, &apiError{status: http.StatusNotFound, Type: errNotFound,
			Message: fmt.Sprintf("Unknown feature %q.", name)}
	}
	if !ft.has(&e.Features) {
		return nil, feature{}, &apiError{status: http.StatusNotFound, Type: errFeatureNotFound,
			Message: fmt.Sprintf("Endpoint %s has no %s feature.", id, name)}
	}
	return e, ft, nil
}

func (s *Server) handleGetFeature(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, ft, aerr := s.lookup(r.PathValue("id"), r.PathValue("feature"))
	var out featureJSON
	if aerr == nil {
		out = s.render(e, ft)
	}
	s.mu.Unlock()
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleUpdateFeature runs one update operation. Checks go in the order a
// front door would make them: the endpoint and feature exist (404), the
// operation exists (400), the payload is valid (400), the endpoint is
// reachable; only then does the state change.
func (s *Server) handleUpdateFeature(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, badRequest("The request body could not be read."))
		return
	}
	s.mu.Lock()
	aerr, status := s.update(r.PathValue("id"), r.PathValue("feature"), r.PathValue("operation"), body)
	s.mu.Unlock()
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// The reference's updates answer with no body.
	w.WriteHeader(status)
}

// update applies one operation; s.mu is held.
func (s *Server) update(id, featureName, opName string, body []byte) (*apiError, int) {
	e, ft, aerr := s.lookup(id, featureName)
	if aerr != nil {
		return aerr, 0
	}
	i := slices.IndexFunc(ft.ops, func(op operation) bool { return op.name == opName })
	if i < 0 {
		names := make([]string, len(ft.ops))
		for j, op := range ft.ops {
			names[j] = op.name
		}
		msg := fmt.Sprintf("Unknown operation %q for feature %s.", opName, ft.name)
		if len(names) > 0 {
			msg += " Valid operations: " + strings.Join(names, ", ") + "."
		} else {
			msg += " It has no update operations."
		}
		return &apiError{status: http.StatusBadRequest, Type: errInvalidOperation, Message: msg}, 0
	}
	op := ft.ops[i]
	var p payload
	if !op.bodyless {
		if p, aerr = parsePayload(body); aerr != nil {
			return aerr, 0
		}
	}
	// Validate on a copy so that a rejected payload changes nothing.
	f := e.Features
	if !e.Features.reachable() {
		if _, aerr := op.apply(&f, p); aerr != nil {
			return aerr, 0
		}
		return unreachableError(e), 0
	}
	changed, aerr := op.apply(&f, p)
	if aerr != nil {
		return aerr, 0
	}
	e.Features = f
	now := s.opts.Now()
	for _, k := range changed {
		s.samples[e.ID][k] = now
	}
	status := op.status
	if status == 0 {
		status = http.StatusOK
	}
	return nil, status
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

// expansion says which features a listing includes.
type expansion struct {
	all      bool
	features []string
}

func (x expansion) includes(name string) bool {
	return x.all || slices.Contains(x.features, name)
}

// parseExpand reads the expand parameters: "all", "feature:NAME", or
// comma-separated lists of them.
func parseExpand(values []string) (expansion, *apiError) {
	var x expansion
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			switch name, isFeature := strings.CutPrefix(part, "feature:"); {
			case part == "all":
				x.all = true
			case isFeature:
				if _, ok := findFeature(name); !ok {
					return x, badRequest("Unknown feature %q in expand.", name)
				}
				x.features = append(x.features, name)
			case part == "":
			default:
				return x, badRequest("Unknown expand value %q.", part)
			}
		}
	}
	return x, nil
}

// renderEndpoint builds an Endpoints API endpoint object; s.mu is held.
func (s *Server) renderEndpoint(e *Endpoint, x expansion) endpointJSON {
	out := endpointJSON{ID: e.ID, FriendlyName: friendlyName{Type: "PLAIN", Value: textValue{Text: e.Name}}}
	for _, ft := range features() {
		if ft.has(&e.Features) && x.includes(ft.name) {
			fj := s.render(e, ft)
			fj.Name = ft.name
			out.Features = append(out.Features, fj)
		}
	}
	return out
}

// handleListEndpoints serves GET /v2/endpoints?owner=~caller, paginated.
// The next token is opaque to clients: the offset of the next page.
func (s *Server) handleListEndpoints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if owner := q.Get("owner"); owner != "~caller" {
		writeError(w, badRequest("owner must be ~caller, got %q; the simulator serves no other endpoint filter.", owner))
		return
	}
	x, aerr := parseExpand(q["expand"])
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	size := s.opts.PageSize
	if v := q.Get("maxResults"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != v {
			writeError(w, badRequest("maxResults must be an integer, got %q.", v))
			return
		}
		if n < 1 || n > 10 {
			writeError(w, &apiError{status: http.StatusBadRequest, Type: errValueOutOfRange,
				Message: fmt.Sprintf("maxResults %d is out of range 1 to 10.", n)})
			return
		}
		size = min(size, n)
	}
	start := 0
	if tok := q.Get("nextToken"); tok != "" {
		n, ok := parsePageToken(tok)
		if !ok {
			writeError(w, badRequest("nextToken %q is not valid.", tok))
			return
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	eps := s.household.Endpoints
	page := endpointsPage{Results: []endpointJSON{}}
	if start > len(eps) {
		start = len(eps)
	}
	end := min(start+size, len(eps))
	for i := start; i < end; i++ {
		page.Results = append(page.Results, s.renderEndpoint(&eps[i], x))
	}
	if end < len(eps) {
		page.PaginationContext.NextToken = pageToken(end)
	}
	writeJSON(w, http.StatusOK, page)
}

// handleGetEndpoint serves GET /v2/endpoints/{id}.
func (s *Server) handleGetEndpoint(w http.ResponseWriter, r *http.Request) {
	x, aerr := parseExpand(r.URL.Query()["expand"])
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoint(r.PathValue("id"))
	if e == nil {
		writeError(w, &apiError{status: http.StatusNotFound, Type: errNoSuchEndpoint,
			Message: fmt.Sprintf("Endpoint %s not found.", r.PathValue("id"))})
		return
	}
	writeJSON(w, http.StatusOK, s.renderEndpoint(e, x))
}

const pageTokenPrefix = "sim-page-"

func pageToken(offset int) string { return fmt.Sprintf("%s%d", pageTokenPrefix, offset) }

func parsePageToken(tok string) (int, bool) {
	rest, ok := strings.CutPrefix(tok, pageTokenPrefix)
	if !ok {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscan(rest, &n); err != nil || n < 0 || fmt.Sprint(n) != rest {
		return 0, false
	}
	return n, true
}
