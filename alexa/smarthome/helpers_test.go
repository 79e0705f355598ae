package smarthome_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/smarthome"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// Ids of testdata/discovery.json and groups.json.
const (
	deskLamp     = "adc8640d-b8e4-4914-aa87-8360dfe7a945"
	hueLamp      = "f8090827-c936-4397-8852-3975a7f36f65" // alias "Reading Lamp"
	kitchenPlug  = "5e1f2c3a-0b7d-4f5e-9a21-6c8d3e4f5a6b"
	sensor       = "9b3e7a10-2c4d-4e6f-8a9b-0c1d2e3f4a5b"
	hallLight    = "11111111-2222-3333-4444-555555555555"
	hallLamp     = "66666666-7777-8888-9999-000000000000" // alias "hall  light"
	livingRoom   = "group:1b2ab5c4-34e7-4b45-bdd3-fb6d3a0e4e8d"
	kitchenGroup = "group:7c9d0e1f-aaaa-bbbb-cccc-dddddddddddd"
)

// The test session's secrets: no error or log line may contain them.
const (
	testCSRF   = "csrf-secret-8642"
	testCookie = "session-id=000-1234567-7654321; at-main=Atza|cookie-secret-1357; csrf=" + testCSRF
)

var t0 = time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC)

// cookieAuth is a fixed web session.
type cookieAuth struct{}

func (cookieAuth) Authorize(_ context.Context, r *http.Request) error {
	r.Header.Set("Cookie", testCookie)
	r.Header.Set("csrf", testCSRF)
	return nil
}

func (cookieAuth) Refused(context.Context, *http.Request, int) bool { return false }

// rec is a request the fake saw.
type rec struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

func (r rec) route() string { return r.Method + " " + r.Path }

// fake is the smart-home API as the research describes it: discovery and
// groups from testdata, phoenix state from states (capability states as
// JSON strings), unreachable and unknown entities in errors[] with the
// verbatim shapes, SUCCESS for every control request. answer, when set,
// is asked first; it returns ok false to let the default answer.
type fake struct {
	mu          sync.Mutex
	reqs        []rec
	discovery   []byte
	groups      []byte
	states      map[string][]string // entityId → capabilityStates
	unreachable map[string]bool
	answer      func(r rec) (status int, header http.Header, body string, ok bool)
}

func newFake(t *testing.T) *fake {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return &fake{
		discovery: read("discovery.json"),
		groups:    read("groups.json"),
		states: map[string][]string{
			deskLamp: {
				capState("Alexa.PowerController", "powerState", "ON"),
				capState("Alexa.BrightnessController", "brightness", 80),
				capState("Alexa.ColorController", "color", map[string]any{"hue": 0, "saturation": 1, "brightness": 0.8}),
				capState("Alexa.ColorTemperatureController", "colorTemperatureInKelvin", 2700),
				capState("Alexa.EndpointHealth", "connectivity", map[string]any{"value": "OK"}),
			},
			hueLamp: {
				capState("Alexa.PowerController", "powerState", "OFF"),
				capState("Alexa.BrightnessController", "brightness", "35"),
			},
			kitchenPlug: {capState("Alexa.PowerController", "powerState", "OFF")},
			sensor: {
				capState("Alexa.TemperatureSensor", "temperature", map[string]any{"value": 68, "scale": "FAHRENHEIT"}),
				`{"namespace":"Alexa.RangeController","instance":"Fan.Speed","name":"rangeValue","value":3}`,
			},
			hallLight: {capState("Alexa.PowerController", "powerState", "ON")},
			hallLamp:  {capState("Alexa.PowerController", "powerState", "OFF")},
		},
		unreachable: map[string]bool{},
	}
}

