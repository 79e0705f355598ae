package host

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/smarthome"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/poll"
)

// Ids of the demo household's smart-home devices.
const (
	shLamp   = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01"
	shFan    = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03"
	shSensor = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04"
	shGroup  = "group:b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01"
)

func TestDeviceBackendByAccountAndFlag(t *testing.T) {
	household := accountKinds{household: true, web: true}
	householdCloud := accountKinds{household: true, web: true, features: true}
	lwa := accountKinds{features: true}
	cloud := accountKinds{features: true, web: true} // --cloud: the sim's LWA and cookie
	cookie := accountKinds{web: true}
	for _, tc := range []struct {
		flag  string
		kinds accountKinds
		want  string
		err   string
	}{
		{"", household, DevicesSmartHome, ""},
		{"", householdCloud, DevicesSmartHome, ""},
		{"", lwa, DevicesFeatures, ""},
		{"", cloud, DevicesFeatures, ""},
		{"", cookie, DevicesSmartHome, ""},
		{"", accountKinds{}, "", ""},
		{DevicesSmartHome, cloud, DevicesSmartHome, ""},
		{DevicesFeatures, householdCloud, DevicesFeatures, ""},
		{DevicesSmartHome, lwa, "", "--devices smarthome needs a household login"},
		{DevicesFeatures, household, "", "--devices features needs a Login with Amazon account"},
	} {
		got, err := Config{Devices: tc.flag}.deviceBackend(tc.kinds)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tc.err) || !IsConfigError(err))) {
			t.Errorf("--devices %q with %+v: %q, %v; want %q, %q", tc.flag, tc.kinds, got, err, tc.want, tc.err)
		}
	}
}

