package features_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/internal/apitest"
	"github.com/alexarules/alexarules/engine"
)

const prefix = "/v2/endpoints/" + endpointID + "/features/"

// TestEveryOperation drives each of the reference's operations through the
// typed methods and checks method, path, headers and the exact body.
func TestEveryOperation(t *testing.T) {
	ctx := t.Context()
	getOK := `{"properties":[],"operations":[]}`
	tests := []struct {
		name         string
		call         func(c *features.Client) error
		method, path string
		body         string // "" means no body
	}{
		{"get bluetooth", feature("bluetooth"), "GET", prefix + "bluetooth", ""},
		{"get brightness", feature("brightness"), "GET", prefix + "brightness", ""},
		{"get color", feature("color"), "GET", prefix + "color", ""},
		{"get colorTemperature", feature("colorTemperature"), "GET", prefix + "colorTemperature", ""},
		{"get connectivity", feature("connectivity"), "GET", prefix + "connectivity", ""},
		{"get power", feature("power"), "GET", prefix + "power", ""},
		{"get speaker", feature("speaker"), "GET", prefix + "speaker", ""},
		{"get temperatureSensor", feature("temperatureSensor"), "GET", prefix + "temperatureSensor", ""},
		{"get thermostat", feature("thermostat"), "GET", prefix + "thermostat", ""},
		{"unpair", func(c *features.Client) error { return c.UnpairBluetooth(ctx, endpointID) },
			"POST", prefix + "bluetooth/unpair", ""},
		{"setBrightness", func(c *features.Client) error { return c.SetBrightness(ctx, endpointID, 75) },
			"POST", prefix + "brightness/setBrightness", `{"payload":{"brightness":75}}`},
		{"adjustBrightness", func(c *features.Client) error { return c.AdjustBrightness(ctx, endpointID, -25) },
			"POST", prefix + "brightness/adjustBrightness", `{"payload":{"brightnessDelta":-25}}`},
		{"setColor", func(c *features.Client) error {
			return c.SetColor(ctx, endpointID, features.Color{Hue: 20, Saturation: 0.75, Brightness: 0.34})
		}, "POST", prefix + "color/setColor", `{"payload":{"color":{"hue":20,"saturation":0.75,"brightness":0.34}}}`},
		{"setColorTemperature", func(c *features.Client) error { return c.SetColorTemperature(ctx, endpointID, 2000) },
			"POST", prefix + "colorTemperature/setColorTemperature", `{"payload":{"colorTemperatureInKelvin":2000}}`},
		{"increaseColorTemperature", func(c *features.Client) error { return c.IncreaseColorTemperature(ctx, endpointID) },
			"POST", prefix + "colorTemperature/increaseColorTemperature", ""},
		{"decreaseColorTemperature", func(c *features.Client) error { return c.DecreaseColorTemperature(ctx, endpointID) },
			"POST", prefix + "colorTemperature/decreaseColorTemperature", ""},
		{"turnOn", func(c *features.Client) error { return c.TurnOn(ctx, endpointID) },
			"POST", prefix + "power/turnOn", ""},
		{"turnOff", func(c *features.Client) error { return c.TurnOff(ctx, endpointID) },
			"POST", prefix + "power/turnOff", ""},
		{"setVolume", func(c *features.Client) error { return c.SetVolume(ctx, endpointID, 75) },
			"POST", prefix + "speaker/setVolume", `{"payload":{"volume":75}}`},
		{"adjustVolume", func(c *features.Client) error { return c.AdjustVolume(ctx, endpointID, -25) },
			"POST", prefix + "speaker/adjustVolume", `{"payload":{"volumeDelta":-25}}`},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet:
					apitest.WriteJSON(w, 200, getOK)
				case strings.HasSuffix(r.URL.Path, "/unpair"):
					w.WriteHeader(http.StatusAccepted)
				default:
					w.WriteHeader(http.StatusOK)
				}
			})
			c, _ := newClient(t, srv.URL, features.ClientOptions{})
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != "" {
				t.Errorf("request %s %s?%s, want %s %s", r.Method, r.Path, r.Query, tt.method, tt.path)
			}
			if !jsonEqual(t, r.Body, tt.body) {
				t.Errorf("body %s, want %s", r.Body, tt.body)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer access-1" {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if tt.body != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
			}
		})
		covered[tt.method+" "+tt.path] = true
	}
	ops := features.Operations()
	if len(ops) != 20 {
		t.Errorf("%d operations, want 9 GETs + unpair + 10 updates", len(ops))
	}
	for _, op := range ops {
		if key := op.Method + " " + op.Path(endpointID); !covered[key] {
			t.Errorf("operation %s not covered by this test", key)
		}
	}
}

