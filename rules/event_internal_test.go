package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	lua "github.com/yuin/gopher-lua"
)

// TestEventTableReusesOnlyEqualStrings: the kind, trigger and name kept
// from one event serve the next only when they are the same.
func TestEventTableReusesOnlyEqualStrings(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var keep eventValues
	d := &Def{}
	for _, ev := range []engine.Event{
		{ID: "1", Kind: engine.KindCustom, Name: "a", Time: time.Unix(1, 0)},
		{ID: "2", Kind: engine.KindCustom, Name: "a", Time: time.Unix(2, 0)},
		{ID: "3", Kind: engine.KindCustom, Name: "b", Time: time.Unix(3, 0)},
		{ID: "4", Kind: "alarm", Time: time.Unix(4, 0)},
		{ID: "5", Kind: engine.KindCustom, Name: "a", Time: time.Unix(5, 0)},
	} {
		tb := eventTable(L, &ev, d, -1, &keep)
		got := map[string]string{}
		for _, f := range []string{"id", "kind", "name"} {
			got[f] = lua.LVAsString(tb.RawGetString(f))
		}
		if got["id"] != ev.ID || got["kind"] != ev.Kind || got["name"] != ev.Name {
			t.Errorf("event %s: ev.id, kind, name = %q %q %q, want %q %q %q", ev.ID,
				got["id"], got["kind"], got["name"], ev.ID, ev.Kind, ev.Name)
		}
	}
	name := strings.Repeat("n", 3) // not a constant, whose Lua value needs no allocation
	reuse(&keep.name, name)
	if allocs := testing.AllocsPerRun(100, func() { reuse(&keep.name, name) }); allocs != 0 {
		t.Errorf("reusing an equal string allocates %v times", allocs)
	}
}
