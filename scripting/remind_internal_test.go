package scripting

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Reading alexa.remind's options and passing a nil error on cost no
// allocation (each reminder did both).
func TestRemindOptionsAllocations(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(`opts = { device = "Bench Echo", text = '{"bulb":3}', ["in"] = "1h" }`); err != nil {
		t.Fatal(err)
	}
	L.Push(L.GetGlobal("opts"))
	var r Reminder
	var device string
	if n := testing.AllocsPerRun(100, func() {
		r, device, _, _ = remindOptions(L, "alexa.remind")
		if raiseNotFound(L, nil) != nil {
			t.Fatal("raiseNotFound(nil) != nil")
		}
	}); n != 0 {
		t.Errorf("%v allocations; want 0", n)
	}
	if device != "Bench Echo" || r.Text != `{"bulb":3}` {
		t.Errorf("device %q, text %q", device, r.Text)
	}
}