func feature(name string) func(c *features.Client) error {
	return func(c *features.Client) error {
		_, err := c.Feature(context.Background(), endpointID, name)
		return err
	}
}

// TestUpdateByName is the generic entry point the scripting layer can use.
func TestUpdateByName(t *testing.T) {
	api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	c, _ := newClient(t, srv.URL, features.ClientOptions{})
	if err := c.Update(t.Context(), endpointID, "setColor", 360, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(t.Context(), endpointID, "setBrightness", 0); err != nil {
		t.Fatal(err)
	}
	reqs := api.requests()
	if !jsonEqual(t, reqs[0].Body, `{"payload":{"color":{"hue":360,"saturation":1,"brightness":0}}}`) ||
		!jsonEqual(t, reqs[1].Body, `{"payload":{"brightness":0}}`) {
		t.Errorf("bodies %q, %q", reqs[0].Body, reqs[1].Body)
	}
}

func TestARuleRunsRequestsAreLoggedWithTheRuleAndEvent(t *testing.T) {
	_, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	var logs bytes.Buffer
	c, _ := newClient(t, srv.URL, features.ClientOptions{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := engine.WithOrigin(t.Context(), engine.Origin{Rule: "wake-lights", Event: "ev-1"})
	if err := c.Update(ctx, endpointID, "turnOn"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(t.Context(), endpointID, "turnOff"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "/turnOn status=200 attempt=1 rule=wake-lights event=ev-1") ||
		strings.Contains(lines[1], "rule=") {
		t.Fatalf("a rule's request names its rule and event, another names none:\n%s", logs.String())
	}
}

func TestValidationSendsNothing(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name  string
		call  func(c *features.Client) error
		field string
	}{
		{"brightness 101", func(c *features.Client) error { return c.SetBrightness(ctx, endpointID, 101) }, "brightness"},
		{"brightness -1", func(c *features.Client) error { return c.SetBrightness(ctx, endpointID, -1) }, "brightness"},
		{"adjust brightness -101", func(c *features.Client) error { return c.AdjustBrightness(ctx, endpointID, -101) }, "brightnessDelta"},
		{"adjust brightness 101", func(c *features.Client) error { return c.AdjustBrightness(ctx, endpointID, 101) }, "brightnessDelta"},
		{"hue 361", func(c *features.Client) error { return c.SetColor(ctx, endpointID, features.Color{Hue: 361}) }, "hue"},
		{"hue -1", func(c *features.Client) error { return c.SetColor(ctx, endpointID, features.Color{Hue: -1}) }, "hue"},
		{"hue fraction", func(c *features.Client) error { return c.SetColor(ctx, endpointID, features.Color{Hue: 20.5}) }, "hue"},
		{"saturation 1.1", func(c *features.Client) error {
			return c.SetColor(ctx, endpointID, features.Color{Hue: 20, Saturation: 1.1})
		}, "saturation"},
		{"color brightness -0.1", func(c *features.Client) error {
			return c.SetColor(ctx, endpointID, features.Color{Hue: 20, Saturation: 0.5, Brightness: -0.1})
		}, "brightness"},
		{"saturation NaN", func(c *features.Client) error {
			return c.SetColor(ctx, endpointID, features.Color{Saturation: math.NaN()})
		}, "saturation"},
		{"kelvin 999", func(c *features.Client) error { return c.SetColorTemperature(ctx, endpointID, 999) }, "colorTemperatureInKelvin"},
		{"kelvin 10001", func(c *features.Client) error { return c.SetColorTemperature(ctx, endpointID, 10001) }, "colorTemperatureInKelvin"},
		{"volume 101", func(c *features.Client) error { return c.SetVolume(ctx, endpointID, 101) }, "volume"},
		{"volume -1", func(c *features.Client) error { return c.SetVolume(ctx, endpointID, -1) }, "volume"},
		{"adjust volume -101", func(c *features.Client) error { return c.AdjustVolume(ctx, endpointID, -101) }, "volumeDelta"},
		{"adjust volume 101", func(c *features.Client) error { return c.AdjustVolume(ctx, endpointID, 101) }, "volumeDelta"},
		{"empty endpoint", func(c *features.Client) error { return c.TurnOn(ctx, " ") }, "endpointId"},
		{"unknown operation", func(c *features.Client) error { return c.Update(ctx, endpointID, "explode") }, "operation"},
		{"missing argument", func(c *features.Client) error { return c.Update(ctx, endpointID, "setBrightness") }, "arguments"},
		{"extra argument", func(c *features.Client) error { return c.Update(ctx, endpointID, "turnOn", 1) }, "arguments"},
		{"unknown feature", func(c *features.Client) error { _, err := c.Feature(ctx, endpointID, "toaster"); return err }, "feature"},
		{"unknown attribute", func(c *features.Client) error { _, err := c.Get(ctx, endpointID, "humidity"); return err }, "attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
			c, _ := newClient(t, srv.URL, features.ClientOptions{})
			err := tt.call(c)
			var ve *features.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T), want *ValidationError", err, err)
			}
			if ve.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", ve.Field, tt.field, err)
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("%d requests made", n)
			}
		})
	}
}

