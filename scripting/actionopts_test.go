package scripting_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

// Every sent action reports its change (which cancels a pending revert);
// revert_after adds the value read before it; check_first compares
// colours field by field; a failed read sends nothing.
func TestActionOptionsReportChanges(t *testing.T) {
	eps := &fakeEndpoints{values: map[string]any{"brightness": 30.0, "power": "ON",
		"color": map[string]any{"hue": 0.0, "saturation": 1.0, "brightness": 1.0}}}
	run := &fakeRun{}
	L := devState(t, run, eps, nil)
	got, err := devDo(t, L, true, `
		local lamp = device("bedroom lamp")
		return lamp:set_brightness(80, { revert_after = 90 }), lamp:off(), lamp:set_color("red", { check_first = true })`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != lua.LTrue || got[1] != lua.LTrue || got[2] != lua.LTrue {
		t.Fatalf("returned %v", got)
	}
	want := []engine.Change{
		{DeviceID: lampID, Device: "Bedroom Lamp", Attr: "brightness", Before: 30.0, RevertAfter: 90 * time.Second},
		{DeviceID: lampID, Device: "Bedroom Lamp", Attr: "power"},
	}
	if !reflect.DeepEqual(run.changes, want) {
		t.Fatalf("changes %+v\nwant %+v", run.changes, want)
	}
	if len(eps.updates) != 2 || run.actions[2].Result != scripting.ResultSkippedByCheck {
		t.Fatalf("updates %v, actions %+v: red is the colour already", eps.updates, run.actions)
	}

	eps.fail = map[string]error{"get": errors.New("offline")}
	got, err = devDo(t, L, true, `return device("bedroom lamp"):on { revert_after = "5m" }`)
	if err != nil || len(got) != 2 || got[0] != lua.LNil || len(eps.updates) != 2 {
		t.Fatalf("a failed read must send nothing: %v %v, updates %v", got, err, eps.updates)
	}
}
