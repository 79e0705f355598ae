package scripting_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/scripting"
)

// A device method takes an action options table exactly when the
// description gives it one, and each described option is accepted.
func TestActionOptionsAreAsDescribed(t *testing.T) {
	api := scripting.BoundAPI()
	samples := map[string]string{"integer": "10", "Color|string": `"red"`, "integer|string": "2700", "DeviceAttr": `"power"`}
	for _, m := range api.DeviceMethods {
		var args []string
		takesOpts := false
		for _, p := range m.Params {
			if p.Type == "ActionOptions" {
				takesOpts = true
				continue
			}
			args = append(args, samples[p.Type])
		}
		args = append(args, "{}")
		L := devState(t, &fakeRun{}, &fakeEndpoints{values: map[string]any{"power": "OFF"}}, nil)
		src := fmt.Sprintf(`return device("Bedroom Lamp"):%s(%s)`, m.Name, strings.Join(args, ", "))
		_, err := devDo(t, L, true, src)
		if takesOpts && err != nil {
			t.Errorf("%s: described with options, refuses them: %v", src, err)
		}
		if !takesOpts && err == nil {
			t.Errorf("%s: described without options, takes them", src)
		}
	}
	for _, o := range api.ActionOptions {
		value := map[string]string{"boolean": "true", "Duration": `"5m"`}[o.Type]
		L := devState(t, &fakeRun{}, &fakeEndpoints{values: map[string]any{"brightness": 50.0}}, nil)
		if _, err := devDo(t, L, true, fmt.Sprintf(`return device("Bedroom Lamp"):set_brightness(20, { %s = %s })`, o.Name, value)); err != nil {
			t.Errorf("action option %s: %v", o.Name, err)
		}
	}
	L := devState(t, &fakeRun{}, &fakeEndpoints{}, nil)
	if _, err := devDo(t, L, true, `return device("Bedroom Lamp"):on{ colour = 1 }`); err == nil || !strings.Contains(err.Error(), "unknown action option") {
		t.Errorf("an undescribed action option: %v", err)
	}
}
