package scripting

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Bounding string.format's output costs no allocation for directives
// without a width (Atoi's error for "" did), and still counts widths.
func TestFormatBoundAllocations(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	L.Push(lua.LString(`{"bulb":%d,"level":%d,"name":%q}`))
	L.Push(lua.LNumber(3))
	L.Push(lua.LNumber(42))
	L.Push(lua.LString("lamp"))
	var got int
	if n := testing.AllocsPerRun(100, func() { got = formatBound(L) }); n != 0 {
		t.Errorf("%v allocations; want 0", n)
	}
	if want := 32 + 4 + 3*330; got != want {
		t.Errorf("bound %d; want %d", got, want)
	}
	L.SetTop(0)
	L.Push(lua.LString("%5.20f"))
	if got, want := formatBound(L), 6+20+330; got != want {
		t.Errorf("bound of %%5.20f %d; want %d", got, want)
	}
}
