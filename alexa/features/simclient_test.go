package features_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/sim"
)

// The client against the simulator: every read the rules' :get offers and
// the operations the rule tests in cmd do not reach.
func TestClientAgainstTheSimulator(t *testing.T) {
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx := context.Background()
	c, _, err := features.NewFromConfig(ctx, alexa.Config{Cloud: srv.URL}, nil, features.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := c.Endpoints(ctx)
	if err != nil || len(eps) < 7 {
		t.Fatalf("endpoints: %d %v", len(eps), err)
	}
	ids := map[string]string{}
	for _, ep := range eps {
		ids[ep.FriendlyName] = ep.ID
	}
	reads := []struct {
		device, attr string
	}{
		{"Bedroom Lamp", "power"}, {"Bedroom Lamp", "brightness"}, {"Bedroom Lamp", "color"},
		{"Bedroom Lamp", "color_temperature"}, {"Bedroom Lamp", "connectivity"},
		{"Living Room Speaker", "volume"}, {"Living Room Speaker", "bluetooth"},
		{"Living Room Sensor", "temperature"}, {"Living Room Thermostat", "thermostat"},
	}
	for _, r := range reads {
		v, err := c.Get(ctx, ids[r.device], r.attr)
		if err != nil || v == nil {
			t.Errorf("%s %s: %v %v", r.device, r.attr, v, err)
		}
	}
	if err := c.UnpairBluetooth(ctx, ids["Living Room Speaker"]); err != nil {
		t.Errorf("unpair: %v", err)
	}
	var apiErr *features.APIError
	if err := c.SetBrightness(ctx, "amzn1.alexa.endpoint.nope", 10); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("unknown endpoint: %v", err)
	}
	if err := s.PatchEndpoint(ids["Kitchen Light"], map[string]json.RawMessage{"connectivity": json.RawMessage(`"UNREACHABLE"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, ids["Kitchen Light"], "brightness"); err == nil {
		t.Error("a read of an unreachable endpoint must fail")
	}
	if err := c.TurnOn(ctx, ids["Kitchen Light"]); !errors.As(err, &apiErr) || apiErr.Type != "ENDPOINT_UNREACHABLE" {
		t.Errorf("update of an unreachable endpoint: %v", err)
	}
}
