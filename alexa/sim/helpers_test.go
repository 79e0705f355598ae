package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 2, 6, 59, 0, 120_000_000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// maxWait bounds every wait of a test for the simulator: an answer, a
// push, a stream ending. Healthy runs wait milliseconds; the bound only
// turns something the simulator never sends into a failure that names it,
// instead of a hang until the package's test timeout.
const maxWait = 30 * time.Second

// env is a simulator under test behind httptest.
type env struct {
	t     *testing.T
	sim   *sim.Server
	ts    *httptest.Server
	clock *clock
	token string
}

func newEnv(t *testing.T, h sim.Household, opts sim.Options) *env {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	s := sim.New(h, opts)
	ts := httptest.NewUnstartedServer(s.Handler())
	// Serve unencrypted HTTP/2 too, for the push downchannel.
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	ts.Config.Protocols = &p
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, sim: s, ts: ts, clock: c}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	// close reports the server's Connection: close.
	close bool
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", r.status, err, r.raw)
	}
	return m
}

// errorType returns the Error object's type after checking it has a
// message.
func (r response) errorType(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	if msg, _ := m["message"].(string); msg == "" {
		t.Errorf("Error object without message: %s", r.raw)
	}
	typ, _ := m["type"].(string)
	return typ
}

func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	req := e.request(method, path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

// request builds a request to the simulator; body is nil, a string sent
// as is, or a value sent as JSON.
func (e *env) request(method, path string, body any) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	return req
}

func (e *env) form(path string, values url.Values) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(values.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), maxWait)
	defer cancel()
	resp, err := e.ts.Client().Do(req.WithContext(ctx))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, raw: raw, close: resp.Close}
}

// api calls an API route with a valid access token, fetched once through
// the refresh-token grant.
func (e *env) api(method, path string, body any) response {
	e.t.Helper()
	if e.token == "" {
		r := e.form("/auth/o2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sim.SimRefreshToken}})
		if r.status != http.StatusOK {
			e.t.Fatalf("token: %d %s", r.status, r.raw)
		}
		e.token = r.json(e.t)["access_token"].(string)
	}
	return e.do(method, path, e.token, body)
}

// household reads the state through the control API.
func (e *env) household() sim.Household {
	e.t.Helper()
	r := e.do(http.MethodGet, "/_sim/household", "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET household: %d %s", r.status, r.raw)
	}
	h, err := sim.LoadHousehold(bytes.NewReader(r.raw))
	if err != nil {
		e.t.Fatalf("GET household answer: %v", err)
	}
	return h
}

func (e *env) features(id string) sim.Features {
	e.t.Helper()
	for _, ep := range e.household().Endpoints {
		if ep.ID == id {
			return ep.Features
		}
	}
	e.t.Fatalf("no endpoint %s", id)
	return sim.Features{}
}

// readJSONFile decodes a test data file.
func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readFile returns a test data file.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

//go:fix inline

// testHousehold has one endpoint per kind of feature, ids short for
// readable paths.
func testHousehold() sim.Household {
	return sim.Household{
		Endpoints: []sim.Endpoint{
			{ID: "amzn1.alexa.endpoint.lamp", Name: "Lamp", Features: sim.Features{
				Power:            new("OFF"),
				Brightness:       new(50),
				Color:            &sim.Color{Hue: 20, Saturation: 0.5, Brightness: 0.7},
				ColorTemperature: new(2700),
				Connectivity:     new("OK"),
			}},
			{ID: "amzn1.alexa.endpoint.speaker", Name: "Speaker", Features: sim.Features{
				Volume:    new(42),
				Muted:     new(false),
				Bluetooth: &sim.Bluetooth{PairedDevices: []sim.BluetoothDevice{{Address: "AA:BB:CC:DD:EE:FF", Name: "Phone"}}},
			}},
			{ID: "amzn1.alexa.endpoint.thermo", Name: "Thermostat", Features: sim.Features{
				Temperature:      new(68.0),
				TemperatureScale: new("FAHRENHEIT"),
				ThermostatMode:   new("AUTO"),
				LowerSetpoint:    new(66.0),
				UpperSetpoint:    new(74.0),
			}},
		},
	}
}
