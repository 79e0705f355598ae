package smarthome_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/smarthome"
)

// One POST for many devices and a group, whose members are asked for once.
func TestStatesOneRequestForManyIDs(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(r.f.requests())
	states, err := r.c.States(ctx, []string{deskLamp, sensor, livingRoom, kitchenPlug, hueLamp})
	if err != nil {
		t.Fatal(err)
	}
	reqs := r.f.since(n)
	if len(reqs) != 1 || reqs[0].route() != "POST /api/phoenix/state" {
		t.Fatalf("requests %+v, want one state POST", reqs)
	}
	want := `{"stateRequests":[{"entityId":"` + deskLamp + `","entityType":"ENTITY"},{"entityId":"` + sensor +
		`","entityType":"ENTITY"},{"entityId":"` + hueLamp + `","entityType":"ENTITY"},{"entityId":"` + kitchenPlug +
		`","entityType":"ENTITY"}]}`
	if reqs[0].Body != want {
		t.Errorf("body\n%s\nwant\n%s", reqs[0].Body, want)
	}
	wantStates := map[string]map[string]any{
		deskLamp: {"power": "ON", "brightness": 80.0, "color_temperature": 2700.0, "connectivity": "OK",
			"color": map[string]any{"hue": 0.0, "saturation": 1.0, "brightness": 0.8}},
		sensor:      {"temperature": 20.0, "connectivity": "OK"}, // 68 °F in the client's CELSIUS
		kitchenPlug: {"power": "OFF", "connectivity": "OK"},
		hueLamp:     {"power": "OFF", "brightness": 35.0, "connectivity": "OK"}, // "35" read as a number
		// A group: ON when any member is; other values from the first member that has one.
		livingRoom: {"power": "ON", "brightness": 80.0, "color_temperature": 2700.0, "connectivity": "OK",
			"color": map[string]any{"hue": 0.0, "saturation": 1.0, "brightness": 0.8}},
	}
	for id, want := range wantStates {
		if s := states[id]; s.Err != nil || !reflect.DeepEqual(s.Values, want) {
			t.Errorf("%s: %+v, want %v", id, s, want)
		}
	}
}

