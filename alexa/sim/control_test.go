package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

func TestFaults(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	power := "/v2/endpoints/" + lamp + "/features/power"
	e.api(http.MethodGet, power, nil) // fetch the token before faulting
	r := e.do(http.MethodPost, "/_sim/faults", "", `[{"path_prefix":"/v2/endpoints","status":429,"times":2,"retry_after":1}]`)
	if r.status != http.StatusOK {
		t.Fatalf("POST faults: %d %s", r.status, r.raw)
	}
	e.do(http.MethodDelete, "/_sim/requests", "", nil)

	for i := range 2 {
		r := e.api(http.MethodGet, power, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
			t.Fatalf("faulted call %d: %d Retry-After %q", i, r.status, r.header.Get("Retry-After"))
		}
		if got := r.errorType(t); got != "RATE_LIMIT_EXCEEDED" {
			t.Errorf("fault type %q", got)
		}
	}
	if r := e.api(http.MethodGet, power, nil); r.status != http.StatusOK {
		t.Errorf("after the fault's times: %d %s", r.status, r.raw)
	}
	// Other paths were never affected, and the log holds the statuses.
	var statuses []int
	for _, req := range e.sim.Requests() {
		statuses = append(statuses, req.Status)
	}
	if want := []int{429, 429, 200}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("logged statuses %v, want %v", statuses, want)
	}

	t.Run("until cleared, by method, with a type", func(t *testing.T) {
		r := e.do(http.MethodPost, "/_sim/faults", "", `{"path_prefix":"/v2/endpoints/","method":"POST","status":503,"type":"ENDPOINT_UNREACHABLE"}`)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for range 3 {
			r := e.api(http.MethodPost, power+"/turnOn", nil)
			if r.status != 503 || r.errorType(t) != "ENDPOINT_UNREACHABLE" || r.header.Get("Retry-After") != "" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
		if r := e.api(http.MethodGet, power, nil); r.status != http.StatusOK {
			t.Errorf("GET hit a POST-only fault: %d", r.status)
		}
		if r := e.do(http.MethodDelete, "/_sim/faults", "", nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE faults: %d", r.status)
		}
		if r := e.api(http.MethodPost, power+"/turnOn", nil); r.status != http.StatusOK {
			t.Errorf("after DELETE: %d %s", r.status, r.raw)
		}
	})

	t.Run("LWA faults speak OAuth", func(t *testing.T) {
		e.do(http.MethodPost, "/_sim/faults", "", `[{"path_prefix":"/auth/o2/token","status":500,"times":1}]`)
		r := e.form("/auth/o2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sim.SimRefreshToken}})
		if r.status != 500 || r.json(t)["error"] != "server_error" {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})

	t.Run("push and state", func(t *testing.T) {
		e.do(http.MethodDelete, "/_sim/faults", "", nil)
		if r := e.do(http.MethodPost, "/_sim/faults", "", `{"push":"drop"}`); r.status != http.StatusOK {
			t.Fatalf("push drop: %d %s", r.status, r.raw)
		}
		e.do(http.MethodPost, "/_sim/faults", "", `{"latency_ms":0}`)
		e.do(http.MethodPost, "/_sim/faults", "", `[{"path_prefix":"/v2","status":500,"times":4}]`)
		r := e.do(http.MethodGet, "/_sim/faults", "", nil)
		jsonEqual(t, r.raw, `{"faults":[{"path_prefix":"/v2","status":500,"times":4}],"latency_ms":0,"push":"drop"}`)
		e.do(http.MethodDelete, "/_sim/faults", "", nil)
		r = e.do(http.MethodGet, "/_sim/faults", "", nil)
		jsonEqual(t, r.raw, `{"faults":[],"latency_ms":0}`)
	})

	t.Run("invalid faults", func(t *testing.T) {
		for _, body := range []string{
			`[{"path_prefix":"/v2","status":200}]`,
			`[{"path_prefix":"v2","status":500}]`,
			`[{"path_prefix":"/v2","status":500,"times":-1}]`,
			`[{"path_prefix":"/v2","status":500,"retry_after":-1}]`,
			`[{"path_prefix":"/v2","status":500,"oops":1}]`,
			`{"latency_ms":-5}`,
			`{"push":"explode"}`,
			`{}`,
			`nonsense`,
		} {
			if r := e.do(http.MethodPost, "/_sim/faults", "", body); r.status != http.StatusBadRequest || r.json(t)["error"] == "" {
				t.Errorf("%s: %d %s", body, r.status, r.raw)
			}
		}
		r := e.do(http.MethodGet, "/_sim/faults", "", nil)
		jsonEqual(t, r.raw, `{"faults":[],"latency_ms":0}`)
	})
}

// sleeps records the latency the simulator asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func TestLatency(t *testing.T) {
	var sl sleeps
	e := newEnv(t, testHousehold(), sim.Options{Sleep: sl.Sleep})
	power := "/v2/endpoints/" + lamp + "/features/power"
	e.api(http.MethodGet, power, nil)
	if got := sl.got(); len(got) != 0 {
		t.Fatalf("slept %v with no latency set", got)
	}
	if r := e.do(http.MethodPost, "/_sim/faults", "", `{"latency_ms":200}`); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := e.api(http.MethodGet, power, nil); r.status != http.StatusOK {
		t.Errorf("delayed call: %d", r.status)
	}
	e.do(http.MethodGet, "/_sim/household", "", nil) // control routes are not delayed
	if got := sl.got(); !reflect.DeepEqual(got, []time.Duration{200 * time.Millisecond}) {
		t.Errorf("slept %v, want [200ms]", got)
	}
	e.do(http.MethodDelete, "/_sim/faults", "", nil)
	e.api(http.MethodGet, power, nil)
	if got := sl.got(); len(got) != 1 {
		t.Errorf("still delayed after DELETE: %v", got)
	}

	// The default sleep really waits (a short latency keeps this fast).
	e2 := newEnv(t, testHousehold(), sim.Options{})
	e2.do(http.MethodPost, "/_sim/faults", "", `{"latency_ms":5}`)
	if r := e2.api(http.MethodGet, power, nil); r.status != http.StatusOK {
		t.Errorf("with real latency: %d", r.status)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{MaxRequests: 4})
	e.form("/auth/o2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"bad"}})
	e.api(http.MethodGet, "/v2/endpoints?owner=~caller&expand=all", nil)
	e.api(http.MethodPost, "/v2/endpoints/"+lamp+"/features/brightness/setBrightness", `{"payload": {"brightness": 75}}`)
	e.do(http.MethodGet, "/_sim/household", "", nil)
	e.do(http.MethodPatch, "/_sim/endpoints/"+lamp, "", `{"temperature":20}`)

	r := e.do(http.MethodGet, "/_sim/requests", "", nil)
	var log []map[string]any
	if err := json.Unmarshal(r.raw, &log); err != nil {
		t.Fatalf("%v: %s", err, r.raw)
	}
	if len(log) != 4 {
		t.Fatalf("log has %d entries, want 4 (control routes are not logged): %s", len(log), r.raw)
	}
	wantTime := e.clock.Now().Format(time.RFC3339Nano)
	want := []map[string]any{
		{"method": "POST", "path": "/auth/o2/token", "query": "", "body": "grant_type=refresh_token&refresh_token=bad", "status": 400.0},
		{"method": "POST", "path": "/auth/o2/token", "query": "", "body": "grant_type=refresh_token&refresh_token=sim-refresh-token", "status": 200.0},
		{"method": "GET", "path": "/v2/endpoints", "query": "owner=~caller&expand=all", "body": nil, "status": 200.0},
		{"method": "POST", "path": "/v2/endpoints/" + lamp + "/features/brightness/setBrightness", "query": "",
			"body": map[string]any{"payload": map[string]any{"brightness": 75.0}}, "status": 200.0},
	}
	for i, w := range want {
		w["time"] = wantTime
		if !reflect.DeepEqual(log[i], w) {
			t.Errorf("entry %d:\n got %v\nwant %v", i, log[i], w)
		}
	}

	// The cap drops the oldest.
	e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/power", nil)
	reqs := e.sim.Requests()
	if len(reqs) != 4 || reqs[0].Body == nil || !strings.Contains(string(reqs[0].Body), "sim-refresh-token") {
		t.Errorf("after the cap: %+v", reqs)
	}

	if r := e.do(http.MethodDelete, "/_sim/requests", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d", r.status)
	}
	r = e.do(http.MethodGet, "/_sim/requests", "", nil)
	jsonEqual(t, r.raw, `[]`)
}

// interfacesExample is the PUT /_sim/household body of INTERFACES.md, with
// concrete values.
const interfacesExample = `{
 "endpoints":[{"id":"amzn1.alexa.endpoint.a","name":"Hall Light","features":{
   "power":"ON","brightness":50,"color":{"hue":120,"saturation":0.5,"brightness":0.8},
   "color_temperature":2700,"volume":30,"muted":false,"temperature":21.5,
   "thermostat_mode":"HEAT","target_setpoint":20,"lower_setpoint":18,"upper_setpoint":24,
   "connectivity":"OK","bluetooth":{"paired_devices":[{"address":"AA:BB:CC:DD:EE:FF","name":"Phone"}]}}},
  {"id":"amzn1.alexa.endpoint.b","name":"Plug","features":{"power":"OFF"}}],
 "echos":[{"serial":"G0911","type":"A32DOYMUN6DTXA","name":"Hall Echo","timezone":"America/New_York"}],
 "lists":[{"id":"l1","name":"Shopping","items":[{"id":"i1","text":"milk","completed":false},{"id":"i2","text":"eggs","completed":true}]}],
 "notifications":[{"id":"n1","type":"Alarm","status":"ON","originalTime":"07:00:00.000","nested":{"any":[1,2]}}],
 "smarthome":[{"id":"f8090827-c936-4397-8852-3975a7f36f65","name":"Desk Lamp","aliases":["Reading Light"],"type":"LIGHT",
   "state":{"power":"ON","brightness":50,"color":{"hue":0,"saturation":1,"brightness":1},"color_temperature":2700,"connectivity":"OK"}},
  {"id":"s1","name":"Hall Sensor","aliases":[],"type":"TEMPERATURE_SENSOR","state":{"temperature":21.5,"temperature_scale":"FAHRENHEIT"}}],
 "groups":[{"id":"g1","name":"Hall","members":["f8090827-c936-4397-8852-3975a7f36f65"]}],
  "routines":[],"players":[],"spoken":[],"dnd":[]
}`

func TestHouseholdControl(t *testing.T) {
	e := newEnv(t, sim.Household{}, sim.Options{})
	r := e.do(http.MethodGet, "/_sim/household", "", nil)
	jsonEqual(t, r.raw, `{"endpoints":[],"echos":[],"lists":[],"notifications":[],"smarthome":[],"groups":[],"routines":[],"players":[],"spoken":[],"dnd":[]}`)

	r = e.do(http.MethodPut, "/_sim/household", "", interfacesExample)
	if r.status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	r = e.do(http.MethodGet, "/_sim/household", "", nil)
	jsonEqual(t, r.raw, interfacesExample)

	// API calls show up in the household.
	e.api(http.MethodPost, "/v2/endpoints/amzn1.alexa.endpoint.b/features/power/turnOn", nil)
	if got := *e.features("amzn1.alexa.endpoint.b").Power; got != "ON" {
		t.Errorf("power after turnOn: %s", got)
	}

	// PATCH merges readings.
	r = e.do(http.MethodPatch, "/_sim/endpoints/amzn1.alexa.endpoint.a", "", `{"temperature":27.5,"connectivity":"UNREACHABLE"}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}
	if m := r.json(t); m["id"] != "amzn1.alexa.endpoint.a" {
		t.Errorf("PATCH answer %s", r.raw)
	}
	f := e.features("amzn1.alexa.endpoint.a")
	if *f.Temperature != 27.5 || *f.Connectivity != "UNREACHABLE" || *f.Brightness != 50 {
		t.Errorf("after PATCH: %+v", f)
	}
	// A patched reading gets a new time of sample.
	e.clock.Advance(time.Minute)
	e.do(http.MethodPatch, "/_sim/endpoints/amzn1.alexa.endpoint.a", "", `{"temperature":28,"connectivity":"OK"}`)
	r = e.api(http.MethodGet, "/v2/endpoints/amzn1.alexa.endpoint.a/features/temperatureSensor", nil)
	jsonEqual(t, r.raw, `{"properties":[{"name":"temperature","type":"RETRIEVABLE","value":{"value":28,"scale":"CELSIUS"},"timeOfSample":"2026-03-02T07:00:00.12Z"}]}`)

	// null removes a feature; a new key adds one.
	e.do(http.MethodPatch, "/_sim/endpoints/amzn1.alexa.endpoint.b", "", `{"power":null,"brightness":10}`)
	f = e.features("amzn1.alexa.endpoint.b")
	if f.Power != nil || f.Brightness == nil || *f.Brightness != 10 {
		t.Errorf("after PATCH null: %+v", f)
	}
	if r := e.api(http.MethodGet, "/v2/endpoints/amzn1.alexa.endpoint.b/features/power", nil); r.status != http.StatusNotFound {
		t.Errorf("removed feature still served: %d", r.status)
	}

	for _, tt := range []struct {
		name, id, body string
		want           int
	}{
		{"unknown key", "amzn1.alexa.endpoint.a", `{"temprature":20}`, 400},
		{"wrong type", "amzn1.alexa.endpoint.a", `{"temperature":"warm"}`, 400},
		{"out of range", "amzn1.alexa.endpoint.a", `{"brightness":101}`, 400},
		{"bad enum", "amzn1.alexa.endpoint.a", `{"connectivity":"MAYBE"}`, 400},
		{"not an object", "amzn1.alexa.endpoint.a", `[1]`, 400},
		{"unknown endpoint", "amzn1.alexa.endpoint.zzz", `{"temperature":20}`, 404},
	} {
		r := e.do(http.MethodPatch, "/_sim/endpoints/"+tt.id, "", tt.body)
		if r.status != tt.want || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s, want %d with an error", tt.name, r.status, r.raw, tt.want)
		}
	}
	if f := e.features("amzn1.alexa.endpoint.a"); *f.Temperature != 28 || *f.Brightness != 50 {
		t.Errorf("rejected PATCHes changed state: %+v", f)
	}

	// PUT replaces everything; an invalid household is refused whole.
	for _, body := range []string{
		`{"endpoints":[{"id":"x","name":"X","features":{"brigtness":5}}]}`,
		`{"endpoints":[{"id":"x","name":"X"},{"id":"x","name":"Y"}]}`,
		`{"endpoints":[],"extra":1}`,
	} {
		if r := e.do(http.MethodPut, "/_sim/household", "", body); r.status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d", body, r.status)
		}
	}
	if h := e.household(); len(h.Endpoints) != 2 {
		t.Errorf("refused PUT changed the household")
	}
	e.do(http.MethodPut, "/_sim/household", "", `{"endpoints":[]}`)
	r = e.do(http.MethodGet, "/_sim/household", "", nil)
	jsonEqual(t, r.raw, `{"endpoints":[],"echos":[],"lists":[],"notifications":[],"smarthome":[],"groups":[],"routines":[],"players":[],"spoken":[],"dnd":[]}`)
}

func TestGoAPI(t *testing.T) {
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	h := s.Household()
	h.Endpoints[0].Name = "changed"
	if s.Household().Endpoints[0].Name == "changed" {
		t.Error("Household returns an alias of the server's state")
	}
	if err := s.SetHousehold(sim.Household{Endpoints: []sim.Endpoint{{ID: "", Name: "x"}}}); err == nil {
		t.Error("SetHousehold accepted an endpoint without id")
	}
	id := sim.DemoHousehold().Endpoints[3].ID
	if err := s.PatchEndpoint(id, map[string]json.RawMessage{"temperature": json.RawMessage(`30`)}); err != nil {
		t.Fatal(err)
	}
	if got := *s.Household().Endpoints[3].Features.Temperature; got != 30 {
		t.Errorf("temperature %v after PatchEndpoint", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("New accepted an invalid household")
		}
	}()
	sim.New(sim.Household{Endpoints: []sim.Endpoint{{ID: "a", Name: "A", Features: sim.Features{Power: new("MAYBE")}}}}, sim.Options{})
}
