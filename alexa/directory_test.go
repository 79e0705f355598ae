package alexa_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

// The Directory is what device() binds to.
var _ scripting.Endpoints = (*alexa.Directory)(nil)

const (
	dirToken   = "directory-test-token"
	bedroomID  = "amzn1.alexa.endpoint.3f9d2c1e-8a4b-4c7d-9e21-5b6a7c8d0e11"
	speakerID  = "amzn1.alexa.endpoint.5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d66"
	listPath   = "/v2/endpoints"
	minRefresh = time.Minute
)

// dirTokens always hands out dirToken, which the simulator accepts.
type dirTokens struct{}

func (dirTokens) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: dirToken, TokenType: "bearer"}, nil
}
func (dirTokens) Invalidate(string) {}

// dirClock is a settable clock for DirectoryOptions.Now.
type dirClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *dirClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *dirClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type dirEnv struct {
	sim   *sim.Server
	ts    *httptest.Server
	dir   *alexa.Directory
	clock *dirClock
}

func newDirEnv(t *testing.T, h sim.Household) *dirEnv {
	t.Helper()
	s := sim.New(h, sim.Options{AccessTokens: []string{dirToken}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	c, err := features.NewClient(ts.URL, dirTokens{}, features.ClientOptions{
		MaxAttempts: 1, // no back-off waits in these tests
		HTTPClient:  ts.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := &dirClock{now: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)}
	dir := alexa.NewDirectory(features.Backend(c), alexa.DirectoryOptions{MinRefresh: minRefresh, Now: clock.Now})
	return &dirEnv{sim: s, ts: ts, dir: dir, clock: clock}
}

// listFetches counts the endpoint list requests the simulator served.
func (e *dirEnv) listFetches() int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Path == listPath {
			n++
		}
	}
	return n
}

func (e *dirEnv) endpoint(t *testing.T, id string) sim.Endpoint {
	t.Helper()
	for _, ep := range e.sim.Household().Endpoints {
		if ep.ID == id {
			return ep
		}
	}
	t.Fatalf("no endpoint %s", id)
	return sim.Endpoint{}
}

func TestDirectoryResolve(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	for _, q := range []string{"Bedroom Lamp", "bedroom lamp", "  BEDROOM   lamp ", bedroomID} {
		id, name, err := env.dir.Resolve(ctx, q)
		if err != nil || id != bedroomID || name != "Bedroom Lamp" {
			t.Errorf("Resolve(%q) = %q, %q, %v", q, id, name, err)
		}
	}
	if n := env.listFetches(); n != 1 {
		t.Errorf("fetched the endpoint list %d times, want once", n)
	}
}

func TestDirectoryUnknownName(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	tests := []struct{ query, want string }{
		{"Bedrom Lamp", `unknown device "Bedrom Lamp" (did you mean "Bedroom Lamp"?)`},
		{"living room lam", `unknown device "living room lam" (did you mean "Living Room Lamp"?)`},
		{"kitchen", `unknown device "kitchen" (did you mean "Kitchen Light"?)`},
		{"Kitchen Lihgt", `unknown device "Kitchen Lihgt" (did you mean "Kitchen Light"?)`},
		{"living", `unknown device "living" (did you mean "Living Room Fan" or "Living Room Lamp" or "Living Room Sensor"?)`},
		{"Garage Door", `unknown device "Garage Door" (known: "Bedroom Lamp", "Kitchen Light", ` +
			`"Living Room Fan", "Living Room Lamp", "Living Room Sensor", "Living Room Speaker", "Living Room Thermostat")`},
		{"amzn1.alexa.endpoint.nope", `unknown device "amzn1.alexa.endpoint.nope" (known: "Bedroom Lamp", "Kitchen Light", ` +
			`"Living Room Fan", "Living Room Lamp", "Living Room Sensor", "Living Room Speaker", "Living Room Thermostat")`},
	}
	for _, tt := range tests {
		_, _, err := env.dir.Resolve(ctx, tt.query)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Resolve(%q) error = %v\nwant %s", tt.query, err, tt.want)
			continue
		}
		var nf interface{ NotFound() bool }
		if !errors.Is(err, alexa.ErrUnknownDevice) || !errors.As(err, &nf) || !nf.NotFound() {
			t.Errorf("Resolve(%q) error %T is not ErrUnknownDevice with NotFound()", tt.query, err)
		}
	}
	// The misses came within MinRefresh of the first fetch.
	if n := env.listFetches(); n != 1 {
		t.Errorf("fetched the endpoint list %d times, want once", n)
	}
}