// capState is one capabilityStates entry as Amazon sends it: a JSON string.
func capState(namespace, name string, value any) string {
	b, _ := json.Marshal(map[string]any{"namespace": namespace, "name": name, "value": value,
		"timeOfSample": "2025-11-21T08:42:18.031Z", "uncertaintyInMilliseconds": 0})
	return string(b)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc := rec{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Header: r.Header.Clone()}
	f.mu.Lock()
	f.reqs = append(f.reqs, rc)
	answer := f.answer
	f.mu.Unlock()
	if r.Header.Get("Cookie") != testCookie || r.Header.Get("csrf") != testCSRF {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if answer != nil {
		if status, h, b, ok := answer(rc); ok {
			maps.Copy(w.Header(), h)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, b)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch rc.route() {
	case "POST /nexus/v1/graphql":
		f.graphql(w, rc.Body)
	case "GET /api/phoenix/group":
		w.Write(f.groups)
	case "POST /api/phoenix/state":
		f.state(w, body)
	case "PUT /api/phoenix/state":
		f.control(w, body)
	default:
		http.NotFound(w, r)
	}
}

func (f *fake) graphql(w http.ResponseWriter, body string) {
	switch {
	case strings.Contains(body, "query CustomerSmartHome"):
		w.Write(f.discovery)
	case strings.Contains(body, "setEndpointFeatures"):
		var req struct {
			Variables struct {
				Requests []struct {
					EndpointID string `json:"endpointId"`
				} `json:"featureControlRequests"`
			} `json:"variables"`
		}
		json.Unmarshal([]byte(body), &req)
		fmt.Fprintf(w, `{"data":{"setEndpointFeatures":{"featureControlResponses":[{"endpointId":%q,"featureOperationName":"setColorTemperature","__typename":"FeatureControlResponse"}],"errors":[],"__typename":"SetEndpointFeaturesResponse"}}}`,
			req.Variables.Requests[0].EndpointID)
	default:
		io.WriteString(w, `{"errors":[{"message":"Validation error","extensions":{"classification":"ValidationError"}}],"data":null}`)
	}
}

type stateRequest struct {
	EntityID   string `json:"entityId"`
	EntityType string `json:"entityType"`
}

func (f *fake) state(w http.ResponseWriter, body []byte) {
	var req struct {
		StateRequests []stateRequest `json:"stateRequests"`
	}
	json.Unmarshal(body, &req)
	type entity struct {
		EntityID   string `json:"entityId"`
		EntityType string `json:"entityType"`
	}
	resp := struct {
		DeviceStates []any `json:"deviceStates"`
		Errors       []any `json:"errors"`
	}{DeviceStates: []any{}, Errors: []any{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sr := range req.StateRequests {
		states, ok := f.states[sr.EntityID]
		switch {
		case f.unreachable[sr.EntityID]:
			resp.Errors = append(resp.Errors, map[string]any{"code": "ENDPOINT_UNREACHABLE", "data": nil,
				"entity": entity{sr.EntityID, ""}, "message": nil})
		case ok && sr.EntityType == "ENTITY":
			resp.DeviceStates = append(resp.DeviceStates, map[string]any{"entity": entity(sr), "capabilityStates": states})
		default:
			resp.Errors = append(resp.Errors, map[string]any{"code": "TargetApplianceNotFoundException",
				"entity": entity(sr), "message": "No appliance found for target!"})
		}
	}
	json.NewEncoder(w).Encode(resp)
}

func (f *fake) control(w http.ResponseWriter, body []byte) {
	var req struct {
		ControlRequests []stateRequest `json:"controlRequests"`
	}
	json.Unmarshal(body, &req)
	var out []string
	for _, cr := range req.ControlRequests {
		out = append(out, fmt.Sprintf(`{"entityId":%q,"code":"SUCCESS"}`, cr.EntityID))
	}
	fmt.Fprintf(w, `{"controlResponses":[%s],"errors":[]}`, strings.Join(out, ","))
}

func (f *fake) requests() []rec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rec(nil), f.reqs...)
}

// since returns the requests after the first n.
func (f *fake) since(n int) []rec { return f.requests()[n:] }

func (f *fake) setAnswer(a func(r rec) (int, http.Header, string, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

// rig is a client against a fake, on a virtual clock, logging into logs.
type rig struct {
	f     *fake
	c     *smarthome.Client
	clock *engine.Virtual
	logs  *enginetest.LogBuffer
}

func newRig(t *testing.T, o smarthome.Options) *rig {
	t.Helper()
	f := newFake(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clock := engine.NewVirtual(t0)
	logs := &enginetest.LogBuffer{}
	o.Hosts = alexa.Hosts{Web: srv.URL}
	o.Auth = cookieAuth{}
	o.Clock = clock
	o.Logger = logs.Logger(slog.LevelDebug)
	c, err := smarthome.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{f: f, c: c, clock: clock, logs: logs}
}

// callError asserts err is a *alexa.CallError of type typ.
func callError(t *testing.T, err error, typ string) *alexa.CallError {
	t.Helper()
	var ce *alexa.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *alexa.CallError", err, err)
	}
	if ce.Type != typ {
		t.Fatalf("error type %q (%v), want %q", ce.Type, err, typ)
	}
	return ce
}

// compactJSON normalises a JSON text for comparison.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	return b.String()
}

// hasTrue reports whether some error in err's tree has the method and it
// answers true: how engine/poll classifies read errors.
func hasTrue[I any](err error, f func(I) bool) bool {
	var v I
	return errors.As(err, &v) && f(v)
}
