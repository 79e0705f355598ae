package scripting

import (
	"maps"
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// The editor definitions list exactly what the bindings install: every
// method, function and field, each with a signature, and nothing more.
func TestBoundAPIMatchesTheBindings(t *testing.T) {
	L := NewState(StateOptions{})
	defer L.Close()
	OpenDevice(L, nil, nil, nil)
	OpenAlexa(L, nil, nil, engine.RealClock{})
	api := BoundAPI()

	for _, tc := range []struct {
		what  string
		funcs []Func
		want  []string
		sigs  []string
	}{
		{"device methods", api.DeviceMethods, slices.Sorted(maps.Keys(deviceMethods)), slices.Sorted(maps.Keys(deviceSigs))},
		{"echo methods", api.EchoMethods, slices.Sorted(maps.Keys(echoMethods)), slices.Sorted(maps.Keys(echoSigs))},
		{"list methods", api.ListMethods, slices.Sorted(maps.Keys(listMethods)), slices.Sorted(maps.Keys(listSigs))},
		{"alexa.*", api.Alexa, tableKeys(t, L, "alexa"), nil},
		{"time.*", api.Time, tableKeys(t, L, "time"), nil},
	} {
		var got []string
		for _, f := range tc.funcs {
			got = append(got, f.Name)
			if f.Doc == "" {
				t.Errorf("%s: %s has no signature in scripting/api.go", tc.what, f.Name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: described %v, bound %v", tc.what, got, tc.want)
		}
		if tc.sigs != nil && !slices.Equal(tc.sigs, tc.want) {
			t.Errorf("%s: signatures for %v, methods %v", tc.what, tc.sigs, tc.want)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(remindSigs)), slices.Sorted(slices.Values(remindFields))) {
		t.Errorf("alexa.remind fields: signatures %v, fields %v", slices.Sorted(maps.Keys(remindSigs)), remindFields)
	}
	if !slices.Equal(api.DeviceAttributes, deviceAttributes) || !slices.Equal(api.Repeats, repeats) {
		t.Errorf("attributes or repeats differ: %v %v", api.DeviceAttributes, api.Repeats)
	}
}

// alexa.remind accepts each field the definitions name and refuses others.
func TestRemindFieldsAreTheAcceptedOnes(t *testing.T) {
	L := NewState(StateOptions{})
	defer L.Close()
	OpenAlexa(L, nil, nil, engine.RealClock{})
	try := func(field string) string {
		err := L.DoString(`alexa.remind { ["` + field + `"] = "x" }`)
		if err == nil {
			t.Fatalf("alexa.remind{%s=...} outside a run succeeded", field)
		}
		return err.Error()
	}
	for _, p := range BoundAPI().RemindFields {
		if msg := try(p.Name); strings.Contains(msg, "unknown field") {
			t.Errorf("field %q: %s", p.Name, msg)
		}
	}
	if msg := try("when"); !strings.Contains(msg, `unknown field "when" (device, text, at, in, repeat)`) {
		t.Errorf("unknown field: %s", msg)
	}
}

func tableKeys(t *testing.T, L *lua.LState, global string) []string {
	t.Helper()
	tbl, ok := L.GetGlobal(global).(*lua.LTable)
	if !ok {
		t.Fatalf("no global table %s", global)
	}
	var keys []string
	tbl.ForEach(func(k, _ lua.LValue) { keys = append(keys, k.String()) })
	slices.Sort(keys)
	return keys
}
