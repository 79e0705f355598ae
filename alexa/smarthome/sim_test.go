package smarthome_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/smarthome"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// Ids of sim.DemoHousehold's smart-home devices and group.
const (
	simBedroom    = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01"
	simLivingLamp = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a02"
	simFan        = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03" // a PLUG
	simSensor     = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04"
	simKitchen    = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a05" // "Hue white lamp 1", alias "Kitchen Light"
	simGroup      = "group:b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01"
)

// simAuth is the static web session the simulator accepts (web.SimCookie).
type simAuth struct{}

func (simAuth) Authorize(_ context.Context, r *http.Request) error {
	r.Header.Set("Cookie", web.SimCookie)
	r.Header.Set("csrf", "135792468")
	return nil
}

func (simAuth) Refused(context.Context, *http.Request, int) bool { return false }

// simRig is a client against the simulator's demo household, with the
// static web session the simulator accepts.
type simRig struct {
	s     *sim.Server
	url   string
	c     *smarthome.Client
	clock *engine.Virtual
}

func newSimRig(t *testing.T, o smarthome.Options) *simRig {
	t.Helper()
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	clock := engine.NewVirtual(t0)
	o.Hosts, o.Auth, o.Clock = alexa.Hosts{Web: srv.URL}, simAuth{}, clock
	c, err := smarthome.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &simRig{s: s, url: srv.URL, c: c, clock: clock}
}

// routes are the API calls the simulator logged since the last clear.
func (r *simRig) routes() []string {
	var out []string
	for _, rq := range r.s.Requests() {
		if !strings.HasPrefix(rq.Path, "/_sim/") {
			out = append(out, rq.Method+" "+rq.Path)
		}
	}
	return out
}

// fault installs a fault through the control API.
func (r *simRig) fault(t *testing.T, f string) {
	t.Helper()
	resp, err := http.Post(r.url+"/_sim/faults", "application/json", strings.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault %s: %d", f, resp.StatusCode)
	}
}

// simState is the simulator's state of a smart-home device.
func (r *simRig) simState(t *testing.T, id string) map[string]any {
	t.Helper()
	for _, d := range r.s.Household().SmartHome {
		if d.ID == id {
			b, _ := json.Marshal(d.State)
			var m map[string]any
			json.Unmarshal(b, &m)
			return m
		}
	}
	t.Fatalf("no smart-home device %s", id)
	return nil
}

func TestSimDiscoveryAndNames(t *testing.T) {
	r := newSimRig(t, smarthome.Options{})
	d := alexa.NewDirectory(r.c, alexa.DirectoryOptions{Now: r.clock.Now})
	ctx := context.Background()
	for name, want := range map[string]string{
		"Kitchen Light": simKitchen, "living room": simGroup, "Living Room Fan": simFan, "Bedroom Lamp": simBedroom,
	} {
		if id, _, err := d.Resolve(ctx, name); err != nil || id != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", name, id, err, want)
		}
	}
	if _, _, err := d.Resolve(ctx, "Hue white lamp 1"); !errors.Is(err, alexa.ErrUnknownDevice) {
		t.Errorf("the renamed device's old name: %v", err)
	}
	list, err := r.c.Entities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.ID == simGroup && !reflect.DeepEqual(e.Members, []string{simLivingLamp, simFan}) {
			t.Errorf("group members %v", e.Members)
		}
	}
}