func TestDirectoryRefreshesOnMissAtMostOncePerInterval(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	if _, _, err := env.dir.Resolve(ctx, "Bedroom Lamp"); err != nil {
		t.Fatal(err)
	}
	h := env.sim.Household()
	h.Endpoints = append(h.Endpoints, sim.Endpoint{ID: "amzn1.alexa.endpoint.garage", Name: "Garage Light",
		Features: sim.Features{Power: new("OFF")}})
	if err := env.sim.SetHousehold(h); err != nil {
		t.Fatal(err)
	}

	if _, _, err := env.dir.Resolve(ctx, "Garage Light"); !errors.Is(err, alexa.ErrUnknownDevice) {
		t.Fatalf("within MinRefresh: %v, want unknown device", err)
	}
	env.clock.Advance(minRefresh)
	id, _, err := env.dir.Resolve(ctx, "garage light")
	if err != nil || id != "amzn1.alexa.endpoint.garage" {
		t.Fatalf("after MinRefresh: %q, %v", id, err)
	}
	if n := env.listFetches(); n != 2 {
		t.Errorf("fetched the endpoint list %d times, want 2", n)
	}
}

func TestDirectoryAmbiguousName(t *testing.T) {
	h := sim.DemoHousehold()
	h.Endpoints = append(h.Endpoints, sim.Endpoint{ID: "amzn1.alexa.endpoint.twin", Name: "bedroom lamp",
		Features: sim.Features{Power: new("OFF")}})
	env := newDirEnv(t, h)
	_, _, err := env.dir.Resolve(context.Background(), "Bedroom Lamp")
	want := `device name "Bedroom Lamp" is ambiguous: 2 endpoints have it (` + bedroomID + `, amzn1.alexa.endpoint.twin); use the id`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	if id, _, err := env.dir.Resolve(context.Background(), "amzn1.alexa.endpoint.twin"); err != nil || id != "amzn1.alexa.endpoint.twin" {
		t.Errorf("by id: %q, %v", id, err)
	}
}

func TestDirectoryCallsChangeTheSimulator(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	calls := []struct {
		op   string
		args []float64
	}{
		{"turnOn", nil},
		{"setBrightness", []float64{55}},
		{"setColor", []float64{120, 1, 0.5}},
		{"setColorTemperature", []float64{5500}},
	}
	for _, c := range calls {
		if err := env.dir.Update(ctx, bedroomID, c.op, c.args...); err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
	}
	f := env.endpoint(t, bedroomID).Features
	if *f.Power != "ON" || *f.Brightness != 55 || *f.Color != (sim.Color{Hue: 120, Saturation: 1, Brightness: 0.5}) || *f.ColorTemperature != 5500 {
		t.Errorf("features after calls: power %s, brightness %d, color %+v, kelvin %d",
			*f.Power, *f.Brightness, *f.Color, *f.ColorTemperature)
	}
	v, err := env.dir.Get(ctx, bedroomID, "brightness")
	if err != nil || v != 55.0 {
		t.Errorf("Get brightness = %v, %v; want 55", v, err)
	}
}