func TestRangeErrorMessage(t *testing.T) {
	c, _ := newClient(t, "http://127.0.0.1:1", features.ClientOptions{})
	err := c.SetBrightness(t.Context(), endpointID, 150)
	var ve *features.ValidationError
	if !errors.As(err, &ve) || ve.Min != 0 || ve.Max != 100 || ve.Operation != "setBrightness" {
		t.Fatalf("got %#v", err)
	}
	if want := "alexa: setBrightness: brightness 150: want 0..100"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestRetries(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	tests := []struct {
		name     string
		answers  []answer // the last repeats
		attempts int
		sleeps   []time.Duration
		status   int // 0: success
	}{
		{"2x429 then success, Retry-After seconds and date",
			[]answer{{429, "1", `{"type":"TOO_MANY_REQUESTS","message":"Request Throttled"}`},
				{429, now.Add(2 * time.Second).Format(http.TimeFormat), ""}, {200, "", ""}},
			3, []time.Duration{time.Second, 2 * time.Second}, 0},
		{"429 without Retry-After backs off exponentially",
			[]answer{{429, "", ""}, {429, "", ""}, {200, "", ""}},
			3, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}, 0},
		{"500 then 503 then success",
			[]answer{{500, "", "boom"}, {503, "", ""}, {200, "", ""}},
			3, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}, 0},
		{"429 forever gives up after 4 attempts",
			[]answer{{429, "", `{"type":"TOO_MANY_REQUESTS"}`}},
			4, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}, 429},
		{"404 is not retried",
			[]answer{{404, "", `{"type":"NOT_FOUND","message":"no such endpoint"}`}},
			1, nil, 404},
		{"400 is not retried",
			[]answer{{400, "", `{"type":"INVALID_REQUEST_EXCEPTION"}`}},
			1, nil, 400},
		{"Retry-After longer than MaxRetryAfter fails at once",
			[]answer{{429, "3600", ""}},
			1, nil, 429},
		{"unparsable Retry-After falls back to back-off",
			[]answer{{503, "soon", ""}, {200, "", ""}},
			2, []time.Duration{200 * time.Millisecond}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
				a := tt.answers[min(n, len(tt.answers))-1]
				if a.retryAfter != "" {
					w.Header().Set("Retry-After", a.retryAfter)
				}
				apitest.WriteJSON(w, a.status, a.body)
			})
			c, sl := newClient(t, srv.URL, features.ClientOptions{Now: func() time.Time { return now }})
			err := c.TurnOn(t.Context(), endpointID)
			if got := len(api.requests()); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
			if got := sl.got(); !reflect.DeepEqual(got, tt.sleeps) {
				t.Errorf("sleeps %v, want %v", got, tt.sleeps)
			}
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *features.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Attempts != tt.attempts || ae.Path != prefix+"power/turnOn" || ae.Method != "POST" {
				t.Errorf("got %+v", ae)
			}
			if ae.Retryable() != (tt.status == 429) {
				t.Errorf("Retryable = %v", ae.Retryable())
			}
		})
	}
}