// One state request for every device and the group, values shaped as
// rules see them.
func TestSimStatesInOneRequest(t *testing.T) {
	r := newSimRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	r.s.ClearRequests()
	ids := []string{simBedroom, simLivingLamp, simFan, simSensor, simKitchen, simGroup}
	states, err := r.c.States(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.routes(); !reflect.DeepEqual(got, []string{"POST /api/phoenix/state"}) {
		t.Errorf("requests %v, want one state read", got)
	}
	want := map[string]map[string]any{
		simBedroom: {"power": "OFF", "brightness": 40.0, "color_temperature": 2700.0, "connectivity": "OK",
			"color": map[string]any{"hue": 30.0, "saturation": 0.6, "brightness": 0.4}},
		simFan:    {"power": "OFF", "connectivity": "OK"},
		simSensor: {"temperature": 22.5, "connectivity": "OK"},
		simGroup:  {"power": "ON", "brightness": 70.0, "connectivity": "OK"},
	}
	for id, w := range want {
		if s := states[id]; s.Err != nil || !reflect.DeepEqual(s.Values, w) {
			t.Errorf("%s: %+v, want %v", id, s, w)
		}
	}
}

// Each operation changes the simulated device as asked.
func TestSimControl(t *testing.T) {
	r := newSimRig(t, smarthome.Options{BrightnessForm: smarthome.BrightnessFraction})
	ctx := context.Background()
	steps := []struct {
		id, op string
		args   []float64
		key    string
		want   any
	}{
		{simBedroom, "turnOn", nil, "power", "ON"},
		{simBedroom, "setBrightness", []float64{55}, "brightness", 55.0}, // sent as "0.55"
		{simBedroom, "adjustBrightness", []float64{-15}, "brightness", 40.0},
		{simBedroom, "setBrightness", []float64{100}, "brightness", 100.0}, // sent as "1.0", not "1" (1 %)
		{simBedroom, "setColor", []float64{240, 1, 1}, "color", map[string]any{"hue": 240.0, "saturation": 1.0, "brightness": 1.0}},
		{simBedroom, "setColorTemperature", []float64{2200}, "color_temperature", 2200.0}, // by name
		{simBedroom, "setColorTemperature", []float64{3000}, "color_temperature", 3000.0}, // exact, GraphQL
		{simBedroom, "increaseColorTemperature", nil, "color_temperature", 4000.0},
		{simGroup, "turnOff", nil, "power", "OFF"},
	}
	for _, st := range steps {
		if err := r.c.Update(ctx, st.id, st.op, st.args...); err != nil {
			t.Fatalf("%s %v on %s: %v", st.op, st.args, st.id, err)
		}
		ids := []string{st.id}
		if st.id == simGroup {
			ids = []string{simLivingLamp, simFan}
		}
		for _, id := range ids {
			if got := r.simState(t, id)[st.key]; !reflect.DeepEqual(got, st.want) {
				t.Errorf("after %s %v: %s %s = %v, want %v", st.op, st.args, id, st.key, got, st.want)
			}
		}
	}
	if v, err := r.c.Get(ctx, simBedroom, "color_temperature"); err != nil || v != 4000.0 {
		t.Errorf("read back: %v %v", v, err)
	}
	r.s.ClearRequests()
	err := r.c.Update(ctx, simFan, "setBrightness", 10)
	callError(t, err, "UNSUPPORTED")
	if got := r.routes(); len(got) != 0 {
		t.Errorf("requests for an unsupported operation: %v", got)
	}
}

func TestSimUnreachable(t *testing.T) {
	r := newSimRig(t, smarthome.Options{})
	ctx := context.Background()
	if err := r.s.PatchSmartHome(simBedroom, map[string]json.RawMessage{"connectivity": json.RawMessage(`"UNREACHABLE"`)}); err != nil {
		t.Fatal(err)
	}
	if v, err := r.c.Get(ctx, simBedroom, "connectivity"); err != nil || v != "UNREACHABLE" {
		t.Errorf("connectivity %v %v", v, err)
	}
	_, err := r.c.Get(ctx, simBedroom, "brightness")
	callError(t, err, "ENDPOINT_UNREACHABLE")
	err = r.c.Update(ctx, simBedroom, "turnOn")
	callError(t, err, "ENDPOINT_UNREACHABLE")
	if !hasTrue(err, func(e interface{ Unreachable() bool }) bool { return e.Unreachable() }) {
		t.Errorf("%v is not unreachable for the poller", err)
	}
}

// The simulator's two throttle answers, as faults with a body: the whole
// account cools down, nothing reaches the simulator meanwhile, and calls
// work again afterwards.
func TestSimThrottleBurst(t *testing.T) {
	for _, tt := range []struct {
		name, fault, route string
		call               func(c *smarthome.Client) error
	}{
		{"phoenix", `{"path_prefix":"/api/phoenix/state","status":429,"times":1,"body":{"message":"Too many requests. Try again in some time."}}`,
			"POST /api/phoenix/state", func(c *smarthome.Client) error {
				_, err := c.States(context.Background(), []string{simBedroom, simFan})
				return err
			}},
		{"graphql", `{"path_prefix":"/nexus/v1/graphql","status":200,"times":1,"body":` + graphqlThrottle + `}`,
			"POST /nexus/v1/graphql", discover},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newSimRig(t, smarthome.Options{Cooldown: 2 * time.Minute})
			ctx := context.Background()
			if _, err := r.c.Devices(ctx); err != nil {
				t.Fatal(err)
			}
			r.fault(t, tt.fault)
			r.s.ClearRequests()
			callError(t, tt.call(r.c), "THROTTLED")
			if got := r.routes(); len(got) != 1 || got[0] != tt.route {
				t.Errorf("requests %v, want the one throttled %s", got, tt.route)
			}
			r.s.ClearRequests()
			for range 5 { // a burst of calls during the cool-down
				if err := r.c.Update(ctx, simBedroom, "turnOn"); !errors.Is(err, smarthome.ErrThrottled) {
					t.Fatalf("during the cool-down: %v", err)
				}
			}
			if got := r.routes(); len(got) != 0 {
				t.Errorf("requests during the cool-down: %v", got)
			}
			r.clock.Advance(2 * time.Minute)
			if err := r.c.Update(ctx, simBedroom, "turnOn"); err != nil {
				t.Fatal(err)
			}
			if got := r.simState(t, simBedroom)["power"]; got != "ON" {
				t.Errorf("power %v after the cool-down", got)
			}
			if err := tt.call(r.c); err != nil {
				t.Errorf("the throttled call after the cool-down: %v", err)
			}
		})
	}
}

// The request bodies the simulator logged are the research's shapes.
func TestSimRequestBodies(t *testing.T) {
	r := newSimRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	r.s.ClearRequests()
	if err := r.c.Update(ctx, simGroup, "turnOff"); err != nil {
		t.Fatal(err)
	}
	reqs := r.s.Requests()
	var put *sim.Request
	for i := range reqs {
		if reqs[i].Method == http.MethodPut {
			put = &reqs[i]
		}
	}
	want := `{"controlRequests":[{"entityId":"b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01","entityType":"GROUP",` +
		`"parameters":{"action":"turnOff"}}]}`
	var got bytes.Buffer
	if put == nil || json.Compact(&got, put.Body) != nil || got.String() != want || put.Status != http.StatusOK {
		t.Errorf("PUT %+v, want body %s", put, want)
	}
}