func TestDirectoryFailuresDescribeThemselves(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	if err := env.sim.PatchEndpoint(bedroomID, map[string]json.RawMessage{"connectivity": json.RawMessage(`"UNREACHABLE"`)}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, typ string, status int) {
		t.Helper()
		var f scripting.DeviceFailure
		if !errors.As(err, &f) {
			t.Fatalf("%s: %T %v does not describe itself", what, err, err)
		}
		gotType, gotStatus, msg := f.Failure()
		if gotType != typ || gotStatus != status || msg == "" {
			t.Errorf("%s: Failure() = %q, %d, %q; want %q, %d and a message", what, gotType, gotStatus, msg, typ, status)
		}
	}
	check("update unreachable", env.dir.Update(ctx, bedroomID, "turnOn"), "ENDPOINT_UNREACHABLE", http.StatusBadRequest)
	_, err := env.dir.Get(ctx, bedroomID, "power")
	check("get unreachable", err, "ENDPOINT_UNREACHABLE", 0)
	check("no such endpoint", env.dir.Update(ctx, "amzn1.alexa.endpoint.gone", "turnOn"), "NO_SUCH_ENDPOINT", http.StatusNotFound)
	check("feature missing", env.dir.Update(ctx, speakerID, "turnOn"), "FEATURE_NOT_SUPPORTED", http.StatusNotFound)

	var apiErr *features.APIError
	if err := env.dir.Update(ctx, bedroomID, "turnOff"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("CallError does not wrap the APIError: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	check("cancelled", env.dir.Update(cancelled, speakerID, "setVolume", 10), "CANCELED", 0)
}

func TestDirectoryListFailureIsRemoteNotUnknown(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	ctx := context.Background()
	fault := `{"path_prefix":"/v2/endpoints","status":503,"times":1}`
	resp, err := env.ts.Client().Post(env.ts.URL+"/_sim/faults", "application/json", strings.NewReader(fault))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /_sim/faults: %s", resp.Status)
	}

	_, _, err = env.dir.Resolve(ctx, "Bedroom Lamp")
	var f scripting.DeviceFailure
	if errors.Is(err, alexa.ErrUnknownDevice) || !errors.As(err, &f) {
		t.Fatalf("Resolve during an outage: %v, want a remote failure", err)
	}
	if typ, status, _ := f.Failure(); typ != "SERVICE_UNAVAILABLE" || status != 503 {
		t.Errorf("Failure() = %q, %d", typ, status)
	}
	// Within MinRefresh the failure stands without another request.
	if _, _, err := env.dir.Resolve(ctx, "Bedroom Lamp"); err == nil {
		t.Error("second Resolve within MinRefresh succeeded without fetching")
	}
	env.clock.Advance(minRefresh)
	if id, _, err := env.dir.Resolve(ctx, "Bedroom Lamp"); err != nil || id != bedroomID {
		t.Errorf("after the outage: %q, %v", id, err)
	}
	if n := env.listFetches(); n != 2 {
		t.Errorf("fetched the endpoint list %d times, want 2", n)
	}
}

func TestDirectoryConcurrentResolveFetchesOnce(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := env.dir.Resolve(context.Background(), "Kitchen Light"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := env.listFetches(); n != 1 {
		t.Errorf("fetched the endpoint list %d times, want once", n)
	}
	list, err := env.dir.Devices(context.Background())
	if err != nil || len(list) != len(sim.DemoHousehold().Endpoints) {
		t.Errorf("Devices = %d devices, %v", len(list), err)
	}
}

// dirRun is the RunContext of the end-to-end test.
type dirRun struct{ actions []engine.Action }

func (r *dirRun) Context() context.Context { return context.Background() }
func (r *dirRun) Record(a engine.Action)   { r.actions = append(r.actions, a) }
func (r *dirRun) Withheld() string         { return "" }
func (r *dirRun) Acted(engine.Change)      {}

// A rule's device() calls reach the simulator through the Directory.
func TestDirectoryBehindDevice(t *testing.T) {
	env := newDirEnv(t, sim.DemoHousehold())
	if err := env.sim.PatchEndpoint(speakerID, map[string]json.RawMessage{"connectivity": json.RawMessage(`"UNREACHABLE"`)}); err != nil {
		t.Fatal(err)
	}
	L := scripting.NewState(scripting.StateOptions{})
	defer L.Close()
	run := &dirRun{}
	scripting.OpenDevice(L, run, env.dir, nil)
	L.SetContext(context.Background())
	err := L.DoString(`
		local lamp = device("bedroom lamp")
		assert(lamp:on())
		assert(lamp:set_color("#00ff00"))
		assert(lamp:set_color_temperature("daylight"))
		assert(lamp:get("power") == "ON")
		local ok, err = device("Living Room Speaker"):set_volume(80)
		assert(ok == nil and err.type == "ENDPOINT_UNREACHABLE" and err.status == 400, tostring(err))
	`)
	if err != nil {
		t.Fatal(err)
	}
	f := env.endpoint(t, bedroomID).Features
	if *f.Power != "ON" || f.Color.Hue != 120 || *f.ColorTemperature != 5500 {
		t.Errorf("bedroom lamp: power %s, color %+v, kelvin %d", *f.Power, *f.Color, *f.ColorTemperature)
	}
	if len(run.actions) != 5 || run.actions[4].Call != "set_volume" || run.actions[4].Device != "Living Room Speaker" {
		t.Errorf("recorded %#v", run.actions)
	}

	err = L.DoString(`device("Bedrom Lamp")`)
	if err == nil || !strings.Contains(err.Error(), `unknown device "Bedrom Lamp" (did you mean "Bedroom Lamp"?)`) {
		t.Errorf("misspelt name: %v", err)
	}
}

// plainBackend is a Backend whose errors know nothing of rules.
type plainBackend struct{ err error }

func (b plainBackend) Devices(context.Context) ([]alexa.Device, error) {
	return []alexa.Device{{ID: "id-1", FriendlyName: "Porch Light"}}, nil
}
func (b plainBackend) Update(context.Context, string, string, ...float64) error { return b.err }
func (b plainBackend) Get(context.Context, string, string) (any, error)         { return nil, b.err }

// The Directory serves any Backend: a backend's *CallError reaches the rule
// as it is; any other error becomes NETWORK_ERROR, TIMEOUT or CANCELED.
func TestDirectoryOverAnyBackend(t *testing.T) {
	ctx := context.Background()
	own := &alexa.CallError{Type: "ENDPOINT_BUSY", Status: 409, Message: "busy", Err: errors.New("busy")}
	tests := []struct {
		err  error
		want string
	}{
		{own, "ENDPOINT_BUSY"},
		{errors.New("connection reset"), "NETWORK_ERROR"},
		{context.DeadlineExceeded, "TIMEOUT"},
		{context.Canceled, "CANCELED"},
	}
	for _, tt := range tests {
		dir := alexa.NewDirectory(plainBackend{tt.err}, alexa.DirectoryOptions{})
		if id, name, err := dir.Resolve(ctx, "porch light"); err != nil || id != "id-1" || name != "Porch Light" {
			t.Fatalf("Resolve = %q, %q, %v", id, name, err)
		}
		err := dir.Update(ctx, "id-1", "turnOn")
		var ce *alexa.CallError
		if !errors.As(err, &ce) || ce.Type != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Update with %v: %v (%T), want type %s", tt.err, err, err, tt.want)
		}
		if _, err := dir.Get(ctx, "id-1", "power"); !errors.As(err, &ce) || ce.Type != tt.want {
			t.Errorf("Get with %v: %v, want type %s", tt.err, err, tt.want)
		}
	}
}
