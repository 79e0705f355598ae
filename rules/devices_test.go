package rules_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// fakeHome is a household of endpoints for device(): each endpoint is its
// attributes; updates change them as the Endpoint Features API would and
// are logged ("Lamp turnOn", "Lamp setBrightness 20").
type fakeHome struct {
	mu    sync.Mutex
	attrs map[string]map[string]any // by endpoint name
	calls []string
}

func newFakeHome(endpoints map[string]map[string]any) *fakeHome {
	return &fakeHome{attrs: endpoints}
}

type notFound struct{ name string }

func (e notFound) Error() string  { return fmt.Sprintf("no endpoint named %q", e.name) }
func (e notFound) NotFound() bool { return true }

func (f *fakeHome) Resolve(_ context.Context, q string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.attrs {
		if strings.EqualFold(name, q) || "id-"+name == q {
			return "id-" + name, name, nil
		}
	}
	return "", "", notFound{q}
}

func (f *fakeHome) Update(_ context.Context, id, op string, args ...float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.TrimPrefix(id, "id-")
	var call strings.Builder
	call.WriteString(name + " " + op)
	for _, a := range args {
		call.WriteString(fmt.Sprintf(" %g", a))
	}
	f.calls = append(f.calls, call.String())
	a := f.attrs[name]
	switch op {
	case "turnOn":
		a["power"] = "ON"
	case "turnOff":
		a["power"] = "OFF"
	case "setBrightness":
		a["brightness"] = args[0]
	case "setColorTemperature":
		a["color_temperature"] = args[0]
	case "setVolume":
		a["volume"] = args[0]
	case "setColor":
		a["color"] = map[string]any{"hue": args[0], "saturation": args[1], "brightness": args[2]}
	}
	return nil
}

func (f *fakeHome) Get(_ context.Context, id, attr string) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.attrs[strings.TrimPrefix(id, "id-")][attr]
	if !ok {
		return nil, fmt.Errorf("%s has no %s", id, attr)
	}
	return v, nil
}

func (f *fakeHome) value(name, attr string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attrs[name][attr]
}

// sent returns the update calls so far and forgets them.
func (f *fakeHome) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// newHomeHarness is newHarness with device() served by home.
func newHomeHarness(t *testing.T, files map[string]string, home *fakeHome) *harness {
	t.Helper()
	return newHarnessOpts(t, files, rules.Options{Bind: func(L *lua.LState, run scripting.RunContext) {
		scripting.OpenDevice(L, run, home, nil)
	}})
}