func TestSmartHomeConfigIsChecked(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{"devices": "hue"}`, `devices (--devices) "hue": smarthome or features`},
		{`{"smarthome": {"brightness_form": "percent"}}`, `smarthome.brightness_form "percent"`},
		{`{"smarthome": {"kelvin": "nearest"}}`, `smarthome.kelvin "nearest"`},
		{`{"smarthome": {"discovery": "0s"}}`, `smarthome.discovery "0s"`},
		{`{"smarthome": {"cooldown": "soon"}}`, `smarthome.cooldown "soon"`},
	} {
		if _, err := ParseConfig("c.json", []byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.src, err, tc.want)
		}
	}
	c, err := ParseConfig("c.json", []byte(`{"devices": "smarthome", "smarthome": {"brightness_form": "fraction", "kelvin": "name", "discovery": "1h", "cooldown": "10m"}}`))
	if err != nil || c.Devices != DevicesSmartHome || c.SmartHome != (SmartHomeConfig{"fraction", "name", "1h", "10m"}) {
		t.Fatalf("%+v, %v", c, err)
	}
}

// shRig is a smart-home client of the configuration's on the demo
// household's simulator, with the static simulator cookie and a virtual
// clock.
type shRig struct {
	sim    *sim.Server
	url    string
	clock  *engine.Virtual
	reader smartHomeReader
	eps    smartHomeEndpoints
	gauges func() []engine.Gauge
}

func newSHRig(t *testing.T, cfg Config) *shRig {
	t.Helper()
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	hosts, err := alexa.HostsFor("", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	clock := engine.NewVirtual(time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC))
	acc := webAccess{hosts: hosts, web: web.Options{Hosts: hosts, Cookie: web.SimCookie}}
	c, err := newSmartHome(cfg, acc, clock, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &shRig{sim: s, url: srv.URL, clock: clock, reader: smartHomeReader{c},
		eps: smartHomeEndpoints{alexa.NewDirectory(c, alexa.DirectoryOptions{Now: clock.Now})}, gauges: coolDownGauges(c, clock)}
}

// stateReads are the bodies of the POST /api/phoenix/state requests.
func (r *shRig) stateReads() []string {
	var out []string
	for _, q := range r.sim.Requests() {
		if q.Method == http.MethodPost && q.Path == "/api/phoenix/state" {
			out = append(out, string(q.Body))
		}
	}
	return out
}

func (r *shRig) fault(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(r.url+"/_sim/faults", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/faults: %v %v", resp, err)
	}
	resp.Body.Close()
}

// One state request carries every device of a batch once, however many of
// its attributes are read; a group reads its members.
func TestSmartHomeReaderBatchesOneRequest(t *testing.T) {
	r := newSHRig(t, Config{})
	if err := r.sim.PatchSmartHome(shFan, map[string]json.RawMessage{"connectivity": json.RawMessage(`"UNREACHABLE"`)}); err != nil {
		t.Fatal(err)
	}
	reads := []poll.Read{{EndpointID: shLamp, Attr: "power"}, {EndpointID: shLamp, Attr: "brightness"}, {EndpointID: shSensor, Attr: "temperature"},
		{EndpointID: shFan, Attr: "connectivity"}, {EndpointID: shFan, Attr: "power"}, {EndpointID: shGroup, Attr: "power"}, {EndpointID: shLamp, Attr: "temperature"}}
	if _, err := r.reader.c.Entities(context.Background()); err != nil { // discovery first, as the poller's targets need
		t.Fatal(err)
	}
	got := r.reader.ReadMany(context.Background(), reads)
	if bodies := r.stateReads(); len(bodies) != 1 || strings.Count(bodies[0], `"entityId"`) != 4 {
		t.Fatalf("state requests %v; want one naming the lamp, the sensor, the fan and the group's other member", bodies)
	}
	want := []any{"OFF", 40.0, 22.5, "UNREACHABLE"}
	for i, w := range want {
		if got[i].Err != nil || got[i].Value != w {
			t.Errorf("read %v: %v, %v; want %v", reads[i], got[i].Value, got[i].Err, w)
		}
	}
	var un interface{ Unreachable() bool }
	if !errors.As(got[4].Err, &un) || !un.Unreachable() {
		t.Errorf("power of the unreachable fan: %v, %v; want an unreachable error", got[4].Value, got[4].Err)
	}
	if got[5].Err != nil || got[5].Value != "ON" {
		t.Errorf("power of the group: %v, %v; want ON (the Living Room Lamp is on)", got[5].Value, got[5].Err)
	}
	if got[6].Err == nil || !strings.Contains(got[6].Err.Error(), "reported no temperature") {
		t.Errorf("a lamp's temperature: %v, %v", got[6].Value, got[6].Err)
	}
}

// A throttle answer fails the whole batch as retryable after the account's
// cool-down (the first one 30 s: smarthome.cooldown is the cap), sends
// nothing more until it is over, and shows on /metrics. Poll reads never
// wait for its end, even with time to.
func TestSmartHomeThrottleIsAccountWide(t *testing.T) {
	r := newSHRig(t, Config{SmartHome: SmartHomeConfig{Cooldown: "7m"}})
	ctx := context.Background()
	if _, err := r.reader.c.Entities(ctx); err != nil {
		t.Fatal(err)
	}
	r.fault(t, `{"path_prefix":"/api/phoenix/state","status":429,"times":1,"body":{"message":"Too many requests. Try again in some time."}}`)
	got := r.reader.ReadMany(ctx, []poll.Read{{EndpointID: shLamp, Attr: "power"}, {EndpointID: shSensor, Attr: "temperature"}})
	for i, g := range got {
		var re interface {
			Retryable() bool
			RetryAfterDuration() time.Duration
		}
		if !errors.As(g.Err, &re) || !re.Retryable() || re.RetryAfterDuration() != smarthome.FirstCooldown {
			t.Fatalf("read %d: %v; want a retryable error with the first 30 s cool-down", i, g.Err)
		}
	}
	if g := r.gauges()[0]; g.Name != "alexarules_smarthome_cooldown_seconds" || g.Value != 30 {
		t.Errorf("gauge %+v; want 30 s left", g)
	}
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := r.reader.Get(long, shLamp, "power"); !errors.Is(err, smarthome.ErrThrottled) {
		t.Errorf("a single poll read during the cool-down: %v; want THROTTLED at once", err)
	}
	// A rule's call during the cool-down fails at once, without a request.
	n := len(r.sim.Requests())
	sent, err := r.eps.UpdateSent(ctx, shLamp, "turnOn")
	var ce *alexa.CallError
	if !errors.As(err, &ce) || ce.Type != "THROTTLED" || sent != nil || len(r.sim.Requests()) != n {
		t.Fatalf("update while cooling down: %v, %v, %d requests; want THROTTLED and nothing sent", sent, err, len(r.sim.Requests())-n)
	}
	r.clock.Advance(smarthome.FirstCooldown)
	if g := r.gauges()[0]; g.Value != 0 {
		t.Errorf("gauge after the cool-down: %v", g.Value)
	}
	if got := r.reader.ReadMany(ctx, []poll.Read{{EndpointID: shLamp, Attr: "power"}}); got[0].Err != nil || got[0].Value != "OFF" {
		t.Errorf("after the cool-down: %+v", got[0])
	}
}

// The trace's "sent" is the control request's parameters and the mapping.
func TestSmartHomeEndpointsSayWhatWasSent(t *testing.T) {
	r := newSHRig(t, Config{SmartHome: SmartHomeConfig{BrightnessForm: "number"}})
	ctx := context.Background()
	sent, err := r.eps.UpdateSent(ctx, shLamp, "setColor", 240, 1, 1)
	m, _ := sent.(map[string]any)
	if err != nil || m["request"] != "PUT /api/phoenix/state" || m["parameters"].(map[string]any)["colorName"] != "blue" ||
		!strings.Contains(m["mapped"].(string), "blue") {
		t.Fatalf("setColor: %#v, %v", sent, err)
	}
	sent, err = r.eps.UpdateSent(ctx, shLamp, "setBrightness", 30)
	m, _ = sent.(map[string]any)
	if err != nil || m["parameters"].(map[string]any)["brightness"] != 30 || m["mapped"] != nil {
		t.Fatalf("setBrightness: %#v, %v", sent, err)
	}
	sent, err = r.eps.UpdateSent(ctx, shFan, "setVolume", 10)
	var ce *alexa.CallError
	if sent != nil || !errors.As(err, &ce) || ce.Type != "UNSUPPORTED" {
		t.Fatalf("setVolume on a plug: %#v, %v; want nothing sent and UNSUPPORTED", sent, err)
	}
}