func TestAPIErrorBodies(t *testing.T) {
	tests := []struct {
		status            int
		header, body      string
		wantType, wantMsg string
	}{
		{404, "", `{"type":"NOT_FOUND","message":"Endpoint not found"}`, "NOT_FOUND", "Endpoint not found"},
		{403, "", `{"type":"ENDPOINT_UNREACHABLE","message":"The endpoint is offline or unreachable.","extra":[1]}`,
			"ENDPOINT_UNREACHABLE", "The endpoint is offline or unreachable."},
		{400, "", `{"message":"only a message"}`, "", "only a message"},
		{400, "", `{"code":"INVALID_INPUT"}`, "INVALID_INPUT", ""},
		{502, "", "<html>Bad Gateway</html>", "", "<html>Bad Gateway</html>"},
		{403, "", "", "", ""},
		{400, "ThrottlingException:http://internal", "", "ThrottlingException", ""},
		{404, "", `{"type":`, "", `{"type":`},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("X-Amzn-ErrorType", tt.header)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			c, _ := newClient(t, srv.URL, features.ClientOptions{})
			_, err := c.Power(t.Context(), endpointID)
			var ae *features.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want *APIError", err)
			}
			if ae.Status != tt.status || ae.Type != tt.wantType || ae.Message != tt.wantMsg {
				t.Errorf("got %+v", ae)
			}
			if !strings.Contains(err.Error(), prefix+"power") {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func TestRetryHonoursContext(t *testing.T) {
	t.Run("cancelled while sleeping", func(t *testing.T) {
		api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
		ctx, cancel := context.WithCancel(t.Context())
		c, _ := newClient(t, srv.URL, features.ClientOptions{Sleep: func(context.Context, time.Duration) error {
			cancel()
			return context.Canceled
		}})
		err := c.TurnOn(ctx, endpointID)
		var ae *features.APIError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.Status != 503 {
			t.Errorf("error %v", err)
		}
		if n := len(api.requests()); n != 1 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("Retry-After beyond the deadline", func(t *testing.T) {
		api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, sl := newClient(t, srv.URL, features.ClientOptions{})
		err := c.TurnOn(ctx, endpointID)
		var ae *features.APIError
		if !errors.As(err, &ae) || ae.RetryAfter != 30*time.Second {
			t.Errorf("error %v", err)
		}
		if n := len(api.requests()); n != 1 || len(sl.got()) != 0 {
			t.Errorf("%d requests, sleeps %v", n, sl.got())
		}
	})
	t.Run("default sleep returns at cancellation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var calls atomic.Int32
			hc := apitest.InMemoryClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Retry-After", "50")
				w.WriteHeader(429)
			}))
			ctx, cancel := context.WithCancel(t.Context())
			c, err := features.NewClient("http://api.test", &staticTokens{}, features.ClientOptions{HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.TurnOn(ctx, endpointID) }()
			synctest.Wait() // the client now waits out Retry-After
			start := time.Now()
			cancel()
			err = <-done
			var ae *features.APIError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.RetryAfter != 50*time.Second {
				t.Errorf("error %v", err)
			}
			if calls.Load() != 1 || time.Since(start) != 0 {
				t.Errorf("%d requests, waited %v after cancel", calls.Load(), time.Since(start))
			}
		})
	})
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Run("refresh then success", func(t *testing.T) {
		api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer access-2" {
				apitest.WriteJSON(w, 401, `{"type":"INVALID_ACCESS_TOKEN"}`)
				return
			}
			w.WriteHeader(200)
		})
		tokens := &staticTokens{}
		c, err := features.NewClient(srv.URL, tokens, features.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.TurnOff(t.Context(), endpointID); err != nil {
			t.Fatal(err)
		}
		if n := len(api.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
		if !reflect.DeepEqual(tokens.invalidated, []string{"access-1"}) {
			t.Errorf("invalidated %v", tokens.invalidated)
		}
	})
	t.Run("second 401 is returned", func(t *testing.T) {
		api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
			apitest.WriteJSON(w, 401, `{"type":"INVALID_ACCESS_TOKEN","message":"bad token"}`)
		})
		tokens := &staticTokens{}
		c, _ := features.NewClient(srv.URL, tokens, features.ClientOptions{})
		err := c.TurnOff(t.Context(), endpointID)
		var ae *features.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Type != "INVALID_ACCESS_TOKEN" {
			t.Fatalf("error %v", err)
		}
		if n := len(api.requests()); n != 2 || len(tokens.invalidated) != 1 {
			t.Errorf("%d requests, %d refreshes; want 2 and 1", n, len(tokens.invalidated))
		}
	})
}