func TestStatesSplitAboveMaxBatch(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	var items []string
	var ids []string
	for i := range 2*smarthome.MaxBatch + 7 {
		id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		ids = append(ids, id)
		items = append(items, fmt.Sprintf(`{"legacyAppliance":{"applianceId":"AAA_%d","entityId":%q,"friendlyName":"Light %d",`+
			`"capabilities":[{"interfaceName":"Alexa.PowerController"}]}}`, i, id, i))
		r.f.states[id] = []string{capState("Alexa.PowerController", "powerState", "ON")}
	}
	r.f.discovery = []byte(`{"data":{"endpoints":{"items":[` + strings.Join(items, ",") + `]}}}`)
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(r.f.requests())
	states, err := r.c.States(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, rq := range r.f.since(n) {
		var body struct{ StateRequests []json.RawMessage }
		json.Unmarshal([]byte(rq.Body), &body)
		sizes = append(sizes, len(body.StateRequests))
	}
	if !reflect.DeepEqual(sizes, []int{smarthome.MaxBatch, smarthome.MaxBatch, 7}) {
		t.Errorf("batch sizes %v", sizes)
	}
	if len(states) != len(ids) || states[ids[len(ids)-1]].Values["power"] != "ON" {
		t.Errorf("%d states; last %+v", len(states), states[ids[len(ids)-1]])
	}
}

func TestGet(t *testing.T) {
	r := newRig(t, smarthome.Options{Scale: "FAHRENHEIT"})
	ctx := context.Background()
	for _, tt := range []struct {
		id, attr string
		want     any
	}{
		{deskLamp, "power", "ON"},
		{deskLamp, "brightness", 80.0},
		{deskLamp, "color", map[string]any{"hue": 0.0, "saturation": 1.0, "brightness": 0.8}},
		{deskLamp, "color_temperature", 2700.0},
		{deskLamp, "connectivity", "OK"},
		{sensor, "temperature", 68.0},
		{kitchenGroup, "power", "OFF"},
	} {
		if v, err := r.c.Get(ctx, tt.id, tt.attr); err != nil || !reflect.DeepEqual(v, tt.want) {
			t.Errorf("Get(%s, %s) = %#v, %v; want %#v", tt.id, tt.attr, v, err, tt.want)
		}
	}
}

// What the device or the API cannot read fails before any request.
func TestGetUnsupported(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(r.f.requests())
	for _, tt := range []struct{ id, attr, want string }{
		{kitchenPlug, "brightness", `device "Kitchen Plug" cannot report brightness: not supported (it has: power)`},
		{deskLamp, "volume", "get volume: not supported: the smart-home API reads power, brightness, color, color_temperature, temperature, connectivity"},
		{sensor, "power", `device "Living Room Sensor" cannot report power`},
	} {
		_, err := r.c.Get(ctx, tt.id, tt.attr)
		ce := callError(t, err, "UNSUPPORTED")
		if !strings.Contains(ce.Message, tt.want) {
			t.Errorf("Get(%s, %s): %q, want %q", tt.id, tt.attr, ce.Message, tt.want)
		}
	}
	if reqs := r.f.since(n); len(reqs) != 0 {
		t.Errorf("requests sent: %+v", reqs)
	}
}

// ENDPOINT_UNREACHABLE in errors[] (verbatim shape, entityType "") makes
// the device unreachable the way the poller reads it; connectivity still
// reads as UNREACHABLE.
func TestStatesUnreachable(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	r.f.unreachable[deskLamp] = true
	ctx := context.Background()
	states, err := r.c.States(ctx, []string{deskLamp, kitchenPlug, livingRoom})
	if err != nil {
		t.Fatal(err)
	}
	s := states[deskLamp]
	callError(t, s.Err, "ENDPOINT_UNREACHABLE")
	if !hasTrue(s.Err, func(e interface{ Unreachable() bool }) bool { return e.Unreachable() }) ||
		hasTrue(s.Err, func(e interface{ NotFound() bool }) bool { return e.NotFound() }) {
		t.Errorf("unreachable error %v is not classified as unreachable", s.Err)
	}
	if !reflect.DeepEqual(s.Values, map[string]any{"connectivity": "UNREACHABLE"}) {
		t.Errorf("values %v", s.Values)
	}
	if states[kitchenPlug].Err != nil {
		t.Errorf("plug: %v", states[kitchenPlug].Err)
	}
	// One member of the group answers: the group does, with that member's values.
	if g := states[livingRoom]; g.Err != nil || g.Values["power"] != "OFF" || g.Values["brightness"] != 35.0 {
		t.Errorf("group with one member unreachable: %+v", g)
	}
	if v, err := r.c.Get(ctx, deskLamp, "connectivity"); err != nil || v != "UNREACHABLE" {
		t.Errorf("connectivity %v %v", v, err)
	}
	_, err = r.c.Get(ctx, deskLamp, "brightness")
	callError(t, err, "ENDPOINT_UNREACHABLE")

	r.f.unreachable[hueLamp] = true
	states, err = r.c.States(ctx, []string{livingRoom})
	if err != nil {
		t.Fatal(err)
	}
	callError(t, states[livingRoom].Err, "ENDPOINT_UNREACHABLE")
}

// TargetApplianceNotFoundException is a not-found device and refreshes the
// device list once; an id the list lacks is not found without a state
// request.
func TestStatesNotFound(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	delete(r.f.states, kitchenPlug)
	r.clock.Advance(smarthome.DefaultMinRediscover)
	n := len(r.f.requests())
	states, err := r.c.States(ctx, []string{kitchenPlug, deskLamp})
	if err != nil {
		t.Fatal(err)
	}
	ce := callError(t, states[kitchenPlug].Err, "TargetApplianceNotFoundException")
	if ce.Message != "No appliance found for target!" ||
		!hasTrue(ce, func(e interface{ NotFound() bool }) bool { return e.NotFound() }) {
		t.Errorf("not found: %+v", ce)
	}
	if states[deskLamp].Err != nil {
		t.Errorf("desk lamp: %v", states[deskLamp].Err)
	}
	var routes []string
	for _, rq := range r.f.since(n) {
		routes = append(routes, rq.route())
	}
	if want := []string{"POST /api/phoenix/state", "POST /nexus/v1/graphql", "GET /api/phoenix/group"}; !reflect.DeepEqual(routes, want) {
		t.Errorf("requests %v, want %v (the state read, then one rediscovery)", routes, want)
	}
	// Again within MinRediscover: no second rediscovery.
	n = len(r.f.requests())
	if _, err := r.c.States(ctx, []string{kitchenPlug}); err != nil || len(r.f.since(n)) != 1 {
		t.Errorf("second read: %v, %d requests", err, len(r.f.since(n)))
	}
	// An id no discovery lists: NOT_FOUND, no state request.
	n = len(r.f.requests())
	states, err = r.c.States(ctx, []string{"no-such-id"})
	if err != nil {
		t.Fatal(err)
	}
	callError(t, states["no-such-id"].Err, "NOT_FOUND")
	if reqs := r.f.since(n); len(reqs) != 0 {
		t.Errorf("requests for an unknown id within MinRediscover: %+v", reqs)
	}
}

func TestStatesBadAnswers(t *testing.T) {
	for _, tt := range []struct{ name, body string }{
		{"not JSON", "<html>"},
		{"neither deviceStates nor errors", `{}`},
		{"the device missing", `{"deviceStates":[],"errors":[]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, smarthome.Options{})
			r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
				return 200, nil, tt.body, rq.route() == "POST /api/phoenix/state"
			})
			_, err := r.c.Get(context.Background(), deskLamp, "power")
			callError(t, err, "INVALID_RESPONSE")
		})
	}
}
